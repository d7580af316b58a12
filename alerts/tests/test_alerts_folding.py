"""Which stored detections raise alerts, and how a cooldown folds them into one per config."""
import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from alerts.worker import AlertWorker
from anomalies.models import AlertConfig, AlertDelivery, AnomalyLog, DeliveryStatus
from anomalies.signals import detections_stored
from alerts.tests.alerts_support import make_config, store_detections

pytestmark = pytest.mark.django_db

EMAIL = [{"type": "email", "target": "oncall@example.com"}]


@pytest.fixture(autouse=True)
def locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def send_due():
    return AlertWorker(poll_interval=0).run_once()


def test_detection_at_threshold_queues_one_delivery_per_channel(viewer):
    config = make_config(
        viewer, EMAIL + [{"type": "webhook", "target": "https://hooks.example.com/x"}],
        threshold=0.8,
    )
    store_detections(0.8)

    deliveries = AlertDelivery.objects.order_by("channel__type")
    assert [d.channel["type"] for d in deliveries] == ["email", "webhook"]
    for delivery in deliveries:
        assert delivery.config == config
        assert (delivery.kind, delivery.status, delivery.attempts) == ("alert", "pending", 0)
        assert delivery.detection_count == 1 and delivery.max_score == 0.8
        assert delivery.next_attempt_at <= timezone.now()


def test_detections_below_threshold_other_sources_or_inactive_configs_queue_nothing(viewer):
    make_config(viewer, EMAIL, threshold=0.8)
    make_config(viewer, EMAIL, threshold=0.5, source_type="ndjson")
    make_config(viewer, EMAIL, threshold=0.1, is_active=False)
    make_config(viewer, [], threshold=0.1)  # no channels: nobody to tell

    store_detections(0.79, 0.6, source_type="wikipedia")

    assert AlertDelivery.objects.count() == 0
    assert AnomalyLog.objects.count() == 2


def test_source_filter_matches_only_its_source(viewer):
    config = make_config(viewer, EMAIL, threshold=0.5, source_type="ndjson")
    store_detections(0.9, source_type="wikipedia")
    store_detections(0.6, source_type="ndjson")

    delivery = AlertDelivery.objects.get()
    assert delivery.config == config
    assert delivery.payload["detection"]["source_type"] == "ndjson"


def test_detections_within_cooldown_fold_into_one_later_alert(viewer):
    config = make_config(viewer, EMAIL, threshold=0.8, cooldown_seconds=600)
    start = timezone.now().replace(microsecond=0)

    with freeze_time(start):
        store_detections(0.9)  # opens an alert due now
        send_due()
    assert len(mail.outbox) == 1
    assert "1 detection," in mail.outbox[0].subject

    with freeze_time(start + timedelta(minutes=1)):
        store_detections(0.85, 0.95)
    with freeze_time(start + timedelta(minutes=5)):
        store_detections(0.82)
        send_due()
    assert len(mail.outbox) == 1  # still in the cooldown: folded, not sent

    later = AlertDelivery.objects.filter(status=DeliveryStatus.PENDING).get()
    assert later.next_attempt_at == start + timedelta(minutes=10)
    assert later.detection_count == 3
    assert later.max_score == 0.95
    assert later.first_detection_at == start + timedelta(minutes=1)
    assert later.last_detection_at == start + timedelta(minutes=5)
    config.refresh_from_db()
    assert config.last_alert_at == start + timedelta(minutes=10)

    with freeze_time(start + timedelta(minutes=10)):
        send_due()
    assert len(mail.outbox) == 2
    assert "3 detections, peak score 0.950" in mail.outbox[1].subject
    assert AlertDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 2


def test_after_a_quiet_cooldown_the_next_detection_alerts_at_once(viewer):
    make_config(viewer, EMAIL, cooldown_seconds=600)
    start = timezone.now().replace(microsecond=0)
    with freeze_time(start):
        store_detections(0.9)
        send_due()
    with freeze_time(start + timedelta(minutes=30)):
        store_detections(0.9)
        assert AlertDelivery.objects.filter(status="pending").get().next_attempt_at == (
            start + timedelta(minutes=30)
        )
        send_due()
    assert len(mail.outbox) == 2


