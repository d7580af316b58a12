"""Benchmark of ``detect --workers N``: the same split stream through 1, 2 and 4 worker processes.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/workers.py
    REDIS_URL=... DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers \\
        .venv/bin/python bench/workers.py --series 2000 --minutes 10 --workers 1 2 4

A recorded file of ``--series`` series with one event a minute each (60 s buckets: one row per
series per minute, as ``bench/series.py``) is routed by ``detect --workers N`` into 16 Redis
Streams and detected by N local worker processes, into the real database. Every series starts
from the stored checkpoint of one detector warmed past its warm-up (so every row is scored in
steady state, and each series' first event costs a restore from the database, as after a
takeover). Timed: wall clock from the router's start to the last worker's exit, and the CPU of
the router and all workers (``RUSAGE_CHILDREN``), process start-up included. The database
(SQLite file by default, or ``DATABASE_URL``) and the Redis keys of the stream are reset before
each run. Prints figures and the machine; asserts nothing.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from series import BUCKET, START, event, machine, warmed_state  # bench/series.py

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database_url):
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("MONGODB_URI", None)
    os.environ.setdefault("SECRET_KEY", "bench-only-key-long-enough-for-the-hs256-check")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def write_events(path, count, minutes, first_minute):
    import random

    rng = random.Random(count)
    with open(path, "w") as handle:
        for minute in range(first_minute, first_minute + minutes):
            for index in range(count):
                one = event(f"host-{index:05d}", minute, rng)
                one["timestamp"] = round(one["timestamp"], 3)
                handle.write(json.dumps(one) + "\n")


def reset(source_key, count, state):
    """No rows, no shard checkpoints, every series at the warmed state, no Redis keys."""
    import redis

    from anomalies.models import AnomalyLog, DetectorCheckpoint, Series
    from streams.store import save_series_states

    AnomalyLog.objects.filter(dedup_key__startswith=source_key + "#").delete()
    Series.objects.all().delete()
    DetectorCheckpoint.objects.filter(source_key__startswith=source_key).delete()
    save_series_states({f"{source_key}#host-{index:05d}": state for index in range(count)})
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    names = list(client.scan_iter(match=f"topoforge:{source_key}:*"))
    if names:
        client.delete(*names)


def run(workers, path, source_key, shards, checkpoint_seconds):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "detect", "--source", "replay", "--file", str(path), "--speed", "fast",
         "--source-key", source_key, "--split-by", "key", "--bucket", str(BUCKET), "--lateness", "0",
         "--workers", str(workers), "--shards", str(shards), "--checkpoint-seconds", str(checkpoint_seconds),
         "--status-interval", "0"],
        cwd=ROOT, env={**os.environ, "TOPOFORGE_STORE_QUEUE_SIZE": "20000"}, capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--checkpoint-seconds", type=float, default=5.0)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL (the workers share the stream through Redis Streams)")
    directory = tempfile.mkdtemp(prefix="bench-workers-")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{directory}/bench.sqlite3"
    setup_django(database_url)
    from anomalies.models import AnomalyLog

    state, warm_minutes = warmed_state()
    path = Path(directory) / "events.jsonl"
    write_events(path, args.series, args.minutes, warm_minutes)
    load = os.getloadavg()[0]
    print(f"machine: {machine()}; database {database_url.split('://')[0]}; load average {load:.1f}")
    print(f"{args.series} series x {args.minutes} minutes, one event a minute each, {args.shards} shards")
    print("workers | rows stored | wall s | rows/s wall | CPU s (router + workers) | rows per CPU-second")
    key = "bench-workers"
    for workers in args.workers:
        reset(key, args.series, state)
        wall, cpu = run(workers, path, key, args.shards, args.checkpoint_seconds)
        rows = AnomalyLog.objects.filter(dedup_key__startswith=key + "#").count()
        print(f"{workers} | {rows} | {wall:.1f} | {rows / wall:.0f} | {cpu:.1f} | {rows / cpu:.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
