"""The anomalies models and the queryset methods the rest of the code relies on."""
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from anomalies.models import AlertConfig, AnomalyLog, DetectorCheckpoint, Severity

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=dt_timezone.utc)


def log(at, score=0.5, **fields):
    return AnomalyLog.objects.create_log(
        timestamp=at, source_type=fields.pop("source_type", "wikipedia"), anomaly_score=score,
        **fields,
    )


@pytest.mark.parametrize(
    "score, severity",
    [(0.0, "low"), (0.9499, "low"), (0.95, "medium"), (0.99, "high"), (0.999, "critical"), (1.0, "critical")],
)
def test_create_log_derives_severity_from_the_score(score, severity):
    stored = AnomalyLog.objects.get(pk=log(T0, score).pk)
    assert (stored.anomaly_score, stored.severity) == (score, severity)


def test_create_log_keeps_an_explicit_severity_and_every_field():
    created = log(
        T0, 0.2, severity=Severity.HIGH, is_anomaly=True, betti_h0=3, betti_h1=1, betti_h2=0,
        event_data={"edits": 12}, metadata={"window": 60}, dedup_key="wikipedia:2026-03-01T11:59:00Z",
    )
    stored = AnomalyLog.objects.get(pk=created.pk)
    assert (stored.severity, stored.is_anomaly, stored.betti_h0, stored.betti_h1) == ("high", True, 3, 1)
    assert (stored.event_data, stored.metadata) == ({"edits": 12}, {"window": 60})
    assert stored.timestamp == T0
    assert stored.dedup_key == "wikipedia:2026-03-01T11:59:00Z"
    assert stored.created_at is not None


def test_by_timeframe_includes_the_start_and_excludes_the_end():
    before, at_start, inside, at_end = (
        log(T0 - timedelta(seconds=1)), log(T0), log(T0 + timedelta(minutes=30)), log(T0 + timedelta(hours=1))
    )
    found = AnomalyLog.objects.by_timeframe(T0, T0 + timedelta(hours=1))
    assert set(found) == {at_start, inside}
    assert before not in found and at_end not in found


def test_by_timeframe_with_one_bound_or_none():
    early, late = log(T0), log(T0 + timedelta(days=1))
    assert set(AnomalyLog.objects.by_timeframe(start=T0 + timedelta(hours=1))) == {late}
    assert set(AnomalyLog.objects.by_timeframe(end=T0 + timedelta(hours=1))) == {early}
    assert set(AnomalyLog.objects.by_timeframe()) == {early, late}


def test_anomalies_only_and_chaining():
    flagged_in = log(T0, 0.999, is_anomaly=True)
    log(T0, 0.1)
    log(T0 - timedelta(days=2), 0.999, is_anomaly=True)
    result = AnomalyLog.objects.by_timeframe(T0, T0 + timedelta(hours=1)).anomalies_only()
    assert list(result) == [flagged_in]


def test_newest_first_by_default():
    old, new = log(T0), log(T0 + timedelta(minutes=1))
    assert list(AnomalyLog.objects.all()) == [new, old]


def test_the_same_window_cannot_be_stored_twice():
    log(T0, dedup_key="wikipedia:2026-03-01T12:00:00Z")
    with pytest.raises(IntegrityError), transaction.atomic():
        log(T0, dedup_key="wikipedia:2026-03-01T12:00:00Z")
    assert AnomalyLog.objects.count() == 1


def test_rows_without_a_dedup_key_get_distinct_random_ones():
    first, second = log(T0), log(T0)
    assert first.dedup_key and second.dedup_key and first.dedup_key != second.dedup_key


@pytest.mark.parametrize("score", [-0.01, 1.01])
def test_scores_outside_zero_to_one_fail_validation(score):
    with pytest.raises(ValidationError) as error:
        AnomalyLog(timestamp=T0, source_type="x", anomaly_score=score).full_clean()
    assert "anomaly_score" in error.value.message_dict


def test_alert_config_belongs_to_a_user_and_goes_with_them(make_user):
    user = make_user("ann")
    config = AlertConfig.objects.create(
        user=user, threshold=0.99, notification_channels=[{"type": "email", "target": "a@b.example"}]
    )
    stored = AlertConfig.objects.get(pk=config.pk)
    assert (stored.user, stored.threshold, stored.is_active, stored.source_type) == (user, 0.99, True, "")
    assert stored.notification_channels == [{"type": "email", "target": "a@b.example"}]
    user.delete()
    assert not AlertConfig.objects.exists()


def test_alert_threshold_outside_zero_to_one_fails_validation(make_user):
    config = AlertConfig(user=make_user("ann"), threshold=1.5, notification_channels=[])
    with pytest.raises(ValidationError) as error:
        config.full_clean()
    assert "threshold" in error.value.message_dict


def test_detector_checkpoint_is_one_per_source():
    DetectorCheckpoint.objects.create(source_key="wikipedia", state={"n": 1}, last_event_id="e1")
    with pytest.raises(IntegrityError), transaction.atomic():
        DetectorCheckpoint.objects.create(source_key="wikipedia", state={})
    assert DetectorCheckpoint.objects.get().state == {"n": 1}