def test_each_config_has_its_own_cooldown(viewer, other_viewer):
    make_config(viewer, EMAIL, threshold=0.8)
    make_config(other_viewer, [{"type": "email", "target": "olga@example.com"}], threshold=0.5)
    store_detections(0.9)
    send_due()
    assert sorted(message.to[0] for message in mail.outbox) == [
        "olga@example.com", "oncall@example.com",
    ]


def test_email_goes_through_the_email_backend_with_the_detection(viewer):
    make_config(viewer, EMAIL, name="wiki edits", threshold=0.7)
    [detection] = store_detections(0.93, source_type="wikipedia")
    send_due()

    [message] = mail.outbox
    assert message.to == ["oncall@example.com"]
    assert message.subject == "[TopoForge] wiki edits: 1 detection, peak score 0.930"
    assert "reached the threshold 0.70" in message.body
    assert f"id {detection.pk}" in message.body
    delivery = AlertDelivery.objects.get()
    assert message.extra_headers["X-TopoForge-Delivery"] == str(delivery.pk)
    assert delivery.status == DeliveryStatus.SENT


def test_email_backend_failure_is_stored_and_retried(viewer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    make_config(viewer, EMAIL)
    store_detections(0.9)
    send_due()
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.last_error.startswith("Email not sent: ConnectionRefusedError")
    assert delivery.next_attempt_at > timezone.now()


def test_a_failing_matcher_never_raises_into_the_store(viewer, monkeypatch, caplog):
    make_config(viewer, EMAIL)

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(AlertConfig.objects, "filter", broken)
    detection = AnomalyLog.objects.create_log(
        timestamp=timezone.now(), source_type="wikipedia", anomaly_score=0.9
    )
    with caplog.at_level(logging.ERROR, logger="alerts.matching"):
        responses = detections_stored.send(sender=AnomalyLog, detections=[detection])

    assert all(not isinstance(result, Exception) for _, result in responses)
    assert "could not queue alerts" in caplog.text
    assert AnomalyLog.objects.filter(pk=detection.pk).exists()
    assert AlertDelivery.objects.count() == 0


def test_deactivating_a_config_cancels_its_queued_alerts(viewer):
    config = make_config(viewer, EMAIL)
    store_detections(0.9)
    AlertConfig.objects.filter(pk=config.pk).update(is_active=False)

    send_due()

    assert mail.outbox == []
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "deactivated" in delivery.last_error


def test_a_config_name_cannot_break_the_email_subject(viewer):
    make_config(viewer, EMAIL, name="cpu\r\nBcc: victim@example.com")
    store_detections(0.9)
    send_due()
    [message] = mail.outbox
    assert message.subject.startswith("[TopoForge] cpu Bcc: victim@example.com:")
    assert message.recipients() == ["oncall@example.com"]


def statements(captured):
    """The SQL statements run, without the savepoints of the test's enclosing transaction."""
    return [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def test_matching_a_large_batch_costs_a_few_queries(viewer):
    """The store's writer thread runs the matcher: its cost must not grow with the batch."""
    make_config(viewer, EMAIL, threshold=0.8)
    make_config(viewer, EMAIL, threshold=0.99)  # not reached: no work beyond the config query
    now = timezone.now()
    detections = AnomalyLog.objects.bulk_create(
        AnomalyLog(timestamp=now + timedelta(seconds=i), source_type="wikipedia",
                   anomaly_score=0.5 + (i % 40) / 100, dedup_key=f"k{i}")
        for i in range(500)
    )
    with CaptureQueriesContext(connection) as opening:
        detections_stored.send(sender=AnomalyLog, detections=detections)
    # configs; no open alert to fold into; schedule the next alert (compare-and-set); insert
    assert len(statements(opening)) == 4
    detections_stored.send(sender=AnomalyLog, detections=detections)  # opens the next alert
    with CaptureQueriesContext(connection) as folding:
        detections_stored.send(sender=AnomalyLog, detections=detections)
    # configs; fold the count, then widen first/last time and peak score where needed
    assert len(statements(folding)) == 5
    matched = sum(1 for d in detections if d.anomaly_score >= 0.8)
    counts = AlertDelivery.objects.order_by("next_attempt_at").values_list("detection_count", flat=True)
    assert list(counts) == [matched, 2 * matched]
