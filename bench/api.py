"""Benchmark of the anomalies API on a large table: list, filtered list, deep cursor, stats, export.

    .venv/bin/python bench/api.py                      # SQLite: var/bench.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/api.py
                                                       # PostgreSQL: a database named "bench"
    .venv/bin/python bench/api.py --rows 100000 --repeat 50

It seeds N detections (default 1,000,000) by the fastest bulk path (columns drawn by numpy in
chunks; PostgreSQL ``COPY FROM STDIN``, SQLite ``executemany`` with the secondary indexes
dropped and created again after; the rollups rebuilt after) into a separate database (never
the configured one: SQLite var/<name>.sqlite3, PostgreSQL database <name>, ``--name`` default
``bench``, created if missing), keeps them for the next run when N matches, then requests each endpoint
in-process through Django's full stack (middleware, JWT authentication, filters, rendering) and
prints p50/p99 latency, export throughput in rows/s and peak RSS growth while exporting.
It prints figures; it asserts nothing.
"""
import argparse
import os
import platform
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


def generated_chunks(rows, chunk_size):
    """The detections to seed, ``chunk_size`` at a time, as columns drawn by numpy.

    The distribution of the row-by-row generator this replaced: time evenly spread over ``SPAN``
    ending at ``END`` (the same microsecond step), the sources in turn, 3 % of the scores uniform
    in [0.95, 1] and the others Beta(2, 5), Betti numbers uniform in 1-40, 0-6 and 0-1, event
    data ``{"edits": 0-500, "bots": 0-50}``. Values differ (numpy's generator, seeded with 42), so
    a database seeded before is reseeded only if its count differs. Yields dicts of Python lists
    (``tolist()``: native ints, floats and bools) with ``moments`` the timestamps in microseconds
    since the epoch; the callers format the text each backend stores.
    """
    import numpy

    from tda.severity import severity_for_score

    generator = numpy.random.default_rng(42)
    step = (SPAN / rows) // timedelta(microseconds=1)  # SPAN / rows as the old timedelta arithmetic rounded it
    start = (END - SPAN - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    sources = numpy.array(SOURCES, dtype=object)
    for first in range(0, rows, chunk_size):
        count = min(chunk_size, rows - first)
        index = numpy.arange(first, first + count, dtype=numpy.int64)
        outlier = generator.random(count) <= 0.03
        score = numpy.where(outlier, generator.uniform(0.95, 1, count), generator.beta(2, 5, count)).tolist()
        yield {
            "index": index.tolist(),
            "moments": start + index * step,
            "source_type": sources[index % len(SOURCES)].tolist(),
            "anomaly_score": score,
            "is_anomaly": [value >= 0.95 for value in score],
            "severity": [severity_for_score(value) for value in score],
            "betti_h0": generator.integers(1, 41, count).tolist(),
            "betti_h1": generator.integers(0, 7, count).tolist(),
            "betti_h2": generator.integers(0, 2, count).tolist(),
            "edits": generator.integers(0, 501, count).tolist(),
            "bots": generator.integers(0, 51, count).tolist(),
        }


METADATA = '{"detector": "bench", "window": 60}'


def _moment_texts(moments, separator):
    """``YYYY-MM-DD<separator>HH:MM:SS[.ffffff]`` of microseconds since the epoch (UTC), the
    fraction left out when it is zero, as ``str(datetime)`` (Django's SQLite text) does."""
    import numpy

    texts = numpy.datetime_as_string(moments.astype("datetime64[us]"), unit="us").tolist()
    whole = set(numpy.flatnonzero(moments % 1_000_000 == 0).tolist())
    return [
        (text[:19] if position in whole else text).replace("T", separator, 1)
        for position, text in enumerate(texts)
    ]


def _seed_postgresql(connection, rows, batch_size):
    """COPY text format (none of the generated text needs escaping), one write per chunk, with the
    indexes that back no constraint dropped before and created again after (from their own
    ``indexdef``, so the schema ends as migrated), as on SQLite."""
    columns = ", ".join(COLUMNS)
    created = END.isoformat()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() "
            "AND tablename = 'anomalies_anomalylog' AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY anomalies_anomalylog ({columns}) FROM STDIN") as copy:
        for chunk in generated_chunks(rows, batch_size):
            copy.write("".join([
                f"{moment}+00:00\t{source}\t\t{score!r}\t{'t' if flag else 'f'}\t{severity}\t{h0}\t{h1}\t{h2}\t"
                f'{{"edits": {edits}, "bots": {bots}}}\t{METADATA}\tbench:{index}\t{created}\t\t{{}}\tf\tf\n'
                for moment, source, score, flag, severity, h0, h1, h2, edits, bots, index in zip(
                    _moment_texts(chunk["moments"], "T"), chunk["source_type"], chunk["anomaly_score"],
                    chunk["is_anomaly"], chunk["severity"], chunk["betti_h0"], chunk["betti_h1"],
                    chunk["betti_h2"], chunk["edits"], chunk["bots"], chunk["index"],
                )
            ]))
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign key checks, before the DDL
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, index_sql in indexes:
            cursor.execute(index_sql)
    print(f"seed: {len(indexes)} indexes dropped before the COPY and created after "
          f"({time.perf_counter() - began:.1f} s to create)")


