"""GET /api/alerts/deliveries, POST /api/alerts/configs/{id}/test and .../secret."""
import json

import pytest
from django.core import mail

from alerts import channels
from anomalies.models import AlertConfig, AlertDelivery
from alerts.tests.alerts_support import AlertReceiver, make_config, store_detections

pytestmark = pytest.mark.django_db

EMAIL = [{"type": "email", "target": "oncall@example.com"}]


@pytest.fixture(autouse=True)
def test_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALLOW_PRIVATE_WEBHOOKS = True


def test_deliveries_list_shows_own_configs_only(client_for, viewer, other_viewer):
    mine = make_config(viewer, EMAIL, threshold=0.8)
    make_config(other_viewer, EMAIL, threshold=0.8)
    store_detections(0.9)

    response = client_for(viewer).get("/api/alerts/deliveries")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [delivery] = body["results"]
    assert delivery["config"] == str(mine.pk)
    assert delivery["id"] == str(AlertDelivery.objects.get(config=mine).pk)
    assert delivery["status"] == "pending" and delivery["kind"] == "alert"
    assert delivery["channel"] == EMAIL[0]
    assert delivery["detection_count"] == 1 and delivery["max_score"] == 0.9
    assert delivery["created_at"].endswith("Z")


def test_admin_sees_every_delivery_and_filters_by_status_and_config(client_for, admin, viewer, other_viewer):
    first = make_config(viewer, EMAIL)
    second = make_config(other_viewer, EMAIL)
    store_detections(0.9)
    AlertDelivery.objects.filter(config=first).update(status="sent")
    client = client_for(admin)

    assert client.get("/api/alerts/deliveries").json()["count"] == 2
    sent = client.get("/api/alerts/deliveries", {"status": "sent"}).json()["results"]
    assert [d["config"] for d in sent] == [str(first.pk)]
    by_config = client.get("/api/alerts/deliveries", {"config": str(second.pk)}).json()["results"]
    assert [d["config"] for d in by_config] == [str(second.pk)]


