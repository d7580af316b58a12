"""The three storage backends: how each is chosen, described, and kept in step with the models.

No MongoDB server exists on these machines, so the MongoDB settings are checked without one:
Django's system checks and the "no missing migrations" check need no connection
(``makemigrations_offline`` drives the autodetector directly).
"""
import tempfile
from pathlib import Path

import pytest
from django.db import connection

from topoforge.config import (
    MONGODB_AUTO_FIELD, ConfigurationError, database_settings, describe_database,
)
from topoforge.offline_migrations import pending_changes
from topoforge.tests.processes import manage

UNREACHABLE_MONGODB = "mongodb://127.0.0.1:1/x"


def settings_for(mongodb_uri="", database_url="", database_name="", tmp_path=None):
    return database_settings(
        mongodb_uri=mongodb_uri, database_url=database_url, database_name=database_name,
        sqlite_path=(tmp_path or Path(tempfile.gettempdir())) / "topoforge.sqlite3",
    )


def test_nothing_set_is_sqlite_under_the_given_path(tmp_path):
    database = settings_for(tmp_path=tmp_path / "var")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(tmp_path / "var" / "topoforge.sqlite3")
    assert (tmp_path / "var").is_dir()


def test_database_url_is_postgresql_and_database_name_overrides_its_name():
    database = settings_for(database_url="postgres://bob:pw@db:5433/app", database_name="other")
    assert (database["ENGINE"], database["HOST"], database["PORT"], database["NAME"]) == (
        "django.db.backends.postgresql", "db", 5433, "other"
    )


def test_mongodb_uri_wins_and_has_the_pool_the_issue_asks_for():
    database = settings_for(
        mongodb_uri="mongodb+srv://bob:pw@cluster0.example.net/?retryWrites=true",
        database_url="postgres://x@y/z",
    )
    assert database["ENGINE"] == "django_mongodb_backend"
    assert database["NAME"] == "topoforge"
    assert (database["OPTIONS"]["minPoolSize"], database["OPTIONS"]["maxPoolSize"]) == (10, 50)


def test_mongodb_database_name_from_the_uri_or_database_name():
    assert settings_for(mongodb_uri="mongodb://h:27017/events")["NAME"] == "events"
    assert settings_for(mongodb_uri="mongodb://h:27017/events", database_name="tf")["NAME"] == "tf"


def test_a_uri_that_is_not_mongodb_is_refused():
    with pytest.raises(ConfigurationError, match="MONGODB_URI must start with"):
        settings_for(mongodb_uri="postgres://x@y/z")


@pytest.mark.parametrize("database, expected", [
    ({"mongodb_uri": "mongodb+srv://bob:s3cr3t-pw@cluster0.example.net/tf?authSource=admin"},
     "mongodb cluster0.example.net/tf"),
    ({"mongodb_uri": "mongodb://bob:s3cr3t-pw@a.example:27017,b.example:27018/tf?replicaSet=rs0"},
     "mongodb a.example:27017,b.example:27018/tf"),
    ({"mongodb_uri": "mongodb://bob:s3cr3t-pw%40x@h.example/tf"}, "mongodb h.example/tf"),
    ({"database_url": "postgres://bob:s3cr3t-pw@db.example:5433/tf"}, "postgresql db.example:5433/tf"),
    ({"database_url": "postgres://bob:s3cr3t-pw@db.example/tf"}, "postgresql db.example/tf"),
])
def test_describe_database_names_host_and_database_never_the_password(database, expected):
    description = describe_database(settings_for(**database))
    assert description == expected
    assert "s3cr3t" not in description and "bob" not in description


def test_describe_sqlite_is_its_file(tmp_path):
    assert describe_database(settings_for(tmp_path=tmp_path)) == f"sqlite {tmp_path}/topoforge.sqlite3"


def test_the_sql_models_have_all_their_migrations():
    assert pending_changes() == {}, "run: manage.py makemigrations <app> -n <name>"


class TestMongoDBSettingsWithoutAServer:
    def test_system_checks_pass(self):
        result = manage("check", MONGODB_URI=UNREACHABLE_MONGODB)
        assert result.returncode == 0, result.stderr
        assert "System check identified no issues" in result.stdout

    def test_no_missing_mongodb_migrations(self):
        result = manage("makemigrations_offline", "--check", MONGODB_URI=UNREACHABLE_MONGODB)
        assert result.returncode == 0, (
            f"{result.stdout}{result.stderr}\nrun: DEBUG=1 MONGODB_URI={UNREACHABLE_MONGODB} "
            "manage.py makemigrations_offline <app>"
        )
        assert "No changes detected." in result.stdout

    def test_every_generated_primary_key_is_an_objectid(self):
        script = (
            "from django.apps import apps; from django.conf import settings; "
            "print(settings.DEFAULT_AUTO_FIELD); "
            "from django.db.models.fields import AutoFieldMixin; "
            "print([m._meta.label for m in apps.get_models() if isinstance(m._meta.pk, AutoFieldMixin)"
            " and type(m._meta.pk).__name__ != 'ObjectIdAutoField']); "
            "print(settings.MIGRATION_MODULES['accounts'])"
        )
        result = manage("shell", "--no-imports", "-c", script, MONGODB_URI=UNREACHABLE_MONGODB)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            MONGODB_AUTO_FIELD, "[]", "mongo_migrations.accounts"
        ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_postgresql_pass_really_talks_to_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")
