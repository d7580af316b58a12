"""setup_database: what it prints, that a second run changes nothing, the MongoDB TTL index."""
import re
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from accounts.models import Role, Session, User
from topoforge.config import describe_database

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TOPOFORGE_ADMIN_PASSWORD = ""


def setup_database():
    out, err = StringIO(), StringIO()
    call_command("setup_database", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def generated_password(output):
    match = re.search(r"with the generated password (\S+)", output)
    return match and match.group(1)


def test_first_run_creates_the_admin_with_a_generated_password_printed_once():
    first, _ = setup_database()

    password = generated_password(first)
    assert password and len(password) >= 20
    admin = User.objects.get(username="admin")
    assert (admin.email, admin.role, admin.is_staff, admin.is_superuser) == (
        "admin@topoforge.com", Role.ADMIN, True, True
    )
    assert admin.check_password(password)
    assert "shown only this once" in first

    stored_hash = User.objects.get(username="admin").password
    second, _ = setup_database()

    assert password not in second and generated_password(second) is None
    assert "Admin user: 'admin' exists, password left unchanged" in second
    assert User.objects.count() == 1
    assert User.objects.get(username="admin").password == stored_hash


def test_it_prints_the_database_and_each_step():
    output, errors = setup_database()
    lines = output.splitlines()
    assert lines[0] == f"Database: {describe_database(connection.settings_dict)}"
    assert "Migrations: none pending" in lines  # the test database is migrated already
    assert any(re.fullmatch(r"Indexes: all \d+ declared indexes present", line) for line in lines)
    assert errors == ""


def test_the_configured_password_is_used(settings):
    settings.TOPOFORGE_ADMIN_PASSWORD = "glacier-lantern-77"
    output, _ = setup_database()
    assert "with the password from TOPOFORGE_ADMIN_PASSWORD" in output
    assert "glacier-lantern-77" not in output
    assert User.objects.get(username="admin").check_password("glacier-lantern-77")


def test_an_existing_admin_keeps_its_password(settings, make_user):
    make_user("admin", role=Role.ADMIN, password="the-original-one-1", email="admin@topoforge.com")
    settings.TOPOFORGE_ADMIN_PASSWORD = "a-different-one-22"

    output, _ = setup_database()

    admin = User.objects.get(username="admin")
    assert admin.check_password("the-original-one-1")
    assert "its password is NOT the one in TOPOFORGE_ADMIN_PASSWORD" in output


def test_an_existing_admin_that_lost_its_role_is_reported_not_changed(make_user):
    make_user("admin", role=Role.VIEWER, email="boss@example.com")
    _, errors = setup_database()
    assert "'admin' is of role 'viewer'; left as it is" in errors
    assert User.objects.get(username="admin").role == Role.VIEWER


def test_the_admin_email_taken_by_someone_else_is_reported(make_user):
    make_user("someone", email="admin@topoforge.com")
    output, errors = setup_database()
    assert "not created, admin@topoforge.com belongs to 'someone'" in errors
    assert not User.objects.filter(username="admin").exists()


def test_a_weak_configured_password_is_warned_about(settings):
    settings.TOPOFORGE_ADMIN_PASSWORD = "admin"
    _, errors = setup_database()
    assert "weak TOPOFORGE_ADMIN_PASSWORD" in errors


@pytest.mark.django_db(transaction=True)
def test_a_dropped_index_is_created_again():
    from anomalies.models import AnomalyLog

    index = next(i for i in AnomalyLog._meta.indexes if i.name == "anomalylog_score")
    with connection.schema_editor() as editor:
        editor.remove_index(AnomalyLog, index)

    output, _ = setup_database()

    assert "Indexes: created anomalylog_score on anomalies_anomalylog" in output
    with connection.cursor() as cursor:
        assert "anomalylog_score" in connection.introspection.get_constraints(cursor, "anomalies_anomalylog")
    again, _ = setup_database()
    assert "Indexes: all" in again


# --- MongoDB: only with a real server (TOPOFORGE_TEST_MONGODB_URI; see README) ----------------
@pytest.fixture
def mongodb():
    if connection.vendor != "mongodb":
        pytest.skip(
            "the MongoDB tests run in the MongoDB pass: "
            "MONGODB_URI=$TOPOFORGE_TEST_MONGODB_URI (scripts/test.sh does this)"
        )
    return connection


def _session_indexes(connection):
    return connection.database[Session._meta.db_table].index_information()


@pytest.mark.mongodb
def test_setup_database_makes_the_sessions_ttl_index(mongodb):
    first, _ = setup_database()
    seconds = django_settings.TOPOFORGE_SESSION_RETENTION_DAYS * 24 * 3600
    ttl = [
        info for info in _session_indexes(mongodb).values()
        if info["key"] == [("expires_at", 1)] and info.get("expireAfterSeconds") == seconds
    ]
    assert len(ttl) == 1, _session_indexes(mongodb)
    assert re.search(r"TTL index on accounts_session\.expires_at: (created|updated|present)", first)

    second, _ = setup_database()
    assert "TTL index on accounts_session.expires_at: present" in second


@pytest.mark.mongodb
def test_the_ttl_follows_a_changed_retention(mongodb, settings):
    setup_database()
    settings.TOPOFORGE_SESSION_RETENTION_DAYS = 3
    output, _ = setup_database()
    assert "TTL index on accounts_session.expires_at: updated" in output
    expiring = [i for i in _session_indexes(mongodb).values() if "expireAfterSeconds" in i]
    assert [i["expireAfterSeconds"] for i in expiring] == [3 * 24 * 3600]
