"""Fan-out benchmark: N concurrent WebSocket clients on ONE daphne process, detections at a fixed rate.

    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/fanout.py --clients 100 1000 2000 [--coalesce]

For each N: a fresh daphne process serves /ws/anomalies (SQLite in a temporary directory, the Redis
channel layer); client worker processes open N WebSockets (bearer-token subprotocol) and subscribe
(with ``--coalesce`` or ``--batch-ms``, asking for that); this process publishes ``--rate``
detections per second for ``--seconds`` through the channel layer, exactly as the pipeline's
``detections_stored`` receiver does. Each detection carries its publish time; clients record the
delivery latency (same machine, same clock). Dropped = messages a connected client should have
received and did not (a client closed as too slow loses the rest).

Prints figures, the machine and its 1-minute load average after each run (other work on the
machine slows every figure), detections per WebSocket message (``per frame``), and the CPU time
per delivered detection of the daphne process (``cpu µs/msg``, from /proc: barely moved by other
load, so 1e6 / it estimates the detections per second one dedicated core delivers) and of the
client processes (``client µs``); asserts nothing. Clients share the CPU with the server: on a
small machine the figures are a lower bound on what the server alone can do.
"""
import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDSHAKES_IN_FLIGHT = 10  # per client process
BATCH_MS = int(os.environ.get("FANOUT_BATCH_MS", "0"))  # set by --batch-ms; read by the client processes
COALESCE = os.environ.get("FANOUT_COALESCE") == "1"  # set by --coalesce; read by the client processes
PROFILE = ["-m", "cProfile", "-o", os.environ["FANOUT_PROFILE"]] if os.environ.get("FANOUT_PROFILE") else []
sys.path.insert(0, str(REPO))


def machine():
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    return f"{os.cpu_count()} CPU(s), {model}, Python {platform.python_version()}, {platform.system()}"


# --- client workers (separate processes) ---------------------------------------------------------

class RawWebSocket:
    """A bare RFC 6455 client: the handshake, masked text frames out, unmasked frames in.

    The ``websockets`` library spends more CPU per message than the server does; on a small
    machine thousands of its clients measure themselves. This client reads a frame with two
    ``readexactly`` calls and parses nothing, so the figures are the server's.
    """

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host, port, path, origin, subprotocols, timeout=60):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             f"Origin: {origin}\r\nSec-WebSocket-Protocol: {', '.join(subprotocols)}\r\n\r\n").encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return cls(reader, writer)

    async def recv(self):
        """The bytes of the next text message; answers pings; raises ``Closed(code)`` on a close frame."""
        while True:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(length)
            opcode = first & 0x0F
            if opcode == 0x1:
                return payload
            if opcode == 0x8:
                raise Closed(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None)
            if opcode == 0x9:  # daphne's protocol ping: answer, or it closes the connection
                await self.send(payload, opcode=0xA)

    async def send(self, data, opcode=0x1):
        payload = data.encode() if isinstance(data, str) else data
        mask = os.urandom(4)
        header = bytes([0x80 | opcode, 0x80 | len(payload)]) if len(payload) < 126 else (
            bytes([0x80 | opcode, 0x80 | 126]) + len(payload).to_bytes(2, "big"))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def close(self):
        self.writer.close()


class Closed(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


SENT_AT = re.compile(rb'"sent_at":([0-9.eE+-]+)')


def _sent_times(payload):
    """Publish times inside a message, found by a regular expression instead of parsing the JSON:
    the clients share the machine with the server, so they must stay cheap."""
    return [float(match) for match in SENT_AT.findall(payload)]


async def _connect(port, origin, token, attempts=5):
    for attempt in range(attempts):
        try:
            ws = await RawWebSocket.connect(
                "127.0.0.1", port, "/ws/anomalies", origin, ["topoforge.v1", f"bearer.{token}"]
            )
            await ws.recv()  # welcome: authenticated
            if BATCH_MS or COALESCE:
                await ws.send(json.dumps({"subscribe": {}, "batch_ms": BATCH_MS, "coalesce": COALESCE}))
                await ws.recv()  # subscribed
            return ws
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))


