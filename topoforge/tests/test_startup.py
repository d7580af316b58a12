"""Start-up: the database in use is logged; an unreachable one is one line and a non-zero exit.

Unreachable databases are real closed ports on 127.0.0.1 (port 1), never mocks.
"""
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from topoforge.config import describe_database
from topoforge.startup import ping_database, unreachable_database_message
from topoforge.tests.processes import REPO, child_env, free_port, manage

UNREACHABLE_POSTGRES = "postgres://bob:s3cr3t-pw@127.0.0.1:1/topoforge"
UNREACHABLE_MONGODB = "mongodb://bob:s3cr3t-pw@127.0.0.1:1/topoforge"
DAPHNE = Path(sys.executable).with_name("daphne")


def assert_one_line_unreachable(result, description):
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"topoforge: cannot reach the database {description}: ")
    assert "s3cr3t" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["setup_database"], ["migrate"], ["purge_sessions", "--dry-run"]])
def test_commands_needing_postgresql_fail_in_one_line_when_it_is_down(command):
    result = manage(*command, DATABASE_URL=UNREACHABLE_POSTGRES)
    assert_one_line_unreachable(result, "postgresql 127.0.0.1:1/topoforge")


def test_setup_database_fails_in_one_line_when_mongodb_is_down():
    result = manage("setup_database", MONGODB_URI=UNREACHABLE_MONGODB)
    assert_one_line_unreachable(result, "mongodb 127.0.0.1:1/topoforge")
    assert "Topology Description" not in result.stderr


def test_other_errors_keep_their_traceback():
    assert unreachable_database_message(ValueError("a bug")) is None


@pytest.mark.django_db
def test_a_reachable_database_is_described():
    assert ping_database() == describe_database(connection.settings_dict)


def _daphne(port, **variables):
    return subprocess.Popen(
        [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "topoforge.asgi:application"],
        cwd=REPO, env=child_env(TOPOFORGE_STARTUP_CHECK="1", **variables),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def test_the_server_refuses_to_start_on_an_unreachable_database():
    server = _daphne(free_port(), DATABASE_URL=UNREACHABLE_POSTGRES)
    try:
        stdout, stderr = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    result = subprocess.CompletedProcess(server.args, server.returncode, stdout, stderr)
    assert_one_line_unreachable(result, "postgresql 127.0.0.1:1/topoforge")


def _wait_for(url, process, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server stopped"
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout} s")


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_server_logs_the_database_it_uses(tmp_path):
    database = tmp_path / "served.sqlite3"
    port = free_port()
    server = _daphne(port, DATABASE_URL=f"sqlite:///{database}")
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/admin/login/", server).status_code == 200
    finally:
        _stop(server)
    assert f"INFO topoforge.startup: database: sqlite {database}" in server.stderr.read()


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "daphne").exists(), reason="make run needs .venv")
def test_make_run_serves_the_admin_and_its_printed_credentials_log_in(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
            env=child_env(
                TOPOFORGE_PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
                TOPOFORGE_ADMIN_PASSWORD="quartz-meadow-4812",
                DEBUG=None,  # as on a developer's machine: run.sh turns it on
            ),
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(f"{base}/admin/login/", server).status_code == 200
        printed = log.read_text()
        assert f"dashboard: {base}/" in printed
        assert f"admin:     {base}/admin/" in printed
        username, password = re.search(r"login:\s+(\S+) / (\S+)", printed).groups()

        with httpx.Client(base_url=base) as browser:
            browser.get("/admin/login/")
            response = browser.post(
                "/admin/login/?next=/admin/",
                data={"username": username, "password": password, "next": "/admin/",
                      "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                headers={"Referer": f"{base}/admin/login/"},
            )
            assert response.status_code == 302 and response.headers["location"] == "/admin/"
            assert "Site administration" in browser.get("/admin/").text
    finally:
        _stop(server)
