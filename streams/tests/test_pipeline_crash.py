"""kill -9 in the middle of `manage.py detect`, then a restart: nothing lost, nothing twice.

The detector runs as a real subprocess on its own database (a SQLite file, or a PostgreSQL
database created for the test), is killed with SIGKILL while the database is unavailable and
detections sit in its journal, and is started again. Then every window of the stream must be
stored exactly once, with the scores of an uninterrupted run: the journal was drained and the
detector resumed from its checkpoint exactly.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from streams.tests.pipeline_support import (
    START_ISO, postgres_admin, reference_detections, set_postgres_connections, sqlite_file_lock,
)

ROOT = Path(__file__).resolve().parents[2]
DURATION, SEED, SPEED = 600, 5, 30
ARGS = ["--source", "generator", "--start", START_ISO, "--speed", str(SPEED), "--duration", str(DURATION),
        "--seed", str(SEED), "--bucket", "10", "--lateness", "5", "--checkpoint-seconds", "0.3",
        "--status-interval", "0"]
SOURCE_KEY = f"generator:{START_ISO}:seed{SEED}"
JOURNAL = f"generator_{START_ISO.replace(':', '_')}_seed{SEED}.jsonl"  # the key, file-name safe


def manage(env, *args, **kwargs):
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def crash_and_restart(env, journal_file, count_rows, stored_rows, make_unavailable, make_available):
    migrate = manage(env, "migrate", "-v", "0")
    assert migrate.wait(120) == 0, migrate.stderr.read()

    first = manage(env, "detect", *ARGS)
    try:
        wait_until(lambda: count_rows() >= 10, 60, "the first detections")
        make_unavailable()
        wait_until(lambda: journal_file.exists() and journal_file.stat().st_size > 0, 60,
                   "detections to spill into the journal")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        make_available()
        if first.poll() is None:
            first.kill()
    before = count_rows()
    assert 10 <= before < DURATION // 10

    second = manage(env, "detect", *ARGS)
    _, stderr = second.communicate(timeout=240)
    assert second.returncode == 0, stderr

    expected = reference_detections(SOURCE_KEY, DURATION, SEED)
    stored = stored_rows()
    assert [key for key, _ in stored] == list(expected)  # every window, once, in order
    assert [score for _, score in stored] == pytest.approx(list(expected.values()), abs=1e-9)
    assert journal_file.stat().st_size == 0  # drained
    assert "drained 0," not in stderr


def base_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "DATABASE_URL")}
    env.update(TOPOFORGE_JOURNAL_DIR=str(tmp_path / "journal"), TOPOFORGE_STORE_QUEUE_SIZE="2",
               SECRET_KEY="crash-test", DEBUG="0", LOG_LEVEL="WARNING")
    return env


@pytest.mark.slow
def test_kill_9_then_restart_on_sqlite(tmp_path):
    database = tmp_path / "crash.sqlite3"
    env = base_env(tmp_path)
    env["DATABASE_URL"] = f"sqlite:///{database}"
    lock = {}

    def query(sql):
        with sqlite3.connect(database, timeout=30) as db:
            return db.execute(sql).fetchall()

    def unavailable():
        lock["held"] = sqlite_file_lock(database)
        lock["held"].__enter__()

    def available():
        if "held" in lock:
            lock.pop("held").__exit__(None, None, None)

    crash_and_restart(
        env, tmp_path / "journal" / JOURNAL,
        lambda: query("SELECT COUNT(*) FROM anomalies_anomalylog")[0][0] if database.exists() else 0,
        lambda: query("SELECT dedup_key, anomaly_score FROM anomalies_anomalylog ORDER BY timestamp"),
        unavailable, available,
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db
def test_kill_9_then_restart_on_postgresql(tmp_path):
    import psycopg
    from django.db import connection

    name = f"topoforge_crash_{uuid.uuid4().hex[:8]}"
    admin = postgres_admin()
    admin.execute(f'CREATE DATABASE "{name}"')
    settings = connection.settings_dict
    url = (f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:"
           f"{settings['PORT'] or 5432}/{name}")
    env = base_env(tmp_path)
    env["DATABASE_URL"] = url

    def query(sql):
        try:
            with psycopg.connect(url, connect_timeout=5) as db:
                return db.execute(sql).fetchall()
        except psycopg.OperationalError:
            return [(0,)]

    try:
        crash_and_restart(
            env, tmp_path / "journal" / JOURNAL,
            lambda: query("SELECT COUNT(*) FROM anomalies_anomalylog")[0][0],
            lambda: query("SELECT dedup_key, anomaly_score FROM anomalies_anomalylog ORDER BY timestamp"),
            lambda: set_postgres_connections(name, False, admin),
            lambda: set_postgres_connections(name, True, admin),
        )
    finally:
        set_postgres_connections(name, True, admin)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.slow
def test_sigterm_flushes_checkpoints_and_the_restart_completes_the_stream(tmp_path):
    database = tmp_path / "term.sqlite3"
    env = base_env(tmp_path)
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env["TOPOFORGE_STORE_QUEUE_SIZE"] = "1000"
    migrate = manage(env, "migrate", "-v", "0")
    assert migrate.wait(120) == 0

    def rows():
        with sqlite3.connect(database, timeout=30) as db:
            return db.execute("SELECT dedup_key FROM anomalies_anomalylog ORDER BY timestamp").fetchall()

    args = [a if a != "0" else "0.5" for a in ARGS]  # a status line every half second
    first = manage(env, "detect", *args)
    wait_until(lambda: len(rows()) >= 10, 60, "the first detections")
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert "ev/s | events" in stderr and "queue" in stderr and "last event" in stderr  # the live status
    with sqlite3.connect(database) as db:
        saved, = db.execute("SELECT last_event_id FROM anomalies_detectorcheckpoint").fetchone()
    interrupted = len(rows())
    assert int(saved) > 0 and interrupted < DURATION // 10

    second = manage(env, "detect", *ARGS)
    _, stderr = second.communicate(timeout=240)
    assert second.returncode == 0, stderr
    expected = reference_detections(SOURCE_KEY, DURATION, SEED)
    assert [key for key, in rows()] == list(expected)
    assert "already stored 0," in stderr  # resumed after the saved event, nothing recomputed twice
