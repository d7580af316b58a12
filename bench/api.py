"""Benchmark of the anomalies API on a large table: list, filtered list, deep cursor, stats, export.

    .venv/bin/python bench/api.py                      # SQLite: var/bench.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/api.py
                                                       # PostgreSQL: a database named "bench"
    .venv/bin/python bench/api.py --rows 100000 --repeat 50

It seeds N detections (default 1,000,000) by the fastest bulk path (PostgreSQL ``COPY FROM
STDIN``, SQLite one ``executemany``; the rollups rebuilt after) into a separate database (never
the configured one: SQLite var/<name>.sqlite3, PostgreSQL database <name>, ``--name`` default
``bench``, created if missing), keeps them for the next run when N matches, then requests each endpoint
in-process through Django's full stack (middleware, JWT authentication, filters, rendering) and
prints p50/p99 latency, export throughput in rows/s and peak RSS growth while exporting.
It prints figures; it asserts nothing.
"""
import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = ("wikipedia", "github", "ndjson", "replay", "sensors")
END = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=30)


def configure_database(name):
    """Point Django at the benchmark database before it is set up; return a description."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_NAME"] = name
        return f"postgresql (database {name})"
    os.environ.pop("MONGODB_URI", None)
    path = ROOT / "var" / f"{name}.sqlite3"
    path.parent.mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    return f"sqlite ({path})"


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


COLUMNS = (
    "timestamp", "source_type", "series", "anomaly_score", "is_anomaly", "severity", "betti_h0", "betti_h1",
    "betti_h2", "event_data", "metadata", "dedup_key", "created_at", "feedback_label", "explanation", "suppressed",
    "warming_up",
)


def generated_rows(rows):
    """The detections to seed, as tuples of ``COLUMNS`` in Python types (JSON already as text).

    Text as Django writes it: ``json.dumps``'s default separators, UTC datetimes.
    """
    from tda.severity import severity_for_score

    generator = random.Random(42)
    step = SPAN / rows
    start = END - SPAN
    created = END
    for index in range(rows):
        score = generator.betavariate(2, 5) if generator.random() > 0.03 else generator.uniform(0.95, 1)
        yield (
            start + index * step, SOURCES[index % len(SOURCES)], "", score, score >= 0.95,
            severity_for_score(score), generator.randint(1, 40), generator.randint(0, 6), generator.randint(0, 1),
            f'{{"edits": {generator.randint(0, 500)}, "bots": {generator.randint(0, 50)}}}',
            '{"detector": "bench", "window": 60}', f"bench:{index}", created, "", "{}", False, False,
        )


def _copy_text(row):
    """One line of PostgreSQL's COPY text format (none of the generated text needs escaping)."""
    (moment, source, series, score, flag, severity, h0, h1, h2, event_data, metadata, key, created, label,
     explanation, suppressed, warming_up) = row
    return (
        f"{moment.isoformat()}\t{source}\t{series}\t{score!r}\t{'t' if flag else 'f'}\t{severity}\t{h0}\t{h1}\t"
        f"{h2}\t{event_data}\t{metadata}\t{key}\t{created.isoformat()}\t{label}\t{explanation}\t"
        f"{'t' if suppressed else 'f'}\t{'t' if warming_up else 'f'}\n"
    )


def _seed_postgresql(connection, rows, batch_size):
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY anomalies_anomalylog ({columns}) FROM STDIN") as copy:
        batch = []
        for row in generated_rows(rows):
            batch.append(_copy_text(row))
            if len(batch) == batch_size:
                copy.write("".join(batch))
                batch = []
        if batch:
            copy.write("".join(batch))


def _seed_sqlite(connection, rows, batch_size):
    def stored(row):
        moment, *middle, created, label, explanation, suppressed, warming_up = row
        return (str(moment.replace(tzinfo=None)), *middle, str(created.replace(tzinfo=None)), label, explanation,
                suppressed, warming_up)

    placeholders = ", ".join("?" * len(COLUMNS))
    sql = f"INSERT INTO anomalies_anomalylog ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    connection.connection.executemany(sql, map(stored, generated_rows(rows)))  # in seed()'s transaction


def seed(rows, batch_size):
    """Seed by the fastest bulk path (COPY on PostgreSQL, one executemany on SQLite), then the rollups.

    The raw insert bypasses the ORM and so the rollups: ``rebuild_rollups`` makes them afterwards,
    as after any write that bypassed the ORM.
    """
    from django.core.management import call_command
    from django.db import connection, transaction

    from anomalies.models import AnomalyLog, DetectionRollup

    if AnomalyLog.objects.count() == rows and DetectionRollup.objects.exists():
        print(f"seed: {rows:,} detections already present, reused")
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM anomalies_detectionrollup")
        cursor.execute("DELETE FROM anomalies_anomalylog")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = OFF")  # a benchmark database: no fsync per commit
    began = time.perf_counter()
    with transaction.atomic():
        (_seed_postgresql if connection.vendor == "postgresql" else _seed_sqlite)(connection, rows, batch_size)
    took = time.perf_counter() - began
    print(f"seed: {rows:,} detections in {took:.1f} s ({rows / took:,.0f} rows/s, "
          f"{'COPY' if connection.vendor == 'postgresql' else 'executemany'})")
    began = time.perf_counter()
    call_command("rebuild_rollups", stdout=open(os.devnull, "w"))
    print(f"rollups rebuilt in {time.perf_counter() - began:.1f} s "
          f"({DetectionRollup.objects.count():,} groups)")


