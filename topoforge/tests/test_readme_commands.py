"""The commands the README shows work as written: `--help` of every management command needs no
SECRET_KEY, and after `make run` has written .env, `manage.py setup_database` works with nothing
else set."""
import re
import subprocess

import pytest
from django.core.management import get_commands

from topoforge.tests.processes import REPO, checkout_copy, environment_without_settings

PROJECT_APPS = ("accounts", "anomalies", "streams", "alerts", "realtime")


def readme_commands():
    return sorted(set(re.findall(r"manage\.py ([a-z_]+)", (REPO / "README.md").read_text())))


def project_commands():
    return sorted(name for name, app in get_commands().items() if app in PROJECT_APPS)


def test_the_readme_shows_commands_that_exist():
    assert {"setup_database", "detect", "evaluate_nab"} <= set(readme_commands())
    assert set(readme_commands()) <= set(get_commands())


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(set(readme_commands()) | set(project_commands())))
def test_help_of_every_command_needs_no_secret_key(command):
    # SECRET_KEY set but empty: it wins over a .env file a developer's checkout may have.
    result = subprocess.run(
        [".venv/bin/python", "manage.py", command, "--help"],
        cwd=REPO, env=environment_without_settings(SECRET_KEY=""), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: manage.py {command}")


def test_help_without_a_command_needs_no_secret_key():
    result = subprocess.run(
        [".venv/bin/python", "manage.py", "help"],
        cwd=REPO, env=environment_without_settings(SECRET_KEY=""), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "setup_database" in result.stdout


def test_a_real_command_still_refuses_to_run_without_a_secret_key():
    result = subprocess.run(
        [".venv/bin/python", "manage.py", "purge_sessions"],
        cwd=REPO, env=environment_without_settings(SECRET_KEY=""), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr


def test_env_is_never_committed():
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO).returncode == 0
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=REPO, capture_output=True, text=True).stdout
    assert tracked == ""


@pytest.mark.slow
def test_after_make_run_wrote_env_setup_database_works_as_written(tmp_path):
    checkout = checkout_copy(tmp_path / "topoforge")
    env = environment_without_settings(TOPOFORGE_ADMIN_PASSWORD="a long enough password 123")

    first = subprocess.run(["scripts/write_env.sh"], cwd=checkout, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    written = (checkout / ".env").read_text()
    [key] = re.findall(r"^SECRET_KEY=(\S{40,})$", written, re.M)
    assert oct((checkout / ".env").stat().st_mode & 0o777) == "0o600"
    again = subprocess.run(["scripts/write_env.sh"], cwd=checkout, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and (checkout / ".env").read_text() == written  # the key is kept

    setup = subprocess.run(
        [".venv/bin/python", "manage.py", "setup_database"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=300,
    )
    assert setup.returncode == 0, setup.stderr
    assert "admin" in setup.stdout
    assert (checkout / "var" / "topoforge.sqlite3").is_file()
    assert key not in setup.stdout + setup.stderr


def test_an_empty_secret_key_line_copied_from_env_example_is_filled_in(tmp_path):
    checkout = checkout_copy(tmp_path / "topoforge")
    (checkout / ".env").write_text((REPO / ".env.example").read_text())
    result = subprocess.run(["scripts/write_env.sh"], cwd=checkout, env=environment_without_settings(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^SECRET_KEY=\S{40,}$", (checkout / ".env").read_text(), re.M)) == 1
    assert "SECRET_KEY=\n" not in (checkout / ".env").read_text()