async def _client(port, origin, token, ready, sockets, results, handshakes):
    latencies, received, frames, close_code = [], 0, 0, None
    try:
        async with handshakes:  # a bounded number of handshakes in flight: the ramp adapts to the server
            ws = await _connect(port, origin, token)
    except Exception as error:
        ready()
        results.append((0, 0, [], f"connect failed: {type(error).__name__}: {error}"))
        return
    sockets.append(ws)
    ready()
    try:
        while True:
            payload = await ws.recv()
            now = time.time()
            if payload.startswith(b'{"type":"anomal'):  # anomaly, or a batch of anomalies
                sent = _sent_times(payload)
                frames += 1
                received += len(sent)
                latencies.extend(now - t for t in sent)
    except Closed as closed:  # e.g. 4408: dropped as too slow
        close_code = closed.code
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass  # the worker closed the socket at the end of the run
    results.append((received, frames, latencies, close_code))


def worker(port, origin, token, count, ready_queue, go_event, stop_time, out_queue):
    async def main():
        results, sockets, ready_count = [], [], 0

        def ready():
            nonlocal ready_count
            ready_count += 1
            if ready_count == count:
                ready_queue.put(count)

        handshakes = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
        tasks = [
            asyncio.create_task(_client(port, origin, token, ready, sockets, results, handshakes))
            for _ in range(count)
        ]
        while not go_event.is_set():
            await asyncio.sleep(0.05)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_at_go = usage.ru_utime + usage.ru_stime
        await asyncio.sleep(max(0.0, stop_time.value - time.time()))
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await asyncio.gather(*tasks)
        received = [r[0] for r in results]
        frames = sum(r[1] for r in results)
        latencies = [lat for r in results for lat in r[2]]
        closes = [r[3] for r in results if r[3] is not None]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out_queue.put((received, frames, latencies, closes, usage.ru_utime + usage.ru_stime - cpu_at_go))

    asyncio.run(main())


# --- server and publisher ------------------------------------------------------------------------

