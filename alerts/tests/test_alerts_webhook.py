"""Webhook and Slack deliveries against a real receiver on 127.0.0.1: signature, body, retries."""
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from alerts import channels, ssrf
from alerts.delivery import max_attempts, retry_delay
from alerts.worker import AlertWorker
from anomalies.models import AlertDelivery, DeliveryStatus
from alerts.tests.alerts_support import AlertReceiver, make_config, store_detections

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_webhooks_allowed")]


@pytest.fixture
def private_webhooks_allowed(settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = True


@pytest.fixture
def receiver():
    server = AlertReceiver().start()
    yield server
    server.stop()


def run_worker():
    return AlertWorker(poll_interval=0).run_once()


def make_due(delivery):
    AlertDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_webhook_is_signed_with_the_config_secret_over_timestamp_and_body(viewer, receiver):
    config = make_config(viewer, [{"type": "webhook", "target": receiver.url()}], threshold=0.8)
    stored = store_detections(0.95, source_type="wikipedia")

    assert run_worker() == 1

    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers["X-TopoForge-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 30
    expected = hmac.new(
        config.secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-TopoForge-Signature"] == f"sha256={expected}"
    assert channels.verify_signature(
        config.secret, timestamp, request.body, request.headers["X-TopoForge-Signature"]
    )
    # The same body signed at another time does not verify: the timestamp is signed too.
    assert not channels.verify_signature(
        config.secret, str(int(timestamp) - 1), request.body,
        request.headers["X-TopoForge-Signature"],
    )

    body = json.loads(request.body)
    delivery = AlertDelivery.objects.get()
    assert request.headers["X-TopoForge-Delivery"] == str(delivery.pk)
    assert body["event"] == "alert"
    assert body["delivery_id"] == str(delivery.pk)
    assert body["config"]["id"] == str(config.pk) and body["config"]["threshold"] == 0.8
    assert body["detection_count"] == 1
    assert body["max_score"] == 0.95
    assert body["detection"]["id"] == str(stored[0].pk)
    assert body["detection"]["source_type"] == "wikipedia"
    assert body["first_detection_at"].endswith("Z")
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
    assert delivery.sent_at is not None and delivery.last_error == ""


def test_webhook_retries_after_500s_with_backoff_then_succeeds(viewer):
    receiver = AlertReceiver(statuses=[500, 500, 200]).start()
    try:
        make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
        store_detections(0.9)
        delivery = AlertDelivery.objects.get()

        before = timezone.now()
        run_worker()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        assert "HTTP 500" in delivery.last_error
        assert delivery.next_attempt_at >= before + retry_delay(1)
        assert run_worker() == 0  # not due yet: nothing is sent early
        assert len(receiver.requests) == 1

        with freeze_time(delivery.next_attempt_at + timedelta(seconds=1)):
            run_worker()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 2)
        assert retry_delay(2) == 2 * retry_delay(1)

        with freeze_time(delivery.next_attempt_at + timedelta(seconds=1)):
            run_worker()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 3)
        assert delivery.last_error == ""
        # Every retry carried the same delivery and the same body.
        assert len(receiver.requests) == 3
        assert len({request.body for request in receiver.requests}) == 1
        assert {r.headers["X-TopoForge-Delivery"] for r in receiver.requests} == {str(delivery.pk)}
    finally:
        receiver.stop()


def test_webhook_gives_up_an_hour_after_the_first_attempt(viewer):
    receiver = AlertReceiver(statuses=[503]).start()
    try:
        make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
        store_detections(0.9)
        delivery = AlertDelivery.objects.get()
        first_attempt = timezone.now()
        for _ in range(max_attempts()):
            with freeze_time(max(delivery.next_attempt_at, first_attempt)):
                run_worker()
            delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.FAILED
        assert delivery.attempts == max_attempts() == len(receiver.requests)
        assert delivery.next_attempt_at - first_attempt <= timedelta(hours=1, minutes=1)
        assert "HTTP 503" in delivery.last_error
    finally:
        receiver.stop()


def test_webhook_client_error_is_not_retried(viewer):
    receiver = AlertReceiver(statuses=[404]).start()
    try:
        make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
        store_detections(0.9)
        run_worker()
        delivery = AlertDelivery.objects.get()
        assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
        assert "HTTP 404" in delivery.last_error
    finally:
        receiver.stop()


def test_webhook_redirect_is_not_followed(viewer):
    target = AlertReceiver().start()
    redirector = AlertReceiver(statuses=[307], location=target.url("/elsewhere")).start()
    try:
        make_config(viewer, [{"type": "webhook", "target": redirector.url()}])
        store_detections(0.9)
        run_worker()
        delivery = AlertDelivery.objects.get()
        assert delivery.status == DeliveryStatus.FAILED
        assert "redirects are not followed" in delivery.last_error
        assert len(redirector.requests) == 1 and target.requests == []
    finally:
        redirector.stop()
        target.stop()


def test_webhook_timeout_is_a_retryable_failure(viewer, monkeypatch):
    monkeypatch.setattr(channels, "WEBHOOK_TIMEOUT_SECONDS", 0.3)
    receiver = AlertReceiver(delay_seconds=1.0).start()
    try:
        make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
        store_detections(0.9)
        run_worker()
        delivery = AlertDelivery.objects.get()
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
        assert "Timed out" in delivery.last_error
    finally:
        receiver.stop()


def test_slack_receives_incoming_webhook_format(viewer, receiver):
    make_config(viewer, [{"type": "slack", "target": receiver.url("/services/T0/B0/x")}], name="edits")
    store_detections(0.91, 0.97)
    run_worker()

    [request] = receiver.requests
    assert request.path == "/services/T0/B0/x"
    message = json.loads(request.body)
    assert "edits" in message["text"] and "2 detections" in message["text"]
    assert "0.970" in message["text"]
    assert message["blocks"][0]["type"] == "header"
    assert "2 detection(s) reached the threshold 0.80" in message["blocks"][1]["text"]["text"]
    assert "X-TopoForge-Signature" not in request.headers
    assert AlertDelivery.objects.get().status == DeliveryStatus.SENT


def test_detection_posted_to_the_api_reaches_the_webhook(client_for, admin, viewer, receiver,
                                                          django_capture_on_commit_callbacks):
    """End to end: POST /api/anomalies stores, the matcher queues, the worker delivers."""
    config = make_config(viewer, [{"type": "webhook", "target": receiver.url()}], threshold=0.9)
    detections = [
        {"timestamp": "2024-03-01T12:00:00Z", "source_type": "ndjson", "anomaly_score": score}
        for score in (0.5, 0.93, 0.97)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post("/api/anomalies", detections, format="json")
    assert response.status_code == 201

    assert run_worker() == 1
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["config"]["id"] == str(config.pk)
    assert body["detection_count"] == 2 and body["max_score"] == 0.97
    assert body["detection"]["id"] == response.json()[2]["id"]


def test_slack_text_cannot_ping_the_channel(viewer, receiver):
    make_config(viewer, [{"type": "slack", "target": receiver.url()}], name="<!channel> & co")
    store_detections(0.9)
    run_worker()
    message = json.loads(receiver.requests[0].body)
    # Slack parses mentions in `text` and mrkdwn, never in plain_text (the header).
    assert "&lt;!channel&gt; &amp; co" in message["text"]
    assert "&lt;!channel&gt; &amp; co" in message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in message["text"] + message["blocks"][1]["text"]["text"]
    assert message["blocks"][0]["text"]["type"] == "plain_text"



def test_webhook_to_an_ipv6_literal_sends_a_bracketed_host_header(viewer):
    try:
        receiver = AlertReceiver(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
        store_detections(0.9)
        run_worker()
        [request] = receiver.requests
        assert request.headers["Host"] == f"[::1]:{receiver.port}"
        assert AlertDelivery.objects.get().status == DeliveryStatus.SENT
    finally:
        receiver.stop()


@pytest.fixture
def tls_receiver(tmp_path):
    """A TLS receiver on 127.0.0.1 with a self-signed certificate, recording the SNI it is sent."""
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=hooks.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    seen = {"sni": []}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def accept_one():
        try:
            connection, _ = listener.accept()
            with context.wrap_socket(connection, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass  # the client refuses our untrusted certificate, as it must

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    seen["port"] = listener.getsockname()[1]
    yield seen
    thread.join(10)
    listener.close()


def test_https_goes_to_the_vetted_address_with_the_host_name_for_sni_and_verification(
    viewer, tls_receiver, monkeypatch
):
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    url = f"https://hooks.example.com:{tls_receiver['port']}/hook"
    make_config(viewer, [{"type": "webhook", "target": url}])
    store_detections(0.9)

    run_worker()

    assert tls_receiver["sni"] == ["hooks.example.com"]
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING  # retried later, never sent unverified
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
