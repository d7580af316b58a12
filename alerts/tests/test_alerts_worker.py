"""The worker: stored deliveries survive restarts and crashes and are sent exactly once."""
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time

from alerts.delivery import CLAIM_LEASE, claim_due
from alerts.worker import AlertWorker
from anomalies.models import AlertDelivery, DeliveryStatus
from alerts.tests.alerts_support import AlertReceiver, make_config, store_detections

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_webhooks_allowed(settings):
    settings.ALLOW_PRIVATE_WEBHOOKS = True


@pytest.fixture
def receiver():
    server = AlertReceiver().start()
    yield server
    server.stop()


def queue_three_alerts(user, receiver):
    """Three configs, one detection: three pending deliveries and no worker running yet."""
    for index in range(3):
        make_config(user, [{"type": "webhook", "target": receiver.url(f"/hook/{index}")}])
    store_detections(0.9)
    assert AlertDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3


@pytest.mark.django_db
def test_pending_deliveries_are_sent_once_by_a_restarted_worker(viewer, receiver):
    queue_three_alerts(viewer, receiver)

    assert AlertWorker(poll_interval=0).run_once() == 3  # the worker after a restart
    assert AlertWorker(poll_interval=0).run_once() == 0  # and after another one

    assert sorted(request.path for request in receiver.requests) == [
        "/hook/0", "/hook/1", "/hook/2",
    ]
    assert set(AlertDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}


@pytest.mark.django_db
def test_claim_of_a_worker_that_died_mid_send_expires_then_is_sent_once(viewer, receiver):
    make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
    store_detections(0.9)
    [claimed] = claim_due()  # a worker claimed it, then the process was killed
    assert claimed.attempts == 1

    assert AlertWorker(poll_interval=0).run_once() == 0  # the lease still holds
    assert receiver.requests == []

    with freeze_time(timezone.now() + CLAIM_LEASE + timedelta(seconds=1)):
        assert AlertWorker(poll_interval=0).run_once() == 1
        assert AlertWorker(poll_interval=0).run_once() == 0
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_claimed_again(viewer, receiver):
    make_config(viewer, [{"type": "webhook", "target": receiver.url()}])
    store_detections(0.9)
    assert len(claim_due()) == 1
    assert claim_due() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres  # SQLite's in-memory test database locks whole tables between threads
def test_concurrent_workers_send_each_delivery_once(viewer, receiver):
    for index in range(12):
        make_config(viewer, [{"type": "webhook", "target": receiver.url(f"/hook/{index}")}])
    store_detections(0.9)

    def run_worker():
        try:
            AlertWorker(concurrency=3, poll_interval=0).run_once()
        finally:
            connection.close()  # each thread has its own connection

    # Two worker processes' worth: two workers of three threads each, claiming at once.
    threads = [threading.Thread(target=run_worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(receiver.requests) == 12
    assert len({request.path for request in receiver.requests}) == 12
    assert set(AlertDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}


@pytest.mark.django_db
def test_alert_worker_command_once_sends_what_is_due(viewer, receiver, capsys):
    queue_three_alerts(viewer, receiver)
    call_command("alert_worker", "--once", "--concurrency", "1")
    assert "3 deliveries attempted." in capsys.readouterr().out
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.slow
def test_worker_processes_restarted_deliver_pending_alerts_once(viewer, receiver):
    """Real processes against the test database: a first worker, then a restarted one."""
    queue_three_alerts(viewer, receiver)
    environment = {
        **os.environ,
        "DATABASE_NAME": connection.settings_dict["NAME"],
        "ALLOW_PRIVATE_WEBHOOKS": "1",
    }
    command = [sys.executable, "manage.py", "alert_worker", "--once"]
    for expected in ("3 deliveries attempted.", "0 deliveries attempted."):
        finished = subprocess.run(
            command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=60
        )
        assert finished.returncode == 0, finished.stderr
        assert expected in finished.stdout
    assert len(receiver.requests) == 3
    assert set(AlertDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.slow
def test_worker_process_stops_cleanly_on_sigterm(viewer, receiver):
    queue_three_alerts(viewer, receiver)
    environment = {
        **os.environ,
        "DATABASE_NAME": connection.settings_dict["NAME"],
        "ALLOW_PRIVATE_WEBHOOKS": "1",
        "ALERT_WORKER_POLL_SECONDS": "0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "alert_worker"], cwd=REPO, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = timezone.now() + timedelta(seconds=30)
        while len(receiver.requests) < 3 and timezone.now() < deadline:
            threading.Event().wait(0.1)
        process.terminate()
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert len(receiver.requests) == 3
    assert set(AlertDelivery.objects.values_list("status", flat=True)) == {"sent"}
