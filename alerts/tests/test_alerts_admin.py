"""Django admin: deliveries and feedback are visible and filterable; failed deliveries can be retried."""
import pytest
from django.urls import reverse
from django.utils import timezone

from anomalies.models import AlertDelivery, AnomalyLog, Feedback
from alerts.tests.alerts_support import make_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def test_retry_now_makes_failed_deliveries_due_again(admin_client, admin):
    config = make_config(admin, [{"type": "email", "target": "ops@example.com"}])
    failed = AlertDelivery.objects.create(
        config=config, channel=config.notification_channels[0], status="failed", attempts=10,
        last_error="HTTP 503",
    )
    sent = AlertDelivery.objects.create(
        config=config, channel=config.notification_channels[0], status="sent", attempts=1
    )
    response = admin_client.post(
        reverse("admin:anomalies_alertdelivery_changelist"),
        {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert failed.next_attempt_at <= timezone.now()
    assert failed.last_error == "HTTP 503"  # kept until the next attempt replaces it
    assert (sent.status, sent.attempts) == ("sent", 1)


def test_deliveries_filter_by_status(admin_client, admin):
    config = make_config(admin, [{"type": "email", "target": "ops@example.com"}])
    failed = AlertDelivery.objects.create(config=config, channel={}, status="failed")
    AlertDelivery.objects.create(config=config, channel={}, status="sent")
    response = admin_client.get(
        reverse("admin:anomalies_alertdelivery_changelist"), {"status__exact": "failed"}
    )
    assert [row.pk for row in response.context["cl"].result_list] == [failed.pk]


def test_detections_filter_by_current_feedback_label(admin_client, admin):
    def detection(label):
        log = AnomalyLog.objects.create_log(
            timestamp=timezone.now(), source_type="wikipedia", anomaly_score=0.9
        )
        if label:
            Feedback.objects.create(anomaly=log, user=admin, label=label)
            AnomalyLog.objects.filter(pk=log.pk).update(feedback_label=label)
        return log

    wrong = detection("not_anomaly")
    detection("anomaly")
    detection("")
    response = admin_client.get(
        reverse("admin:anomalies_anomalylog_changelist"), {"feedback_label__exact": "not_anomaly"}
    )
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [wrong.pk]
    response = admin_client.get(
        reverse("admin:anomalies_feedback_changelist"), {"label__exact": "not_anomaly"}
    )
    assert [row.anomaly_id for row in response.context["cl"].result_list] == [wrong.pk]
