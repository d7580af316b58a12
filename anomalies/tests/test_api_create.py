"""POST /api/anomalies: one or many detections, validated in full, stored all-or-nothing."""
import io
import json
from datetime import datetime, timezone

import pytest
from django.db import IntegrityError
from django.test import override_settings

from anomalies.api.bulk import store_detections
from anomalies.api.parsers import LimitedJSONParser
from anomalies.models import AnomalyLog
from anomalies.signals import detections_stored
from topoforge.errors import PayloadTooLarge

pytestmark = pytest.mark.django_db

URL = "/api/anomalies"


def detection(**fields):
    body = {
        "timestamp": "2024-03-01T12:00:00Z",
        "source_type": "wikipedia",
        "anomaly_score": 0.42,
        "is_anomaly": False,
        "betti_h0": 3,
        "betti_h1": 1,
        "betti_h2": 0,
        "event_data": {"edits": 17},
        "metadata": {"detector": "v1"},
    }
    body.update(fields)
    return body


def assert_error(response, status, field):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert field in error["fields"], error
    return error


@pytest.fixture
def received():
    """The detections that ``detections_stored`` announced."""
    batches = []

    def receiver(sender, detections, **kwargs):
        batches.append(detections)

    detections_stored.connect(receiver, dispatch_uid="test_api_create")
    yield batches
    detections_stored.disconnect(dispatch_uid="test_api_create")


def test_admin_stores_one_detection_and_gets_it_back(client_for, admin):
    response = client_for(admin).post(URL, detection(), format="json")

    assert response.status_code == 201
    body = response.json()
    stored = AnomalyLog.objects.get()
    assert body["id"] == str(stored.pk)
    assert body["timestamp"] == "2024-03-01T12:00:00Z"
    assert stored.timestamp == datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    assert (stored.source_type, stored.anomaly_score, stored.betti_h0) == ("wikipedia", 0.42, 3)
    assert stored.event_data == {"edits": 17}
    assert stored.severity == "low"  # derived from the score when omitted
    assert body["severity"] == "low"
    assert body["dedup_key"] == stored.dedup_key


def test_severity_given_explicitly_is_kept(client_for, admin):
    response = client_for(admin).post(URL, detection(anomaly_score=0.1, severity="high"), format="json")

    assert response.status_code == 201
    assert AnomalyLog.objects.get().severity == "high"


def test_list_of_detections_is_stored_in_one_request(client_for, admin):
    items = [detection(anomaly_score=i / 10, timestamp=f"2024-03-01T12:0{i}:00Z") for i in range(5)]

    response = client_for(admin).post(URL, items, format="json")

    assert response.status_code == 201
    body = response.json()
    assert [item["anomaly_score"] for item in body] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert all(item["id"] for item in body)
    assert sorted(AnomalyLog.objects.values_list("anomaly_score", flat=True)) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_thousand_detections_are_accepted(client_for, admin):
    response = client_for(admin).post(URL, [detection()] * 1000, format="json")

    assert response.status_code == 201
    assert AnomalyLog.objects.count() == 1000


def test_list_over_thousand_items_is_refused_and_nothing_is_stored(client_for, admin):
    response = client_for(admin).post(URL, [detection()] * 1001, format="json")

    assert_error(response, 400, "items")
    assert AnomalyLog.objects.count() == 0


def test_empty_list_is_refused(client_for, admin):
    response = client_for(admin).post(URL, [], format="json")

    assert_error(response, 400, "items")


def test_one_invalid_item_rejects_the_whole_list(client_for, admin):
    items = [detection(), detection(), detection(anomaly_score=1.5), detection()]

    response = client_for(admin).post(URL, items, format="json")

    error = assert_error(response, 400, "[2].anomaly_score")
    assert list(error["fields"]) == ["[2].anomaly_score"]
    assert AnomalyLog.objects.count() == 0


def test_failure_in_the_database_write_stores_nothing():
    """Validation cannot see a duplicate dedup_key; the one bulk write must still roll back whole."""
    existing = AnomalyLog.objects.create_log(
        timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc), source_type="x", anomaly_score=0.1
    )
    rows = [
        {"timestamp": existing.timestamp, "source_type": "y", "anomaly_score": 0.2},
        {"timestamp": existing.timestamp, "source_type": "y", "anomaly_score": 0.3, "dedup_key": existing.dedup_key},
    ]

    with pytest.raises(IntegrityError):
        store_detections(rows)

    assert list(AnomalyLog.objects.all()) == [existing]


