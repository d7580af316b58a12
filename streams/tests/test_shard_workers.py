"""``detect --workers`` / ``--join`` with real processes, a real Redis and a real database.

A router replays a recorded metrics file split by host into Redis Streams; worker processes
share its shards. One worker is killed with SIGKILL mid-stream: its shards must be taken over
by the other from their checkpoints, and in the end every window of every host must be stored
exactly once with the score of a detector that saw that host alone, uninterrupted. A second test
has a worker join and leave a running stream: the shards are divided and given back.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from streams.shards import Keys
from streams.tests.pipeline_support import postgres_admin
from streams.tests.test_series import BUCKET, alone, metric_events

ROOT = Path(__file__).resolve().parents[2]
HOSTS = [f"host-{n:02d}" for n in range(12)]
MINUTES = 90
SHARDS = 6

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def manage(env, *args):
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Cluster:
    """A router and its workers on one database, under a source key of their own."""

    def __init__(self, tmp_path, database_url, query):
        self.key = f"workers-test-{uuid.uuid4().hex[:8]}"
        self.query = query
        self.events = metric_events(HOSTS, MINUTES)
        self.file = tmp_path / "metrics.jsonl"
        self.file.write_text("".join(json.dumps(event) + "\n" for event in self.events))
        self.env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI",)}
        self.env.update(DATABASE_URL=database_url, SECRET_KEY="workers-test-key-long-enough-for-hs256-000",
                        DEBUG="0", LOG_LEVEL="WARNING", TOPOFORGE_JOURNAL_DIR=str(tmp_path / "journal"),
                        PYTHONUNBUFFERED="1")
        self.redis = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
        self.keys = Keys(self.key)
        self.processes = []
        migrate = manage(self.env, "migrate", "-v", "0")
        assert migrate.wait(180) == 0, migrate.stdout.read()

    def route(self, speed):
        return self._start("detect", "--source", "replay", "--file", str(self.file), "--speed", str(speed),
                           "--source-key", self.key, "--split-by", "key", "--bucket", str(BUCKET), "--lateness",
                           "0", "--workers", "0", "--shards", str(SHARDS), "--status-interval", "0")

    def join(self, name):
        return self._start("detect", "--join", self.key, "--worker-id", name, "--lease-seconds", "2",
                           "--checkpoint-seconds", "0.3", "--status-interval", "0")

    def _start(self, *args):
        process = manage(self.env, *args)
        self.processes.append(process)
        return process

    def owners(self):
        return [self.redis.get(self.keys.lease(n)) for n in range(SHARDS)]

    def rows(self):
        return self.query(f"SELECT COUNT(*) FROM anomalies_anomalylog WHERE dedup_key LIKE '{self.key}#%'")[0][0]

    def stored(self):
        """{dedup key without the stream key: (series, score)}: as ``test_series.scores``."""
        found = self.query("SELECT dedup_key, series, anomaly_score FROM anomalies_anomalylog "
                           f"WHERE dedup_key LIKE '{self.key}#%'")
        return {key[len(self.key):]: (series, score) for key, series, score in found}

    def expected(self):
        return {f"#{host}:{start}": (host, score)
                for host in HOSTS for start, score in alone(self.events, host).items()}

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        names = list(self.redis.scan_iter(match=self.keys.prefix + "*"))
        if names:
            self.redis.delete(*names)


def finish(process, timeout=240):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def check_exactly_once(cluster):
    stored, expected = cluster.stored(), cluster.expected()
    assert set(stored) == set(expected)  # every window of every host, nothing else
    assert cluster.rows() == len(expected)  # once each
    for key, (series, score) in expected.items():
        assert stored[key][0] == series
        assert stored[key][1] == pytest.approx(score, abs=1e-9), key


def kill_a_worker_mid_stream(cluster):
    router = cluster.route(speed=120)  # 90 minutes of events in 45 s
    first, second = cluster.join("first"), cluster.join("second")
    wait_until(lambda: sorted(filter(None, cluster.owners())).count("first") >= 1 and
               set(cluster.owners()) == {"first", "second"}, 60, "both workers to own shards")
    wait_until(lambda: cluster.rows() >= 150, 90, "the first detections")
    victim = [n for n, owner in enumerate(cluster.owners()) if owner == "first"]
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert cluster.rows() < len(HOSTS) * MINUTES  # killed mid-stream
    wait_until(lambda: all(owner == "second" for owner in cluster.owners()), 30, "the takeover")
    finish(router)
    output = finish(second)
    check_exactly_once(cluster)
    for number in victim:  # taken over under a new epoch, written into the shard's checkpoint
        state, = cluster.query("SELECT state FROM anomalies_detectorcheckpoint "
                               f"WHERE source_key = '{cluster.key}@shard:{number}'")[0]
        assert (json.loads(state) if isinstance(state, str) else state)["epoch"] >= 2
    assert "lost 0" in output
    owners = dict(cluster.query("SELECT series, owner FROM anomalies_series WHERE series LIKE 'host-%'"))
    assert set(owners) == set(HOSTS) and set(owners.values()) <= {"first", "second"}


@pytest.fixture
def sqlite_cluster(tmp_path):
    database = tmp_path / "workers.sqlite3"

    def query(sql):
        with sqlite3.connect(database, timeout=30) as db:
            return db.execute(sql).fetchall()

    cluster = Cluster(tmp_path, f"sqlite:///{database}", query)
    yield cluster
    cluster.close()


@pytest.fixture
def postgres_cluster(tmp_path, django_db_blocker):
    import psycopg
    from django.db import connection

    name = f"topoforge_workers_{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        admin = postgres_admin()
        settings = connection.settings_dict
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{name}"

    def query(sql):
        with psycopg.connect(url, connect_timeout=5) as db:
            return db.execute(sql).fetchall()

    cluster = Cluster(tmp_path, url, query)
    yield cluster
    cluster.close()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_a_killed_worker_s_shards_are_taken_over_and_every_row_is_stored_once_on_sqlite(sqlite_cluster):
    kill_a_worker_mid_stream(sqlite_cluster)


@pytest.mark.postgres
def test_a_killed_worker_s_shards_are_taken_over_and_every_row_is_stored_once_on_postgresql(postgres_cluster):
    kill_a_worker_mid_stream(postgres_cluster)


def test_a_joining_worker_gets_its_share_and_a_leaving_one_gives_it_back(sqlite_cluster):
    cluster = sqlite_cluster
    router = cluster.route(speed=120)  # 45 s of stream
    first = cluster.join("first")
    wait_until(lambda: cluster.owners() == ["first"] * SHARDS, 30, "the first worker to own every shard")
    second = cluster.join("second")
    wait_until(lambda: sorted(owner or "" for owner in cluster.owners()) == ["first"] * (SHARDS // 2) + ["second"] * (SHARDS // 2), 30,
               "the shards to be divided")
    second.send_signal(signal.SIGTERM)  # leaves: gives its shards back after checkpointing them
    assert "given back" in finish(second, 30)
    wait_until(lambda: cluster.owners() == ["first"] * SHARDS, 30, "the first worker to own every shard again")
    finish(router)
    finish(first)
    check_exactly_once(cluster)


def test_workers_n_starts_local_workers_that_finish_the_stream(sqlite_cluster):
    cluster = sqlite_cluster
    run = cluster._start("detect", "--source", "replay", "--file", str(cluster.file), "--speed", "fast",
                         "--source-key", cluster.key, "--split-by", "key", "--bucket", str(BUCKET), "--lateness",
                         "0", "--workers", "2", "--shards", str(SHARDS), "--checkpoint-seconds", "0.3",
                         "--status-interval", "0")
    output = finish(run)
    assert f"routed {len(cluster.events)} events" in output and "workers exited [0, 0]" in output
    check_exactly_once(cluster)
    assert all(cluster.redis.exists(cluster.keys.ended(n)) for n in range(SHARDS))
