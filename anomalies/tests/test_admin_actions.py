"""What the admin does, beyond rendering: CSV export, session revocation, validated forms."""
import csv
import io
import json
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from accounts.admin import ADMIN_REVOKE_REASON
from accounts.models import Role, Session, User
from anomalies.api.export import COLUMNS as CSV_COLUMNS
from anomalies.models import AlertConfig, AnomalyLog

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=dt_timezone.utc)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def _log(minute, source_type="wikipedia", **fields):
    return AnomalyLog.objects.create_log(
        timestamp=T0 + timedelta(minutes=minute), source_type=source_type,
        anomaly_score=fields.pop("anomaly_score", 0.5), **fields,
    )


def _download(client, selected=(), **extra):
    response = client.post(
        reverse("admin:anomalies_anomalylog_changelist"),
        {"action": "download_csv", ACTION_CHECKBOX_NAME: [str(log.pk) for log in selected], **extra},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="anomalies-selected-')
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_csv_download_has_the_selected_detections_oldest_first(admin_client):
    later = _log(5, anomaly_score=0.999, is_anomaly=True, betti_h0=3, betti_h1=1, event_data={"edits": 9})
    earlier = _log(1, metadata={"window_seconds": 60})
    _log(3)  # not selected

    header, *rows = _download(admin_client, [later, earlier])

    assert tuple(header) == CSV_COLUMNS
    assert [row[0] for row in rows] == [str(earlier.pk), str(later.pk)]
    last = dict(zip(header, rows[1]))
    assert last["timestamp"] == "2026-03-01T12:05:00Z"
    assert (last["source_type"], last["anomaly_score"], last["is_anomaly"]) == ("wikipedia", "0.999", "true")
    assert (last["severity"], last["betti_h0"], last["betti_h1"]) == ("critical", "3", "1")
    assert json.loads(last["event_data"]) == {"edits": 9}
    assert json.loads(dict(zip(header, rows[0]))["metadata"]) == {"window_seconds": 60}


def test_csv_download_of_every_row_matching_the_filter(admin_client):
    for minute in range(3):
        _log(minute, is_anomaly=True)
    _log(9, is_anomaly=False)
    response = admin_client.post(
        reverse("admin:anomalies_anomalylog_changelist") + "?is_anomaly__exact=1",
        {"action": "download_csv", "select_across": "1", "index": "0",
         ACTION_CHECKBOX_NAME: [str(AnomalyLog.objects.filter(is_anomaly=True).first().pk)]},
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    assert len(rows) == 3
    assert {row[CSV_COLUMNS.index("is_anomaly")] for row in rows} == {"true"}


@pytest.mark.parametrize(
    "source_type",
    ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1"],
)
def test_csv_cells_never_start_a_formula(admin_client, source_type):
    log = _log(0, source_type=source_type, event_data={"title": "=1+1"})
    header, row = _download(admin_client, [log])
    cell = dict(zip(header, row))
    assert cell["source_type"] == "'" + source_type
    assert json.loads(cell["event_data"]) == {"title": "=1+1"}  # starts with "{": already inert
    assert AnomalyLog.objects.get(pk=log.pk).source_type == source_type  # storage untouched


def test_revoke_selected_sessions(admin_client, viewer):
    def session(jti, **fields):
        return Session.objects.create(
            user=viewer, jti=jti, expires_at=timezone.now() + timedelta(days=1), **fields
        )

    earlier = timezone.now() - timedelta(hours=2)
    live, other, gone = session("live"), session("other"), session("gone", revoked_at=earlier, revoked_reason="logout")

    response = admin_client.post(
        reverse("admin:accounts_session_changelist"),
        {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [str(live.pk), str(gone.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert "Revoked 1 session." in shown and "1 of the selected were revoked already." in shown
    live.refresh_from_db(), other.refresh_from_db(), gone.refresh_from_db()
    assert live.revoked_at is not None and live.revoked_reason == ADMIN_REVOKE_REASON
    assert other.revoked_at is None
    assert (gone.revoked_at, gone.revoked_reason) == (earlier, "logout")


def test_session_tokens_are_read_only_and_sessions_cannot_be_added(admin_client, viewer):
    session = Session.objects.create(user=viewer, jti="original", expires_at=timezone.now() + timedelta(days=1))
    url = reverse("admin:accounts_session_change", args=[session.pk])
    assert b'name="jti"' not in admin_client.get(url).content

    admin_client.post(url, {"jti": "forged", "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00"})

    session.refresh_from_db()
    assert session.jti == "original" and session.expires_at.year != 2099
    assert admin_client.get(reverse("admin:accounts_session_add")).status_code == 403


def test_adding_a_user_sets_role_and_lower_cases_the_email(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"username": "vera", "email": "Vera@Example.COM", "role": Role.VIEWER,
         "usable_password": "true", "password1": "tundra-kettle-91", "password2": "tundra-kettle-91"},
    )
    assert response.status_code == 302
    user = User.objects.get(username="vera")
    assert (user.email, user.role, user.is_staff, user.is_superuser) == ("vera@example.com", "viewer", False, False)
    assert user.check_password("tundra-kettle-91")


def test_a_duplicate_email_in_another_case_is_a_form_error(admin_client, viewer):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"username": "copy", "email": viewer.email.upper(), "role": Role.VIEWER,
         "usable_password": "true", "password1": "tundra-kettle-91", "password2": "tundra-kettle-91"},
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="copy").exists()


def test_promoting_a_user_in_the_admin_makes_them_staff(admin_client, viewer):
    page = admin_client.get(reverse("admin:accounts_user_change", args=[viewer.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update(role=Role.ADMIN, is_active="on", date_joined_0="2026-01-01", date_joined_1="00:00:00")
    data.pop("password", None)
    response = admin_client.post(reverse("admin:accounts_user_change", args=[viewer.pk]), data)
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert (viewer.role, viewer.is_staff, viewer.is_superuser) == ("admin", True, True)


def _alert_form(owner, channels):
    return {
        "user": str(owner.pk), "name": "storms", "threshold": "0.9", "source_type": "",
        "notification_channels": channels, "is_active": "on", "cooldown_seconds": "600",
    }


def test_alert_config_channels_are_validated_in_the_admin(admin_client, viewer):
    response = admin_client.post(
        reverse("admin:anomalies_alertconfig_add"),
        _alert_form(viewer, '[{"type": "email", "target": "ops@example.com"}, {"type": "pager", "target": "x"}]'),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["notification_channels"]
    assert any(error.startswith("[1].type:") for error in errors), errors
    assert not AlertConfig.objects.exists()


def test_alert_config_added_in_the_admin_is_normalised_and_keeps_a_secret(admin_client, viewer):
    response = admin_client.post(
        reverse("admin:anomalies_alertconfig_add"),
        _alert_form(viewer, '[{"type": "EMAIL", "target": " ops@example.com "}]'),
    )
    assert response.status_code == 302
    config = AlertConfig.objects.get()
    assert (config.user, config.threshold) == (viewer, 0.9)
    assert config.notification_channels == [{"type": "email", "target": "ops@example.com"}]
    assert len(config.secret) == 64
    page = admin_client.get(reverse("admin:anomalies_alertconfig_change", args=[config.pk]))
    assert config.secret.encode() not in page.content
