"""purge_sessions and purge_anomalies: what they delete, what they keep, --dry-run."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Session
from anomalies.models import AnomalyLog, Feedback

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def run(command, *args):
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def sessions(viewer, settings):
    settings.TOPOFORGE_SESSION_RETENTION_DAYS = 7
    now = timezone.now()

    def session(jti, expires_at, revoked_at=None):
        return Session.objects.create(
            user=viewer, jti=jti, expires_at=expires_at, revoked_at=revoked_at,
            created_at=expires_at - 7 * DAY,
        )

    return {
        "live": session("live", now + DAY),
        "expired_recently": session("expired_recently", now - 6 * DAY),
        "expired_long_ago": session("expired_long_ago", now - 8 * DAY),
        "revoked_recently": session("revoked_recently", now + DAY, revoked_at=now - 6 * DAY),
        "revoked_long_ago": session("revoked_long_ago", now + DAY, revoked_at=now - 8 * DAY),
    }


def test_purge_sessions_deletes_those_ended_before_the_retention(sessions):
    output = run("purge_sessions")
    assert output.startswith("Deleted 2 sessions ended before ")
    assert "(7 days of retention)" in output
    assert set(Session.objects.values_list("jti", flat=True)) == {
        "live", "expired_recently", "revoked_recently"
    }


def test_purge_sessions_dry_run_counts_and_keeps_everything(sessions):
    assert run("purge_sessions", "--dry-run").startswith("Would delete 2 sessions ended before ")
    assert Session.objects.count() == 5


def test_purge_sessions_follows_the_setting(sessions, settings):
    settings.TOPOFORGE_SESSION_RETENTION_DAYS = 5
    assert run("purge_sessions").startswith("Deleted 4 sessions")
    assert list(Session.objects.values_list("jti", flat=True)) == ["live"]


def _log(age, **fields):
    return AnomalyLog.objects.create_log(
        timestamp=timezone.now() - age, source_type="wikipedia", anomaly_score=0.5, **fields
    )


def test_purge_anomalies_deletes_old_logs_with_their_feedback(settings, viewer):
    settings.TOPOFORGE_ANOMALY_RETENTION_DAYS = 90
    kept = [_log(89 * DAY), _log(timedelta(0))]
    old = [_log(91 * DAY), _log(400 * DAY)]
    Feedback.objects.create(anomaly=old[0], user=viewer, label="expected")
    Feedback.objects.create(anomaly=kept[0], user=viewer, label="anomaly")

    output = run("purge_anomalies")

    assert output.startswith("Deleted 2 anomaly logs older than ")
    assert output.endswith("(90 days of retention), with 1 feedback")
    assert set(AnomalyLog.objects.all()) == set(kept)
    assert list(Feedback.objects.values_list("anomaly", flat=True)) == [kept[0].pk]


def test_purge_anomalies_dry_run(settings):
    settings.TOPOFORGE_ANOMALY_RETENTION_DAYS = 30
    _log(31 * DAY), _log(29 * DAY)
    assert run("purge_anomalies", "--dry-run").startswith("Would delete 1 anomaly logs older than ")
    assert AnomalyLog.objects.count() == 2


def test_purge_anomalies_in_batches(settings, monkeypatch):
    from anomalies.management.commands import purge_anomalies

    monkeypatch.setattr(purge_anomalies, "BATCH_SIZE", 2)
    settings.TOPOFORGE_ANOMALY_RETENTION_DAYS = 1
    for days in range(2, 7):
        _log(days * DAY)
    assert run("purge_anomalies").startswith("Deleted 5 anomaly logs")
    assert not AnomalyLog.objects.exists()


@pytest.mark.parametrize("command, setting", [
    ("purge_sessions", "TOPOFORGE_SESSION_RETENTION_DAYS"),
    ("purge_anomalies", "TOPOFORGE_ANOMALY_RETENTION_DAYS"),
])
def test_a_retention_below_one_day_is_refused(settings, command, setting):
    setattr(settings, setting, 0)
    _log(2 * DAY)
    with pytest.raises(CommandError, match=f"{setting} must be at least 1"):
        run(command)
    assert AnomalyLog.objects.count() == 1