def analyze():
    """Fresh planner statistics, as a maintained database has (a new index has none on SQLite)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor != "postgresql" else "VACUUM ANALYZE anomalies_anomalylog")


def client_for_bench():
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.tokens import issue_token_pair

    user = User.objects.filter(username="bench").first()
    if user is None:
        user = User.objects.create_user("bench", "bench@example.com", "bench-password-not-used", role="viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(user).access}")
    return client


def timed(client, url, params, repeat):
    """p50 and p99 wall-clock ms of ``repeat`` requests (after one warm-up), and mean CPU ms.

    CPU time is this process's (Django, and SQLite's engine, which runs in-process; not the
    PostgreSQL server's): on a shared machine it shows what a request costs apart from waiting.
    """
    response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.content[:300])
    samples = []
    cpu_began = time.process_time()
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    cpu_ms = (time.process_time() - cpu_began) * 1000 / repeat
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99, cpu_ms


def deep_cursor(rows):
    """The cursor of the row at 90% depth of the default order (newest first)."""
    from anomalies.api.pagination import Cursor
    from anomalies.models import AnomalyLog

    depth = int(rows * 0.9)
    timestamp, pk = AnomalyLog.objects.order_by("-timestamp", "-pk").values_list("timestamp", "pk")[depth]
    return depth, Cursor("-timestamp", timestamp, pk).encode()


def export(client, export_format):
    """Rows per second (wall clock and per CPU-second) and peak RSS growth (MiB) of a full export."""
    before = rss_kib()
    peak = before
    began, cpu_began = time.perf_counter(), time.process_time()
    response = client.get("/api/anomalies/export", {"format": export_format})
    assert response.status_code == 200
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        peak = max(peak, rss_kib())
    took, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    rows = lines - 1 if export_format == "csv" else lines
    return rows, rows / took, rows / cpu, (peak - before) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="detections to seed (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=10000, help="rows per COPY write (PostgreSQL)")
    parser.add_argument("--repeat", type=int, default=200, help="requests per list measurement")
    parser.add_argument("--stats-repeat", type=int, default=20, help="requests per stats measurement")
    parser.add_argument("--name", default="bench", help="the benchmark database (PostgreSQL) or var/NAME.sqlite3")
    parser.add_argument("--seed-only", action="store_true", help="seed (or check) the data and stop")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this (e.g. stats)")
    arguments = parser.parse_args()

    database = configure_database(arguments.name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-of-enough-length")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    print(f"machine: {os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}; database: {database}")
    seed(arguments.rows, arguments.batch)
    analyze()
    if arguments.seed_only:
        return
    from anomalies.models import AnomalyLog

    client = client_for_bench()
    week_ago = (END - timedelta(days=7)).isoformat()
    day_ago = (END - timedelta(days=1)).isoformat()
    depth, cursor = deep_cursor(arguments.rows)

    some_id = AnomalyLog.objects.order_by("pk").values_list("pk", flat=True).first()
    cases = [
        ("one detection (detail: the floor of any request)", f"/api/anomalies/{some_id}", {}, arguments.repeat),
        ("first list page (page mode, with count)", "/api/anomalies", {}, arguments.repeat),
        ("first list page (cursor mode)", "/api/anomalies", {"cursor": ""}, arguments.repeat),
        (
            "filtered page (source, is_anomaly, min_score, last 7 days; with count)",
            "/api/anomalies",
            {"source": "wikipedia", "is_anomaly": "true", "min_score": "0.97", "start_date": week_ago},
            arguments.repeat,
        ),
        (
            "filtered page (same filters, cursor mode)",
            "/api/anomalies",
            {"source": "wikipedia", "is_anomaly": "true", "min_score": "0.97", "start_date": week_ago, "cursor": ""},
            arguments.repeat,
        ),
        (f"deep cursor page (row {depth:,})", "/api/anomalies", {"cursor": cursor}, arguments.repeat),
        (
            f"deep offset page (row {depth:,}, for comparison)",
            "/api/anomalies",
            {"page": depth // 50 + 1},
            max(3, arguments.repeat // 40),
        ),
        ("stats by hour, last 24 h", "/api/anomalies/stats", {"bucket": "hour", "start_date": day_ago}, arguments.stats_repeat),
        ("stats by hour, last 7 days", "/api/anomalies/stats", {"bucket": "hour", "start_date": week_ago}, arguments.stats_repeat),
        ("stats by hour, all rows", "/api/anomalies/stats", {"bucket": "hour"}, max(3, arguments.stats_repeat // 5)),
    ]
    print(f"load average before measuring: {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    print(f"{'case':<75} {'p50 ms':>9} {'p99 ms':>9} {'CPU ms':>8} {'n':>5}")
    for name, url, params, repeat in cases:
        if arguments.only not in name:
            continue
        p50, p99, cpu_ms = timed(client, url, params, repeat)
        print(f"{name:<75} {p50:>9.1f} {p99:>9.1f} {cpu_ms:>8.1f} {repeat:>5}")
    for export_format in ("csv", "ndjson"):
        if arguments.only not in f"export {export_format}":
            continue
        rows, rate, cpu_rate, growth = export(client, export_format)
        print(
            f"export {export_format}: {rows:,} rows at {rate:,.0f} rows/s wall clock, "
            f"{cpu_rate:,.0f} rows per CPU-second, peak RSS growth {growth:.1f} MiB"
        )


if __name__ == "__main__":
    main()
