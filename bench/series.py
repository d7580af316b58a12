"""Benchmark of many series in one process (``detect --split-by``): rows per CPU-second, memory
per live series, eviction and restore.

    .venv/bin/python bench/series.py
    .venv/bin/python bench/series.py --series 1000 10000 --minutes 3
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/series.py --workers 1 2 4   # and bench/workers.py

Every series gets one event a minute into 60 s buckets (one row per series per minute, the
Skyline case). Series are started from the state of one detector warmed on 150 minutes of its
own (past warm-up, so every row is scored as in steady state), then ``--minutes`` minutes of
events go through ``SeriesSet`` (routing, aggregation, the default engine) and the real
``DetectionStore`` (SQLite file, rollups and the series registry), timed in process CPU until the
last row is committed. Memory per live series is the growth of the resident set divided by the
series. Eviction is ``state()`` of a live series, restore is ``Series.from_state``; the store's
share is ``save_series_states`` of the evicted states.

The process is pinned to one CPU. Prints figures and the machine; asserts nothing.
"""
import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUCKET = 60.0
START = 1767268800.0  # 2026-01-01T12:00:00Z


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
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model or platform.processor()}, nproc {os.cpu_count()}, Python {platform.python_version()}"


def rss_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class BenchSource:
    source_type, last_event_id = "bench", ""

    def describe(self):
        return {}


def event(name, minute, rng):
    return {"timestamp": START + minute * BUCKET + rng.random() * 30, "value": 100 + rng.gauss(0, 5), "key": name}


def series_set(key):
    from streams.series import SeriesSet

    return SeriesSet(key, kind="generic", bucket_seconds=BUCKET, allowed_lateness=0.0, fresh=True,
                     load_state=lambda _: None)


def warmed_state(minutes=150):
    """The state of one series past its warm-up, to start every benched series from."""
    rng, series = random.Random(0), series_set("bench-warm")
    for minute in range(minutes):
        one, windows = series.add("seed", event("seed", minute, rng))
        if windows:
            series.evaluate(one, windows, BenchSource())
    return series.live["seed"].state(), minutes


def bench_series(count, minutes, state, warm_minutes, directory):
    from streams.journal import Journal
    from streams.series import Series
    from streams.store import DetectionStore

    key = f"bench-{count}"
    series, rng, source = series_set(key), random.Random(count), BenchSource()
    before = rss_bytes()
    for index in range(count):
        name = f"host-{index:05d}"
        series.live[name] = Series.from_state(name, state)
        series._known.add(name)
    store = DetectionStore(key, Journal(Path(directory) / key, key), queue_size=max(1000, 2 * count)).start()
    rows = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for minute in range(warm_minutes, warm_minutes + minutes):
        for index in range(count):
            name = f"host-{index:05d}"
            one, windows = series.add(name, event(name, minute, rng))
            if windows:
                batch = series.evaluate(one, windows, source)
                rows += len(batch)
                store.submit(batch)
    store.close(timeout=600)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    memory = (rss_bytes() - before) / count
    return {"rows": rows, "stored": store.stats.stored, "journaled": store.stats.journaled, "cpu": cpu,
            "wall": wall, "memory": memory, "series": series}


def bench_eviction(series, sample):
    from streams.series import Series
    from streams.store import save_series_states

    names = list(series.live)[:sample]
    cpu = time.process_time()
    states = {name: series.live[name].state() for name in names}
    evict = (time.process_time() - cpu) / len(names)
    cpu = time.process_time()
    for name, state in states.items():
        Series.from_state(name, state)
    restore = (time.process_time() - cpu) / len(names)
    started = time.perf_counter()
    save_series_states({f"evict#{name}": state for name, state in states.items()})
    save = (time.perf_counter() - started) / len(names)
    size = sum(len(repr(state)) for state in states.values()) / len(names)
    return evict, restore, save, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--minutes", type=int, default=2, help="Minutes of events timed (one row per series each).")
    parser.add_argument("--workers", nargs="*", default=[], metavar="N",
                        help="Then run bench/workers.py with these worker counts (e.g. 1 2 4; needs REDIS_URL).")
    args = parser.parse_args()

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    with tempfile.TemporaryDirectory() as directory:
        setup_django(directory)
        print(f"machine: {machine()}; pinned to CPU {cpu}; load average {os.getloadavg()[0]:.2f}")
        state, warm_minutes = warmed_state()
        last = None
        for count in args.series:
            result = bench_series(count, args.minutes, state, warm_minutes, directory)
            rate = result["rows"] / result["cpu"]
            print(f"{count:,} series × {args.minutes} min at one row each per minute: {result['rows']:,} rows "
                  f"({result['stored']:,} committed, {result['journaled']} journaled) in {result['cpu']:.1f} "
                  f"CPU-s: {rate:,.0f} rows per CPU-second ({rate / (count / 60):.1f}× real time for "
                  f"{count:,} series on one core; goal ≥ 170), {result['rows'] / result['wall']:,.0f} rows/s wall; "
                  f"{result['memory'] / 1024:,.0f} KiB resident per live series")
            last = result["series"]
        evict, restore, save, size = bench_eviction(last, min(1000, len(last.live)))
        print(f"eviction: {1e3 * evict:.2f} CPU-ms per series (state()), restore {1e3 * restore:.2f} CPU-ms "
              f"(from_state), store {1e3 * save:.2f} ms per series state written in bulk; "
              f"state {size / 1024:,.0f} KiB as text")
    if args.workers:  # separate processes: not pinned, they are the point
        os.sched_setaffinity(0, os.sched_getaffinity(0) | set(range(os.cpu_count())))
        subprocess.run([sys.executable, str(ROOT / "bench" / "workers.py"), "--workers", *args.workers], check=True)


if __name__ == "__main__":
    main()
