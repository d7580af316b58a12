"""Webhook targets that reach into this server's own network are refused, at save and at send."""
import pytest

from alerts import ssrf
from alerts.delivery import send_test
from alerts.worker import AlertWorker
from anomalies.models import AlertDelivery, DeliveryStatus
from alerts.tests.alerts_support import AlertReceiver, make_config, store_detections

FORBIDDEN_URLS = [
    "http://localhost:{port}/hook",  # a host name resolving to 127.0.0.1
    "http://127.0.0.1:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/",
    "http://0.0.0.0:{port}/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 for 169.254.169.254
    "http://[2002:a00:1::]/",  # 6to4 for 10.0.0.1
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.fixture
def receiver():
    server = AlertReceiver().start()
    yield server
    server.stop()


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_forbidden_targets_are_refused_at_send_time(url, receiver, settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = False
    with pytest.raises(ssrf.UnsafeTarget):
        ssrf.vetted_address(url.format(port=receiver.port))
    assert receiver.requests == []


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_forbidden_targets_are_refused_at_save_time(url, settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = False
    assert ssrf.save_time_error(url.format(port=8080))


def test_public_addresses_pass_and_unresolvable_hosts_are_checked_again_at_send(settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = False
    assert ssrf.vetted_address("https://93.184.215.14/hook") == "93.184.215.14"
    assert ssrf.vetted_address("https://[2606:4700::1111]/hook") == "2606:4700::1111"
    assert ssrf.save_time_error("https://does-not-resolve.invalid/hook") is None
    with pytest.raises(ssrf.UnsafeTarget, match="does not resolve"):
        ssrf.vetted_address("https://does-not-resolve.invalid/hook")


def test_allow_private_webhooks_admits_private_but_never_metadata(settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = True
    assert ssrf.vetted_address("http://localhost:9/hook") == "127.0.0.1"
    assert ssrf.save_time_error("http://10.1.2.3/hook") is None
    assert "metadata" in ssrf.save_time_error("http://169.254.169.254/")
    with pytest.raises(ssrf.UnsafeTarget, match="metadata"):
        ssrf.vetted_address("http://[fd00:ec2::254]/")


def test_a_host_with_any_private_address_is_refused(monkeypatch, settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = False
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.215.14", "10.0.0.7"])
    with pytest.raises(ssrf.UnsafeTarget, match="10.0.0.7"):
        ssrf.vetted_address("https://mixed.example.com/hook")


@pytest.mark.django_db
def test_delivery_to_a_target_that_became_private_fails_without_connecting(
    viewer, receiver, settings
):
    """Saved while allowed (or while its DNS pointed elsewhere); vetted again before sending."""
    settings.ALLOW_PRIVATE_WEBHOOKS = False
    make_config(viewer, [{"type": "webhook", "target": receiver.url(host="localhost")}])
    store_detections(0.9)

    AlertWorker(poll_interval=0).run_once()

    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "Refused target" in delivery.last_error and "127.0.0.1" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_test_notification_to_metadata_address_fails_without_connecting(viewer, settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = True
    config = make_config(viewer, [{"type": "slack", "target": "http://169.254.169.254/x"}])
    [delivery] = send_test(config)
    assert delivery.status == DeliveryStatus.FAILED
    assert "metadata" in AlertDelivery.objects.get().last_error


@pytest.mark.django_db
def test_send_connects_to_the_vetted_address_not_a_second_lookup(viewer, receiver, settings, monkeypatch):
    """DNS rebinding: the name is resolved once; a second, different answer is never used."""
    settings.ALLOW_PRIVATE_WEBHOOKS = True
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: next(answers))
    make_config(viewer, [{"type": "webhook", "target": receiver.url(host="hooks.example.com")}])
    store_detections(0.9)

    AlertWorker(poll_interval=0).run_once()

    assert AlertDelivery.objects.get().status == DeliveryStatus.SENT
    [request] = receiver.requests
    assert request.headers["Host"] == f"hooks.example.com:{receiver.port}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    [
        "https://localhost/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
    ],
)
def test_saving_a_config_with_a_forbidden_target_is_400(client_for, viewer, settings, target):
    settings.ALLOW_PRIVATE_WEBHOOKS = False
    body = {
        "name": "x",
        "threshold": 0.5,
        "notification_channels": [
            {"type": "email", "target": "a@example.com"},
            {"type": "slack", "target": target},
        ],
    }
    response = client_for(viewer).post("/api/alerts/configs", body, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["notification_channels[1].target"]
    assert "address" in fields["notification_channels[1].target"][0]
    assert not viewer.alert_configs.exists()


@pytest.mark.django_db
def test_saving_a_private_target_is_allowed_with_allow_private_webhooks(client_for, viewer, settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = True
    body = {
        "threshold": 0.5,
        "notification_channels": [{"type": "webhook", "target": "https://10.0.0.8/hook"}],
    }
    response = client_for(viewer).post("/api/alerts/configs", body, format="json")
    assert response.status_code == 201
    assert viewer.alert_configs.get().notification_channels[0]["target"] == "https://10.0.0.8/hook"