def test_signal_is_sent_after_commit_with_the_stored_rows(
    client_for, admin, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(admin).post(URL, [detection(), detection(anomaly_score=0.99)], format="json")

    assert response.status_code == 201
    assert len(callbacks) == 1
    (announced,) = received
    assert [str(row.pk) for row in announced] == [item["id"] for item in response.json()]
    assert all(row.pk is not None for row in announced)


def test_no_signal_when_the_request_is_rejected(
    client_for, admin, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client_for(admin).post(URL, [detection(anomaly_score=-1)], format="json")

    assert callbacks == [] and received == []


def test_failing_receiver_does_not_fail_the_request(
    client_for, admin, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("push is down")

    detections_stored.connect(broken, dispatch_uid="broken")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(admin).post(URL, detection(), format="json")
    finally:
        detections_stored.disconnect(dispatch_uid="broken")

    assert response.status_code == 201
    assert AnomalyLog.objects.count() == 1


def test_viewer_may_not_store(client_for, viewer):
    response = client_for(viewer).post(URL, detection(), format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert AnomalyLog.objects.count() == 0


def test_anonymous_may_not_store(api_client):
    response = api_client.post(URL, detection(), format="json")

    assert response.status_code == 401
    assert AnomalyLog.objects.count() == 0


def test_body_over_one_megabyte_is_refused_with_413(client_for, admin):
    items = [detection(event_data={"blob": "x" * 2000})] * 600  # ~1.3 MB, under 1,000 items

    response = client_for(admin).post(URL, items, format="json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert AnomalyLog.objects.count() == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_body_limit_follows_the_setting(client_for, admin):
    response = client_for(admin).post(URL, detection(), format="json")

    assert response.status_code == 413


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_parser_reads_no_more_than_the_limit_whatever_the_length_header_says():
    stream = io.BytesIO(json.dumps(detection()).encode())

    with pytest.raises(PayloadTooLarge):
        LimitedJSONParser().parse(stream)
    assert stream.tell() == 101


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"anomaly_score": 1.01}, "anomaly_score"),
        ({"anomaly_score": -0.01}, "anomaly_score"),
        ({"anomaly_score": "nan"}, "anomaly_score"),
        ({"anomaly_score": "1e400"}, "anomaly_score"),
        ({"anomaly_score": "high"}, "anomaly_score"),
        ({"anomaly_score": None}, "anomaly_score"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2024-13-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+05:00"}, "timestamp"),
        ({"timestamp": 12}, "timestamp"),
        ({"source_type": ""}, "source_type"),
        ({"source_type": "x" * 65}, "source_type"),
        ({"source_type": ["wikipedia"]}, "source_type"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"is_anomaly": "maybe"}, "is_anomaly"),
        ({"betti_h0": -1}, "betti_h0"),
        ({"betti_h1": 1.5}, "betti_h1"),
        ({"betti_h2": 10**12}, "betti_h2"),
        ({"event_data": [1, 2]}, "event_data"),
        ({"event_data": {"text": "nul\u0000byte"}}, "event_data"),  # PostgreSQL's jsonb refuses it
        ({"metadata": {"nul\u0000key": 1}}, "metadata"),
        ({"metadata": json.loads('{"a":' * 800 + "1" + "}" * 800)}, "metadata"),  # too deep to store
        ({"source_type": "nul\u0000"}, "source_type"),
        ({"metadata": "text"}, "metadata"),
    ],
)
def test_bad_field_is_refused_with_400_naming_it(client_for, admin, fields, field):
    response = client_for(admin).post(URL, detection(**fields), format="json")

    assert_error(response, 400, field)
    assert AnomalyLog.objects.count() == 0


@pytest.mark.parametrize("missing", ["timestamp", "source_type", "anomaly_score"])
def test_missing_required_field_is_named(client_for, admin, missing):
    body = detection()
    del body[missing]

    response = client_for(admin).post(URL, body, format="json")

    assert_error(response, 400, missing)


@pytest.mark.parametrize(
    "body",
    ['"just a string"', "42", "null", "{not json", "[1, 2]", "[" * 100_000 + "]" * 100_000],
    ids=["string", "number", "null", "malformed", "numbers", "nested-100000-deep"],
)
def test_body_that_is_not_detections_is_refused(client_for, admin, body):
    response = client_for(admin).generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] or response.json()["error"]["code"] == "parse_error"
    assert AnomalyLog.objects.count() == 0


def test_a_backslash_sequence_that_only_looks_like_nul_is_kept(client_for, admin):
    response = client_for(admin).post(URL, detection(event_data={"path": "C:\\u0000"}), format="json")

    assert response.status_code == 201
    assert AnomalyLog.objects.get().event_data == {"path": "C:\\u0000"}


def test_read_only_fields_are_ignored_on_create(client_for, admin):
    response = client_for(admin).post(
        URL, detection(id="999", dedup_key="mine", created_at="2000-01-01T00:00:00Z"), format="json"
    )

    assert response.status_code == 201
    stored = AnomalyLog.objects.get()
    assert stored.dedup_key != "mine"
    assert stored.created_at.year != 2000


def test_warm_up_row_is_stored_with_a_null_score(client_for, admin):
    response = client_for(admin).post(URL, detection(anomaly_score=None, warming_up=True), format="json")

    assert response.status_code == 201, response.content
    stored = AnomalyLog.objects.get()
    assert stored.anomaly_score is None and stored.warming_up and stored.severity == "low"
    assert response.json()["anomaly_score"] is None and response.json()["warming_up"] is True


@pytest.mark.parametrize("fields", [{"anomaly_score": None}, {"anomaly_score": 0.3, "warming_up": True}])
def test_score_and_warming_up_must_agree(client_for, admin, fields):
    response = client_for(admin).post(URL, detection(**fields), format="json")

    assert_error(response, 400, "anomaly_score")
    assert not AnomalyLog.objects.exists()


def test_suppressed_and_explanation_are_stored_as_given(client_for, admin):
    explanation = {"rare_features": [{"name": "h0_entropy", "tail": 0.001}]}
    response = client_for(admin).post(
        URL, detection(anomaly_score=0.995, suppressed=True, explanation=explanation), format="json"
    )

    assert response.status_code == 201, response.content
    stored = AnomalyLog.objects.get()
    assert stored.suppressed and stored.anomaly_score == 0.995 and stored.explanation == explanation
