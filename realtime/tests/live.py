"""A real daphne process serving the project on an ephemeral port of 127.0.0.1, for tests that need
a real network client (websockets, httpx, a browser) and other processes (a detector).

The server must see the test's database: PostgreSQL test databases are shared as they are; an
in-memory SQLite test database is copied to a file that both the test and the server then use.
"""
import os
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connections

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30


@contextmanager
def shared_database(tmp_path):
    """Yield a DATABASE_URL through which another process sees this test's database."""
    connection = connections["default"]
    if connection.vendor == "sqlite":
        if not connection.is_in_memory_db():
            yield f"sqlite:///{connection.settings_dict['NAME']}"
            return
        path = tmp_path / "live.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        target.close()
        saved_connection, saved_name = connection.connection, connection.settings_dict["NAME"]
        connection.connection = None
        connection.settings_dict["NAME"] = str(path)
        try:
            yield f"sqlite:///{path}"
        finally:
            connection.close()
            connection.settings_dict["NAME"] = saved_name
            connection.connection = saved_connection
        return
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
        yield f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return
    raise RuntimeError(f"no live-server support for {connection.vendor}")


def server_environment(database_url, **overrides):
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=settings.SECRET_KEY,
        JWT_SECRET=settings.JWT_SECRET,
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CACHE_KEY_PREFIX=settings.CACHES["default"].get("KEY_PREFIX", ""),
        PYTHONPATH=str(REPO),
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class DaphneServer:
    """``python_args`` go before ``-m daphne`` (e.g. a profiler's); ``backlog`` is the listen queue."""

    def __init__(self, env, log_path, python_args=(), backlog=512):
        self.env = env
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        self.port = listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, *python_args, "-m", "daphne", "--fd", str(listener.fileno()), "topoforge.asgi:application"],
                cwd=REPO,
                env=env,
                pass_fds=[listener.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        listener.close()  # the server holds its own copy
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne did not answer within {START_TIMEOUT} s:\n{self.log()}")

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, timeout=10):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def live_server(tmp_path, **settings_overrides):
    with shared_database(tmp_path) as database_url:
        server = DaphneServer(server_environment(database_url, **settings_overrides), tmp_path / "daphne.log")
        try:
            yield server
        finally:
            server.stop()


def run_detector(server, code):
    """Run ``code`` in a fresh Django process on the server's database and channel layer (a
    stand-in for ``manage.py detect``)."""
    script = "import django; django.setup()\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**server.env, "DJANGO_SETTINGS_MODULE": "topoforge.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
