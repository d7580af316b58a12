"""What the log of ``detect --workers`` costs per event, on each broker the issue names.

    .venv/bin/python bench/broker.py                      # Redis Streams (the one used)
    python -m venv /tmp/b && /tmp/b/bin/pip install redis pika nats-py
    /tmp/b/bin/python bench/broker.py --brokers redis rabbitmq nats --events 100000

Each broker carries the same ``--events`` JSON events (~130 bytes, as a routed metric event)
the way the workers need them: appended durably in batches of 500 (Redis: XADD in one MULTI;
RabbitMQ: persistent messages to a durable queue, one AMQP transaction per batch; NATS JetStream: a file
stream, async publishes awaited per batch), then read back by one consumer in batches of 200 and
acknowledged (XREADGROUP + XACK; a consumer with prefetch 200 and one multiple ack per 200; pull fetch + ack). Prints wall and
client CPU per event for each phase, and the machine. The brokers run on this host (`env`).
Asserts nothing; a broker whose client library or server is missing is reported and skipped.
"""
import argparse
import asyncio
import json
import os
import platform
import time
import uuid

BATCH, READ = 500, 200


def payloads(count):
    return [json.dumps({"timestamp": 1767268800.0 + i, "value": 100.0 + i % 7, "key": f"host-{i % 5000:05d}"})
            for i in range(count)]


def timed(function):
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_redis(events):
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), decode_responses=True)
    key = f"bench-broker-{uuid.uuid4().hex[:8]}"
    client.xgroup_create(key, "g", id="0", mkstream=True)

    def write():
        for start in range(0, len(events), BATCH):
            with client.pipeline(transaction=True) as pipe:
                for event in events[start:start + BATCH]:
                    pipe.xadd(key, {"e": event})
                pipe.set(key + ":pos", start)
                pipe.execute()

    def read():
        seen = 0
        while seen < len(events):
            (_, entries), = client.xreadgroup("g", "c", {key: ">"}, count=READ)
            client.xack(key, "g", *[entry_id for entry_id, _ in entries])
            seen += len(entries)

    try:
        return timed(write), timed(read)
    finally:
        client.delete(key, key + ":pos")


def bench_rabbitmq(events):
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    queue = f"bench-broker-{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, durable=True)
    properties = pika.BasicProperties(delivery_mode=2)

    def write():
        channel.tx_select()  # a batch is one AMQP transaction: all of it or none, as MULTI/EXEC
        for start in range(0, len(events), BATCH):
            for event in events[start:start + BATCH]:
                channel.basic_publish("", queue, event.encode(), properties=properties)
            channel.tx_commit()

    def read():
        reader = connection.channel()
        reader.basic_qos(prefetch_count=READ)
        seen = 0
        for method, _, _ in reader.consume(queue):
            seen += 1
            if seen % READ == 0 or seen == len(events):
                reader.basic_ack(method.delivery_tag, multiple=True)
            if seen == len(events):
                break
        reader.cancel()

    try:
        return timed(write), timed(read)
    finally:
        channel.queue_delete(queue)
        connection.close()


def bench_nats(events):
    import nats

    async def main():
        client = await nats.connect("nats://127.0.0.1:4222")
        stream = f"bench{uuid.uuid4().hex[:8]}"
        jet = client.jetstream()
        await jet.add_stream(name=stream, subjects=[f"{stream}.>"])
        data = [event.encode() for event in events]

        async def write():
            for start in range(0, len(data), BATCH):
                await asyncio.gather(*[jet.publish(f"{stream}.e", item) for item in data[start:start + BATCH]])

        async def read():
            subscription = await jet.pull_subscribe(f"{stream}.e", durable="c")
            seen = 0
            while seen < len(data):
                messages = await subscription.fetch(READ, timeout=10)
                await asyncio.gather(*[message.ack() for message in messages])
                seen += len(messages)

        results = []
        for phase in (write, read):
            cpu, wall = time.process_time(), time.perf_counter()
            await phase()
            results.append((time.perf_counter() - wall, time.process_time() - cpu))
        await jet.delete_stream(stream)
        await client.close()
        return results

    return tuple(asyncio.run(main()))


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model or platform.processor()}, nproc {os.cpu_count()}, Python {platform.python_version()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--brokers", nargs="+", default=["redis"], choices=["redis", "rabbitmq", "nats"])
    args = parser.parse_args()
    events = payloads(args.events)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {args.events} events")
    print("broker | append: events/s wall, client CPU µs/event | read+ack: events/s wall, client CPU µs/event")
    for name in args.brokers:
        try:
            (write_wall, write_cpu), (read_wall, read_cpu) = globals()[f"bench_{name}"](events)
        except Exception as exc:  # a missing client library or server: say so, go on
            print(f"{name} | skipped: {type(exc).__name__}: {exc}")
            continue
        n = len(events)
        print(f"{name} | {n / write_wall:,.0f}/s, {write_cpu / n * 1e6:.1f} µs | "
              f"{n / read_wall:,.0f}/s, {read_cpu / n * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
