"""Benchmark of the stream pipeline on one core: throughput and event-to-stored-row latency.

    .venv/bin/python bench/pipeline.py
    .venv/bin/python bench/pipeline.py --events 300000 --latency-seconds 30 --rate 30

1. parse → features: recorded-shape recentchange events as JSON lines (from the generator),
   ``orjson.loads`` + ``WindowAggregator.add`` per line (the stdlib ``json`` for comparison).
2. store: the store's write of ready detections (insert_new in a transaction, then the
   announcement), with the rollups kept in step and with them switched off (``rollups.add`` a
   no-op, as the store was before them), interleaved: the rollups' share of the store's cost.
3. parse → features → detector → batched store: the same lines through ``Pipeline`` with a
   real ``DetectionStore`` writing to a SQLite file in a temporary directory (the writer thread
   shares the one core), timed until the last row is committed.
4. latency: events arrive in real time (``--rate`` per second, event time = arrival time) with
   ``--bucket`` second buckets and no lateness; for every event, the time from its arrival to
   the commit of the row of its window (taken from ``detections_stored``). An event waits for
   its bucket to end, so the bound is one bucket + overhead: the target is p99 ≤ bucket + 50 ms.

The process is pinned to one CPU. Prints figures and the machine; asserts nothing.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(directory):
    os.environ["DATABASE_URL"] = f"sqlite:///{directory}/bench.sqlite3"
    os.environ.pop("MONGODB_URI", None)
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def machine():
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return f"{model or platform.processor()}, nproc {os.cpu_count()}, Python {platform.python_version()}"


def recorded_lines(count):
    import itertools

    from streams.sources.generator import RecentChangeGenerator

    generator = RecentChangeGenerator(start=1_704_067_200.0, seed=0)
    return [json.dumps(event).encode() for _, event in itertools.islice(generator, count)]


def bench_parse_features(lines):
    import orjson

    from streams.features import WindowAggregator

    results = {}
    for name, loads in (("orjson", orjson.loads), ("json", json.loads)):
        aggregator = WindowAggregator("recentchange")
        started, cpu_started = time.perf_counter(), time.process_time()
        for line in lines:
            aggregator.add(loads(line))
        results[name] = (len(lines) / (time.perf_counter() - started),
                         len(lines) / (time.process_time() - cpu_started))
    return results


class LinesSource:
    """The pre-serialised lines as a pipeline source (parsing happens inside the timing)."""

    kind, source_type, live = "recentchange", "bench", False

    def __init__(self, lines):
        import orjson

        self.lines, self.loads = lines, orjson.loads
        self.last_event_id = ""
        self.stats = {}

    def __iter__(self):
        for number, line in enumerate(self.lines, start=1):
            self.last_event_id = str(number)
            yield self.loads(line)

    def stop(self):
        pass

    def describe(self):
        return {}


def bench_full_pipeline(lines, directory):
    from streams.journal import Journal
    from streams.pipeline import Pipeline
    from streams.store import DetectionStore

    journal = Journal(Path(directory) / "journal", "bench-throughput")
    store = DetectionStore("bench-throughput", journal).start()
    pipeline = Pipeline.resume(lambda resume: LinesSource(lines), source_key="bench-throughput",
                               kind="recentchange", store=store)
    started, cpu_started = time.perf_counter(), time.process_time()
    pipeline.run()
    store.close()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    journal.close()
    return {"events_per_second": len(lines) / elapsed, "events_per_cpu_second": len(lines) / cpu,
            "windows": pipeline.counters.windows, "seconds": elapsed, "cpu_seconds": cpu,
            "stored": store.stats.stored}


def store_rows(count, offset):
    """Detections as the pipeline hands them to the store: 5 sources x 10 series, 10 s apart."""
    from datetime import datetime, timedelta, timezone

    from tda.severity import severity_for_score

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = []
    for index in range(offset, offset + count):
        score = (index * 7919 % 1000) / 1000
        rows.append({
            "timestamp": (start + timedelta(seconds=10 * (index // 50))).isoformat(),
            "dedup_key": f"bench-store:{index}", "source_type": f"source-{index % 5}",
            "series": f"series-{index // 5 % 10}", "event_data": {"edits": index % 500, "bots": index % 50},
            "betti_h0": index % 40, "betti_h1": index % 6, "betti_h2": index % 2, "anomaly_score": score,
            "is_anomaly": score >= 0.95, "severity": severity_for_score(score),
            "metadata": {"detector": "bench", "window": 60},
        })
    return rows


def bench_store(directory, rows_per_round, rounds, batch):
    """The store's write (``DetectionStore._write``: insert_new in a transaction, then announce),
    with the rollups kept in step and with ``rollups.add`` made a no-op (the store before #16),
    interleaved ``rounds`` times. Returns rows per CPU-second of each, and of each round."""
    from anomalies import rollups
    from streams.journal import Journal
    from streams.store import DetectionStore

    journal = Journal(Path(directory) / "journal", "bench-store")
    store = DetectionStore("bench-store", journal)
    keep_rollups = rollups.add
    cpu = {"with rollups": 0.0, "without rollups": 0.0}
    per_round = {variant: [] for variant in cpu}
    offset = 0
    try:
        for _ in range(rounds):
            for variant in cpu:
                rollups.add = keep_rollups if variant == "with rollups" else (lambda objects, using="default": None)
                rows = store_rows(rows_per_round, offset)
                offset += rows_per_round
                began = time.process_time()
                for start in range(0, len(rows), batch):
                    store._write(rows[start:start + batch])
                cpu[variant] += time.process_time() - began
                per_round[variant].append(rows_per_round / (time.process_time() - began))
    finally:
        rollups.add = keep_rollups
        journal.close()
    return {variant: rounds * rows_per_round / seconds for variant, seconds in cpu.items()}, per_round


class PacedSource:
    """Generator events arriving in real time at ``rate``/s, stamped with their arrival time."""

    kind, source_type, live = "recentchange", "bench", True

    def __init__(self, seconds, rate, arrivals):
        self.seconds, self.rate, self.arrivals = seconds, rate, arrivals
        self.last_event_id = ""
        self.stats = {}
        self._stopped = threading.Event()

    def __iter__(self):
        import itertools

        from streams.sources.event_time import iso
        from streams.sources.generator import RecentChangeGenerator

        events = (e for _, e in RecentChangeGenerator(start=time.time(), seed=1, canaries_per_hour=0))
        begin = time.time()
        for number in itertools.count(1):
            due = begin + number / self.rate
            if due > begin + self.seconds or self._stopped.is_set():
                return
            time.sleep(max(0.0, due - time.time()))
            event = next(events)
            now = time.time()
            event["meta"]["dt"] = iso(now)
            self.arrivals.append((now, time.monotonic()))
            self.last_event_id = str(number)
            yield event

    def stop(self):
        self._stopped.set()

    def describe(self):
        return {}


def bench_latency(directory, seconds, rate, bucket):
    from streams.journal import Journal
    from anomalies.models import AnomalyLog
    from streams.pipeline import Pipeline
    from anomalies.signals import detections_stored
    from streams.store import DetectionStore

    committed = {}  # window start (epoch) -> monotonic commit time

    def on_stored(sender, detections, **kwargs):
        now = time.monotonic()
        for row in detections:
            committed[round(row.timestamp.timestamp() - bucket, 6)] = now

    detections_stored.connect(on_stored, sender=AnomalyLog, weak=False)
    arrivals = []
    journal = Journal(Path(directory) / "journal", "bench-latency")
    store = DetectionStore("bench-latency", journal, flush_interval=0.01).start()
    pipeline = Pipeline.resume(lambda resume: PacedSource(seconds, rate, arrivals), source_key="bench-latency",
                               kind="recentchange", store=store, bucket_seconds=bucket, allowed_lateness=0.0)
    pipeline.run()
    store.close(final_checkpoint=pipeline.final_checkpoint())
    journal.close()
    detections_stored.disconnect(on_stored, sender=AnomalyLog)
    latencies = []
    for wall, arrived in arrivals:
        window = round((wall // bucket) * bucket, 6)
        if window in committed:  # the last, still open window is never stored
            latencies.append(committed[window] - arrived)
    latencies.sort()
    return {
        "events": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
        "target_ms": 1000 * bucket + 50,
    }


def report_store(directory, args):
    store, per_round = bench_store(directory, args.store_rows, args.store_rounds, args.store_batch)
    with_rollups, without = store["with rollups"], store["without rollups"]
    for variant, rates in per_round.items():
        print(f"  store rounds {variant}: {', '.join(f'{rate:,.0f}' for rate in rates)} rows per CPU-second")
    print(f"store (SQLite, batches of {args.store_batch}, 5 sources x 10 series, {args.store_rounds} interleaved "
          f"rounds of {args.store_rows:,} rows): {with_rollups:,.0f} rows per CPU-second with the rollups, "
          f"{without:,.0f} without: the rollups cost {100 * (1 - with_rollups / without):.1f} % "
          f"of the store's throughput (load average after: {os.getloadavg()[0]:.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="Events for the throughput runs.")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=30.0, help="Events/s of the latency run (the real feed: 25-35).")
    parser.add_argument("--bucket", type=float, default=1.0, help="Bucket seconds of the latency run.")
    parser.add_argument("--store-rows", type=int, default=20_000, help="Rows per round of the store run.")
    parser.add_argument("--store-batch", type=int, default=500, help="Rows per store write (the store's default).")
    parser.add_argument("--store-rounds", type=int, default=3, help="Interleaved rounds of the store run.")
    parser.add_argument("--store-only", action="store_true", help="Run only the store stage (the rollups' cost).")
    args = parser.parse_args()

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    with tempfile.TemporaryDirectory() as directory:
        setup_django(directory)
        print(f"machine: {machine()}; pinned to CPU {cpu}")
        if args.store_only:
            print(f"load average before: {os.getloadavg()[0]:.2f}")
            report_store(directory, args)
            return
        lines = recorded_lines(args.events)
        size = sum(map(len, lines)) / len(lines)
        print(f"input: {len(lines)} generated recentchange events, {size:.0f} bytes per JSON line")

        parsed = bench_parse_features(lines)
        print(f"load average before: {os.getloadavg()[0]:.2f} (events per CPU-second is what one "
              "dedicated core does; events/s is wall clock on this machine as it is)")
        print(f"parse → features: {parsed['orjson'][1]:,.0f} events per CPU-second, "
              f"{parsed['orjson'][0]:,.0f} events/s (orjson); stdlib json: {parsed['json'][1]:,.0f} per CPU-second")

        full = bench_full_pipeline(lines, directory)
        print(f"parse → features → detector → store: {full['events_per_cpu_second']:,.0f} events per "
              f"CPU-second, {full['events_per_second']:,.0f} events/s ({full['windows']} windows of 10 s, "
              f"{full['stored']} rows committed, {1000 * full['cpu_seconds'] / max(1, full['windows']):.1f} "
              "CPU-ms per window all in)")

        report_store(directory, args)

        latency = bench_latency(directory, args.latency_seconds, args.rate, args.bucket)
        print(f"arrival → stored row ({args.rate:g} events/s, {args.bucket:g} s buckets, no lateness, "
              f"{latency['events']} events): p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms, "
              f"max {latency['max_ms']:.0f} ms (target p99 ≤ {latency['target_ms']:.0f} ms)")


if __name__ == "__main__":
    main()
