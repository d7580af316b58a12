"""Helpers for the pipeline tests: reference runs, a scripted source, blocking the database."""
import sqlite3
import time
from contextlib import contextmanager

from django.db import connection

from streams.features import WindowAggregator
from streams.pipeline import dedup_key, detector_config
from streams.sources.base import Source
from streams.sources.generator import GeneratorSource
from tda import Detector

START = 1_704_067_200.0  # 2024-01-01T00:00:00Z
START_ISO = "2024-01-01T00:00:00Z"


def generator(duration, seed=0, **options):
    return GeneratorSource(start=START, seed=seed, speed=0, duration=duration, **options)


def reference_detections(source_key, duration, seed=0, bucket=10.0, lateness=5.0):
    """{dedup_key: score} of an uninterrupted in-memory run: what must end up stored."""
    source = generator(duration, seed)
    aggregator = WindowAggregator(source.kind, bucket, lateness)
    detector = Detector(detector_config())
    windows = [w for event in source for w in aggregator.add(event)] + aggregator.flush()
    return {dedup_key(source_key, w.start): detector.update(w.end, w.vector).score for w in windows}


class ScriptedSource(Source):
    """Another source's events, with ``hooks[n]()`` called before the n-th event is yielded."""

    def __init__(self, inner, hooks):
        super().__init__()
        self.inner, self.hooks = inner, hooks
        self.kind, self.source_type = inner.kind, inner.source_type

    def __iter__(self):
        for number, event in enumerate(self.inner, start=1):
            if number in self.hooks:
                self.hooks[number]()
            self.last_event_id = self.inner.last_event_id
            yield event


# --- making the database unreachable -----------------------------------------------------------
def postgres_admin():
    import psycopg

    settings = connection.settings_dict
    return psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
                           user=settings["USER"] or "postgres", password=settings["PASSWORD"] or None,
                           dbname="postgres", autocommit=True)


def set_postgres_connections(database, allowed, admin):
    admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
    if not allowed:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", [database])


class DatabaseBlocker:
    """Make the test database unreachable and reachable again, for real.

    PostgreSQL: refuse new connections and terminate the open ones. SQLite: hold an exclusive
    transaction from another connection, so every write fails with "database is locked".
    """

    def __init__(self):
        self.vendor = connection.vendor
        self.database = connection.settings_dict["NAME"]
        self._admin = self._lock = None

    def block(self):
        if self.vendor == "postgresql":
            self._admin = postgres_admin()
            set_postgres_connections(self.database, False, self._admin)
        else:
            self._lock = sqlite3.connect(self.database, uri=True, check_same_thread=False)
            deadline = time.monotonic() + 10
            while True:  # the writer may be mid-transaction: take the lock as soon as it is free
                try:
                    self._lock.execute("BEGIN EXCLUSIVE")
                    self._lock.execute("UPDATE anomalies_anomalylog SET severity = severity")
                    self._lock.execute("UPDATE anomalies_detectorcheckpoint SET state = state")
                    break
                except sqlite3.OperationalError:
                    if self._lock.in_transaction:
                        self._lock.rollback()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)

    def unblock(self):
        if self._admin is not None:
            set_postgres_connections(self.database, True, self._admin)
            self._admin.close()
            self._admin = None
        if self._lock is not None:
            self._lock.rollback()
            self._lock.close()
            self._lock = None
        connection.close()  # this thread's connection may have been terminated


@contextmanager
def sqlite_file_lock(path):
    """An exclusive transaction on a SQLite file, held by another connection."""
    lock = sqlite3.connect(path, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        lock.rollback()
        lock.close()

