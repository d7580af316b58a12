"""Settings come from the environment and refuse to start without what production needs."""
from django.conf import settings

from topoforge.tests.processes import REPO, manage


def test_debug_off_without_secret_key_refuses_to_start_in_one_line():
    # A .env file would supply SECRET_KEY; an empty value in the environment wins over it.
    result = manage("check", DEBUG="0", SECRET_KEY="" if (REPO / ".env").exists() else None)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "topoforge: SECRET_KEY is not set; set it in the environment or .env "
        "(required when DEBUG is off)"
    ]
    assert "Traceback" not in result.stderr


def test_debug_on_without_secret_key_starts_with_a_development_key():
    result = manage("check", DEBUG="1", SECRET_KEY="")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_a_malformed_database_url_is_one_line():
    result = manage("check", DATABASE_URL="nosuchscheme://x")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("topoforge: DATABASE_URL is not a database URL")


def test_jwt_secret_defaults_to_the_secret_key():
    result = manage(
        "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.JWT_SECRET)",
        SECRET_KEY="the-secret-key-under-test", JWT_SECRET=None,
    )
    assert result.stdout.strip() == "the-secret-key-under-test", result.stderr


def test_the_suite_runs_with_debug_off():
    assert settings.DEBUG is False


def test_passwords_are_hashed_with_bcrypt_first_and_argon2_accepted():
    from topoforge import settings as project

    assert project.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.BCryptSHA256PasswordHasher"
    assert "django.contrib.auth.hashers.Argon2PasswordHasher" in project.PASSWORD_HASHERS


def test_every_variable_is_documented_in_env_example():
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    required = {
        "SECRET_KEY", "JWT_SECRET", "DEBUG", "ALLOWED_HOSTS", "CORS_ALLOWED_ORIGINS",
        "DATABASE_URL", "MONGODB_URI", "DATABASE_NAME", "REDIS_URL", "TOPOFORGE_ADMIN_PASSWORD",
        "TOPOFORGE_ANOMALY_RETENTION_DAYS", "TOPOFORGE_SESSION_RETENTION_DAYS",
        "TOPOFORGE_STARTUP_CHECK", "TOPOFORGE_TEST_MONGODB_URI",
    }
    assert required <= documented, required - documented
