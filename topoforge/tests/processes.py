"""Run ``manage.py`` and servers in child processes with a controlled environment.

Settings are read once per process, so checks of start-up behaviour (a missing SECRET_KEY, the
MongoDB settings, an unreachable database) run in a child process with exactly the variables
under test.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Variables that choose the database, keys or the admin password; tests set the ones they need.
_CLEARED = (
    "DATABASE_URL", "MONGODB_URI", "DATABASE_NAME", "TOPOFORGE_ADMIN_PASSWORD", "SECRET_KEY",
    "JWT_SECRET",
)
# Long enough for the HS256 key-length check, so a child's checks print nothing about it.
TEST_SECRET_KEY = "insecure-key-for-child-processes-of-the-test-suite-only"


def child_env(**variables):
    """This process's environment with a test key and no database settings, plus ``variables``.

    A value of None removes the variable.
    """
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env["SECRET_KEY"] = TEST_SECRET_KEY
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in variables.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args, timeout=120, **variables):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO, env=child_env(**variables), capture_output=True, text=True, timeout=timeout,
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def checkout_copy(target):
    """A copy of this checkout's files (tracked, and new ones not ignored: no .env, no var/) in
    ``target``, with the same virtualenv, for tests of what `make run` writes beside manage.py."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    target.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed):
        source = REPO / name
        if name == ".venv" or not source.is_file():
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
        destination.chmod(source.stat().st_mode)
    (target / ".venv").symlink_to((REPO / ".venv").resolve())
    return target


def environment_without_settings(**variables):
    """This process's environment without any TopoForge setting: a new user's shell."""
    names = set(_CLEARED) | {"DEBUG", "REDIS_URL", "TOPOFORGE_STARTUP_CHECK", "DJANGO_SETTINGS_MODULE"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env