def test_deliveries_list_rejects_bad_filters_naming_the_field(client_for, viewer):
    client = client_for(viewer)
    response = client.get("/api/alerts/deliveries", {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]
    response = client.get("/api/alerts/deliveries", {"config": "not-an-id"})
    assert response.status_code == 400
    assert "config" in response.json()["error"]["fields"]


def test_deliveries_need_authentication(api_client):
    response = api_client.get("/api/alerts/deliveries")
    assert response.status_code == 401
    assert response.json()["error"]["code"]


def test_test_notification_is_sent_now_and_returned(client_for, viewer):
    receiver = AlertReceiver().start()
    try:
        config = make_config(
            viewer, EMAIL + [{"type": "webhook", "target": receiver.url()}], is_active=False
        )
        response = client_for(viewer).post(f"/api/alerts/configs/{config.pk}/test")
    finally:
        receiver.stop()

    assert response.status_code == 201
    deliveries = response.json()
    assert [(d["kind"], d["status"], d["attempts"]) for d in deliveries] == [
        ("test", "sent", 1), ("test", "sent", 1),
    ]
    assert set(AlertDelivery.objects.values_list("kind", "status")) == {("test", "sent")}
    [message] = mail.outbox
    assert message.subject == "[TopoForge] Test notification for cpu spikes"
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["event"] == "test" and body["detection_count"] == 0 and body["detection"] is None
    assert request.headers["X-TopoForge-Event"] == "test"
    assert channels.verify_signature(
        config.secret, request.headers["X-TopoForge-Timestamp"], request.body,
        request.headers["X-TopoForge-Signature"],
    )


def test_failed_test_notification_reports_the_error_without_retrying(client_for, viewer):
    receiver = AlertReceiver(statuses=[500]).start()
    try:
        config = make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
        response = client_for(viewer).post(f"/api/alerts/configs/{config.pk}/test")
    finally:
        receiver.stop()
    assert response.status_code == 201
    [delivery] = response.json()
    assert delivery["status"] == "failed" and "HTTP 500" in delivery["last_error"]
    assert AlertDelivery.objects.get().status == "failed"


def test_test_notification_of_someone_elses_config_is_404(client_for, viewer, other_viewer, admin):
    config = make_config(other_viewer, EMAIL)
    response = client_for(viewer).post(f"/api/alerts/configs/{config.pk}/test")
    assert response.status_code == 404
    assert AlertDelivery.objects.count() == 0
    assert client_for(admin).post(f"/api/alerts/configs/{config.pk}/test").status_code == 201
    assert client_for(viewer).post("/api/alerts/configs/nope/test").status_code == 404


def test_test_notification_without_channels_is_400(client_for, viewer):
    config = make_config(viewer, [])
    response = client_for(viewer).post(f"/api/alerts/configs/{config.pk}/test")
    assert response.status_code == 400
    assert "notification_channels" in response.json()["error"]["fields"]


def test_rotating_the_secret_returns_a_new_one_and_signs_with_it(client_for, viewer, other_viewer):
    config = make_config(viewer, EMAIL)
    old = config.secret

    response = client_for(viewer).post(f"/api/alerts/configs/{config.pk}/secret")

    assert response.status_code == 200
    new = response.json()["secret"]
    assert len(new) == 64 and new != old
    assert AlertConfig.objects.get(pk=config.pk).secret == new
    assert client_for(other_viewer).post(f"/api/alerts/configs/{config.pk}/secret").status_code == 404
    assert AlertConfig.objects.get(pk=config.pk).secret == new


def test_secret_is_shown_once_on_create_and_never_listed(client_for, viewer):
    client = client_for(viewer)
    body = {"name": "cpu", "threshold": 0.7, "notification_channels": EMAIL, "cooldown_seconds": 120}

    created = client.post("/api/alerts/configs", body, format="json")

    assert created.status_code == 201
    config = AlertConfig.objects.get()
    assert created.json()["secret"] == config.secret and len(config.secret) == 64
    assert created.json()["cooldown_seconds"] == 120 and config.cooldown_seconds == 120
    detail = client.get(f"/api/alerts/configs/{config.pk}").json()
    assert "secret" not in detail and detail["cooldown_seconds"] == 120
    assert "secret" not in client.get("/api/alerts/configs").json()["results"][0]
    weak = client.patch(f"/api/alerts/configs/{config.pk}", {"secret": "mine"}, format="json")
    assert weak.status_code == 400 and list(weak.json()["error"]["fields"]) == ["secret"]
    assert AlertConfig.objects.get().secret == config.secret
    chosen = "s" * 40
    patched = client.patch(f"/api/alerts/configs/{config.pk}", {"secret": chosen}, format="json")
    assert patched.status_code == 200 and "secret" not in patched.json()
    assert AlertConfig.objects.get().secret == chosen


def test_a_chosen_secret_is_used_and_echoed_once(client_for, viewer):
    chosen = "k" * 48
    body = {"threshold": 0.7, "notification_channels": EMAIL, "secret": chosen}
    created = client_for(viewer).post("/api/alerts/configs", body, format="json")
    assert created.status_code == 201 and created.json()["secret"] == chosen
    assert AlertConfig.objects.get().secret == chosen


def test_secrets_differ_between_configs_and_cooldown_defaults_to_ten_minutes(client_for, viewer):
    client = client_for(viewer)
    body = {"threshold": 0.7, "notification_channels": EMAIL}
    first = client.post("/api/alerts/configs", body, format="json").json()
    second = client.post("/api/alerts/configs", body, format="json").json()
    assert first["secret"] != second["secret"]
    assert first["cooldown_seconds"] == 600


@pytest.mark.parametrize("cooldown", [-1, 7 * 24 * 3600 + 1, "soon"])
def test_invalid_cooldown_is_400_naming_the_field(client_for, viewer, cooldown):
    body = {"threshold": 0.7, "notification_channels": EMAIL, "cooldown_seconds": cooldown}
    response = client_for(viewer).post("/api/alerts/configs", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["cooldown_seconds"]
    assert AlertConfig.objects.count() == 0