def _seed_sqlite(connection, rows, batch_size):
    """One executemany per chunk, with the table's secondary indexes dropped before and created
    again after (from their own SQL in ``sqlite_master``, so the schema ends as migrated): building
    an index once from sorted keys is far cheaper than keeping seven B-trees in step row by row.
    The UNIQUE constraint's index (``dedup_key``) belongs to the table and stays."""
    import itertools

    raw = connection.connection
    indexes = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'anomalies_anomalylog' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        raw.execute(f'DROP INDEX "{name}"')
    placeholders = ", ".join("?" * len(COLUMNS))
    sql = f"INSERT INTO anomalies_anomalylog ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    created = str(END.replace(tzinfo=None))
    constant = itertools.repeat
    for chunk in generated_chunks(rows, batch_size):
        raw.executemany(sql, zip(
            _moment_texts(chunk["moments"], " "), chunk["source_type"], constant(""), chunk["anomaly_score"],
            chunk["is_anomaly"], chunk["severity"], chunk["betti_h0"], chunk["betti_h1"], chunk["betti_h2"],
            [f'{{"edits": {edits}, "bots": {bots}}}' for edits, bots in zip(chunk["edits"], chunk["bots"])],
            constant(METADATA), [f"bench:{index}" for index in chunk["index"]], constant(created), constant(""),
            constant("{}"), constant(False), constant(False),
        ))
    began = time.perf_counter()
    for _, index_sql in indexes:
        raw.execute(index_sql)
    print(f"seed: {len(indexes)} indexes dropped before the insert and created after "
          f"({time.perf_counter() - began:.1f} s to create)")


def seed(rows, batch_size, reseed=False):
    """Seed by the fastest bulk path (COPY on PostgreSQL, executemany without the secondary indexes on
    SQLite), then the rollups.

    The raw insert bypasses the ORM and so the rollups: ``rebuild_rollups`` makes them afterwards,
    as after any write that bypassed the ORM.
    """
    from django.core.management import call_command
    from django.db import connection, transaction

    from anomalies.models import AnomalyLog, DetectionRollup

    if not reseed and AnomalyLog.objects.count() == rows and DetectionRollup.objects.exists():
        print(f"seed: {rows:,} detections already present, reused")
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM anomalies_detectionrollup")
        cursor.execute("DELETE FROM anomalies_anomalylog")
    pragmas = {}
    if connection.vendor == "sqlite":
        # For the seed and the rollups' rebuild only (set back after): the rollback journal in
        # memory, no fsync, a 1 GiB page cache (the UNIQUE index kept in step, the index sorts).
        with connection.cursor() as cursor:
            for pragma, value in (("journal_mode", "MEMORY"), ("synchronous", "OFF"), ("cache_size", -1048576)):
                pragmas[pragma] = cursor.execute(f"PRAGMA {pragma}").fetchone()[0]
                cursor.execute(f"PRAGMA {pragma} = {value}")
    try:
        began = time.perf_counter()
        with transaction.atomic():
            (_seed_postgresql if connection.vendor == "postgresql" else _seed_sqlite)(connection, rows, batch_size)
        took = time.perf_counter() - began
        print(f"seed: {rows:,} detections in {took:.1f} s ({rows / took:,.0f} rows/s, "
              f"{'COPY' if connection.vendor == 'postgresql' else 'executemany'}, numpy-generated chunks of "
              f"{batch_size:,} rows)")
        began = time.perf_counter()
        call_command("rebuild_rollups", stdout=open(os.devnull, "w"))
        print(f"rollups rebuilt in {time.perf_counter() - began:.1f} s "
              f"({DetectionRollup.objects.count():,} groups)")
    finally:
        with connection.cursor() as cursor:
            for pragma, value in pragmas.items():
                cursor.execute(f"PRAGMA {pragma} = {value}")


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
    parser.add_argument("--batch", type=int, default=100_000,
                        help="rows per generated chunk: one COPY write or executemany each (default 100,000)")
    parser.add_argument("--repeat", type=int, default=200, help="requests per list measurement")
    parser.add_argument("--stats-repeat", type=int, default=20, help="requests per stats measurement")
    parser.add_argument("--name", default="bench", help="the benchmark database (PostgreSQL) or var/NAME.sqlite3")
    parser.add_argument("--reseed", action="store_true", help="seed again even if N detections are present")
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
    seed(arguments.rows, arguments.batch, arguments.reseed)
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