def prepare_environment(workdir):
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        SECRET_KEY="bench-only-secret-key-0123456789abcdef",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1",
        CACHE_KEY_PREFIX=f"bench{os.getpid()}",
        DJANGO_SETTINGS_MODULE="topoforge.settings",
    )
    os.environ.pop("MONGODB_URI", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_token():
    from accounts.models import User
    from accounts.tokens import issue_token_pair

    user, _ = User.objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    return issue_token_pair(user).access


def detection(sequence):
    return {
        "id": str(sequence),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_type": "bench",
        "anomaly_score": 0.5,
        "is_anomaly": sequence % 10 == 0,
        "severity": "low",
        "betti_h0": 3, "betti_h1": 1, "betti_h2": 0,
        "event_data": {"window": {"start": "", "end": ""}, "features": [0.1, 0.2, 0.3]},
        "metadata": {"diagram": {"h0": [[0, 0.4], [0, 0.7]], "h1": [[0.2, 0.5]], "h2": []}},
        "dedup_key": f"bench:{sequence}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def publish_at_rate(rate, seconds):
    from realtime.broadcast import publish

    count = int(rate * seconds)
    start = time.time()
    for sequence in range(count):
        delay = start + sequence / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        item = detection(sequence)
        item["metadata"]["sent_at"] = time.time()
        await publish([item])
    return count


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux): unlike wall time, other load barely moves it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(clients, rate, seconds, workers, token, port, server_pid):
    origin = f"http://127.0.0.1:{port}"
    ctx = multiprocessing.get_context("spawn")
    ready_queue, out_queue, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    stop_time = ctx.Value("d", 0.0)
    shares = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
    processes = [
        ctx.Process(target=worker, args=(port, origin, token, n, ready_queue, go, stop_time, out_queue))
        for n in shares if n
    ]
    started = time.time()
    for process in processes:
        process.start()
    for _ in processes:
        ready_queue.get(timeout=600)
    connect_seconds = time.time() - started
    stop_time.value = time.time() + seconds + 5  # grace: late messages still count
    cpu_before = cpu_seconds(server_pid)
    go.set()
    published = asyncio.run(publish_at_rate(rate, seconds))
    received, frames, latencies, closes, client_cpu = [], 0, [], [], 0.0
    for _ in processes:
        r, f, lat, c, cpu = out_queue.get(timeout=600)
        received += r
        frames += f
        latencies += lat
        closes += c
        client_cpu += cpu
    server_cpu = cpu_seconds(server_pid) - cpu_before
    for process in processes:
        process.join()
    failed = [c for c in closes if str(c).startswith("connect failed")]
    if failed:
        print(f"  {len(failed)} client(s) could not connect, e.g. {failed[0]}", file=sys.stderr)
    closes = [c for c in closes if c not in failed]
    expected = published * (clients - len(failed))
    return {
        "clients": clients,
        "failed": len(failed),
        "published": published,
        "connect_s": connect_seconds,
        "delivered": sum(received),
        "dropped": expected - sum(received),
        "dropped_pct": 100 * (expected - sum(received)) / expected if expected else 0.0,
        "clients_closed": len(closes),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies) if latencies else float("nan"),
        "server_cpu_us": 1e6 * server_cpu / sum(received) if sum(received) else float("nan"),
        "client_cpu_us": 1e6 * client_cpu / sum(received) if sum(received) else float("nan"),
        "per_frame": sum(received) / frames if frames else float("nan"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--rate", type=float, default=50, help="detections per second")
    parser.add_argument("--seconds", type=float, default=20, help="publishing time per run")
    parser.add_argument("--batch-ms", type=int, default=0,
                        help="clients subscribe with this batch_ms (0: one message per detection)")
    parser.add_argument("--coalesce", action="store_true",
                        help="clients subscribe with coalesce: several waiting detections in one message")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="client processes")
    args = parser.parse_args()
    os.environ["FANOUT_BATCH_MS"] = str(args.batch_ms)  # spawned client processes inherit these
    os.environ["FANOUT_COALESCE"] = "1" if args.coalesce else "0"
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL: the detector side reaches daphne through the Redis channel layer")

    print(f"machine: {machine()}")
    delivery = (f"batches of {args.batch_ms} ms" if args.batch_ms
                else "coalesced when several wait" if args.coalesce else "one message per detection")
    print(f"rate {args.rate:g} detections/s for {args.seconds:g} s per run; {delivery}; {args.workers} client "
          "process(es); one daphne process; Redis channel layer\n")
    header = f"{'clients':>7} {'failed':>6} {'published':>9} {'delivered':>10} {'dropped':>9} {'closed':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'connect s':>9} {'per frame':>9} {'cpu µs/msg':>10} {'client µs':>9} {'load':>5}"
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare_environment(workdir)
        from realtime.tests.live import DaphneServer

        token = make_token()
        for clients in args.clients:
            # The tests' live server; a deep listen queue, as thousands of clients connect at once.
            daphne = DaphneServer(dict(os.environ), workdir / "daphne.log", python_args=PROFILE, backlog=4096)
            try:
                r = run(clients, args.rate, args.seconds, args.workers, token, daphne.port, daphne.process.pid)
            finally:
                daphne.stop(timeout=30)
            if r["failed"]:
                log = (workdir / "daphne.log").read_text(errors="replace").splitlines()
                print("  daphne log tail:\n    " + "\n    ".join(log[-15:]), file=sys.stderr)
            print(f"{r['clients']:>7} {r['failed']:>6} {r['published']:>9} {r['delivered']:>10} "
                  f"{r['dropped']:>9} {r['clients_closed']:>6} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                  f"{r['max_ms']:>8.1f} {r['connect_s']:>9.1f} {r['per_frame']:>9.1f} {r['server_cpu_us']:>10.0f} "
                  f"{r['client_cpu_us']:>9.0f} {os.getloadavg()[0]:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
