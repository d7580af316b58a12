"""Turn environment variables into the pieces of settings that need logic.

Kept apart from ``settings.py`` so the database choice can be tested and described (for the
start-up log line) without loading Django.
"""
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

MONGODB_ENGINE = "django_mongodb_backend"
MONGODB_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
SQL_AUTO_FIELD = "django.db.models.BigAutoField"


class ConfigurationError(ImproperlyConfigured):
    """A setting is missing or wrong; ``manage.py`` prints it as one line."""


HELP_WORDS = ("help", "--help", "-h", "version", "--version")
_help_only = False


def declare_help_only(argv):
    """Called by ``manage.py`` with its arguments: a request for help or the version only prints
    text, so the settings need no SECRET_KEY for it. Returns whether that is the case."""
    global _help_only
    args = argv[1:]
    _help_only = not args or args[0] in HELP_WORDS or "-h" in args or "--help" in args
    return _help_only


def help_only():
    return _help_only


def database_settings(*, mongodb_uri, database_url, database_name, sqlite_path: Path):
    """The ``default`` database: MongoDB if MONGODB_URI, else DATABASE_URL, else SQLite."""
    if mongodb_uri:
        if not mongodb_uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError("MONGODB_URI must start with mongodb:// or mongodb+srv://")
        name = database_name or urlsplit(mongodb_uri).path.lstrip("/") or "topoforge"
        return {
            "ENGINE": MONGODB_ENGINE,
            "HOST": mongodb_uri,
            "NAME": name,
            # The pool the issue asks for; pymongo opens connections lazily up to the max.
            "OPTIONS": {"minPoolSize": 10, "maxPoolSize": 50, "serverSelectionTimeoutMS": 5000},
        }
    if database_url:
        try:
            config = dj_database_url.parse(database_url, conn_max_age=60, conn_health_checks=True)
        except ValueError as error:
            raise ConfigurationError(f"DATABASE_URL is not a database URL: {error}") from None
        if database_name:
            config["NAME"] = database_name
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        return config
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite_path), "OPTIONS": dict(SQLITE_OPTIONS)}


# Writers wait for the lock instead of failing at once (the detector, its workers and the server
# share the file). IMMEDIATE: a transaction takes the write lock when it begins, so one that reads
# first (the shard fence, the store's upserts) waits its turn instead of failing with "database
# is locked" when another process writes in between (SQLite cannot upgrade a deferred read lock
# while another writer holds the file, and does not wait for it).
SQLITE_OPTIONS = {"timeout": 20, "transaction_mode": "IMMEDIATE"}


def is_mongodb(database: dict) -> bool:
    return database["ENGINE"] == MONGODB_ENGINE


def describe_database(database: dict) -> str:
    """Engine, host and name of a database for logs: never the password."""
    if is_mongodb(database):
        engine = "mongodb"
    else:
        engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite {database['NAME']}"
    host = database.get("HOST") or "localhost"
    if "://" in host:
        # A MongoDB URI: keep its host list (a replica set has several, "a:27017,b:27017"),
        # drop the credentials before the last "@", the path and the query string.
        host = urlsplit(host).netloc.rsplit("@", 1)[-1] or "localhost"
    elif database.get("PORT"):
        host = f"{host}:{database['PORT']}"
    return f"{engine} {host}/{database['NAME']}"
