"""POST /api/events: validated batches into the durable inbox, read back by the http source."""
import pytest

from anomalies.models import IngestedEvent
from streams.sources.inbox import InboxSource

pytestmark = pytest.mark.django_db

URL = "/api/events"


def batch(events, stream="checkout"):
    return {"stream": stream, "events": events}


def test_admin_pushes_a_batch_and_it_is_stored_in_order(client_for, admin):
    events = [
        {"timestamp": "2026-01-01T12:00:00Z", "value": 182.5, "key": "web-1", "type": "latency_ms"},
        {"timestamp": 1767268801, "value": 240, "key": "web-2", "data": {"region": "eu"}},
        {"value": 3},  # no timestamp: the time it was received
    ]
    response = client_for(admin).post(URL, batch(events), format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    rows = list(IngestedEvent.objects.order_by("pk"))
    assert body == {"stream": "checkout", "accepted": 3, "first_id": str(rows[0].pk), "last_id": str(rows[-1].pk)}
    assert [(r.stream, r.value, r.key, r.type) for r in rows] == [
        ("checkout", 182.5, "web-1", "latency_ms"), ("checkout", 240.0, "web-2", ""), ("checkout", 3.0, "", "")]
    assert rows[0].event_time.isoformat() == "2026-01-01T12:00:00+00:00"
    assert rows[1].event_time.timestamp() == 1767268801
    assert rows[1].data == {"region": "eu"}
    assert rows[2].event_time == rows[2].received_at


def test_viewer_and_anonymous_are_refused_and_nothing_is_stored(client_for, viewer, api_client):
    assert api_client.post(URL, batch([{"value": 1}]), format="json").status_code == 401
    response = client_for(viewer).post(URL, batch([{"value": 1}]), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert IngestedEvent.objects.count() == 0


@pytest.mark.parametrize("payload, field", [
    (batch([{"timestamp": "next tuesday"}]), "events[0].timestamp"),
    (batch([{"value": 1}, {"value": "high"}]), "events[1].value"),
    (batch([{"value": 1}, {"colour": "red"}]), "events[1].colour"),
    (batch([{"timestamp": "2999-01-01T00:00:00Z"}]), "events[0].timestamp"),
    (batch([{"key": "k" * 201}]), "events[0].key"),
    (batch([]), "events"),
    (batch([{"value": 1}] * 1001), "events"),
    (batch([{"value": 1}], stream="no spaces please"), "stream"),
    ({"stream": "x"}, "events"),
    (batch(["not an object"]), "events[0].non_field_errors"),
])
def test_invalid_batches_are_refused_naming_the_field(client_for, admin, payload, field):
    response = client_for(admin).post(URL, payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error["fields"]
    assert IngestedEvent.objects.count() == 0  # all or nothing


def test_a_body_over_the_size_limit_is_413(client_for, admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_for(admin).post(URL, batch([{"value": 1, "key": "x" * 100}] * 20), format="json")
    assert response.status_code == 413
    assert IngestedEvent.objects.count() == 0


def test_the_http_source_reads_the_inbox_in_order_and_forgets_what_a_checkpoint_covers(client_for, admin):
    client = client_for(admin)
    client.post(URL, batch([{"timestamp": 1767268800 + i, "value": i} for i in range(5)]), format="json")
    client.post(URL, batch([{"value": 99}], stream="other"), format="json")

    source = InboxSource("checkout", settle=0, poll_interval=0.01)
    events = []
    for event in source:
        if event is None:
            break
        events.append(event)
    assert [e["value"] for e in events] == [0, 1, 2, 3, 4]
    assert events[0]["timestamp"] == 1767268800

    third = IngestedEvent.objects.filter(stream="checkout").order_by("pk")[2]
    resumed = InboxSource("checkout", settle=0, resume_from=str(third.pk))
    assert [e["value"] for e in iter_until_quiet(resumed)] == [3, 4]

    source.consumed(str(third.pk))
    assert list(IngestedEvent.objects.filter(stream="checkout").values_list("value", flat=True)) == [3, 4]
    assert IngestedEvent.objects.filter(stream="other").count() == 1


def iter_until_quiet(source):
    for event in source:
        if event is None:
            return
        yield event


@pytest.mark.django_db(transaction=True)
def test_pushed_events_become_detections_of_the_http_stream(client_for, admin, tmp_path):
    """POST /api/events → inbox → the http source's pipeline → one AnomalyLog per bucket."""
    import threading
    import time

    from django.db import connection

    from streams.journal import Journal
    from anomalies.models import AnomalyLog, DetectorCheckpoint
    from streams.pipeline import Pipeline
    from streams.store import DetectionStore

    start = 1767268800  # 2026-01-01T12:00:00Z
    events = [{"timestamp": start + i, "value": 100 + (i % 7), "key": f"web-{i % 3}"} for i in range(600)]
    for offset in range(0, 600, 200):
        response = client_for(admin).post(URL, batch(events[offset:offset + 200]), format="json")
        assert response.status_code == 202
    last_pushed = response.json()["last_id"]

    journal = Journal(tmp_path, "http:checkout")
    store = DetectionStore("http:checkout", journal).start()
    pipeline = Pipeline.resume(lambda resume: InboxSource("checkout", resume_from=resume, settle=0, poll_interval=0.05),
                               source_key="http:checkout", kind="generic", store=store,
                               bucket_seconds=60, allowed_lateness=0, checkpoint_seconds=0)
    store.on_checkpoint_stored = pipeline.source.consumed
    def run():
        try:
            pipeline.run()
        finally:
            connection.close()  # the runner thread's own connection

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 30
    while AnomalyLog.objects.filter(source_type="http").count() < 9 and time.monotonic() < deadline:
        time.sleep(0.1)
    pipeline.stop()
    runner.join(10)
    store.close(final_checkpoint=pipeline.final_checkpoint())
    journal.close()

    rows = list(AnomalyLog.objects.filter(source_type="http").order_by("timestamp"))
    assert len(rows) == 9  # ten minutes of events: nine closed minutes, the tenth still open
    assert rows[0].dedup_key == "http:checkout:2026-01-01T12:00:00Z"
    assert rows[0].event_data["features"]["events"] == 60
    assert rows[0].event_data["features"]["distinct_keys"] == 3
    assert DetectorCheckpoint.objects.get(source_key="http:checkout").last_event_id == last_pushed
    assert IngestedEvent.objects.count() == 0  # consumed: a stored checkpoint covers them all
