"""GET /api/series: the registry with rows from the rollups, filters, orderings, paging, errors."""
import time
from datetime import datetime, timedelta, timezone

import pytest

from anomalies import series_registry
from anomalies.models import AnomalyLog, Series

pytestmark = pytest.mark.django_db

URL = "/api/series"
T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def detections(source, series, scores, anomalies=()):
    """Store rows one minute apart (``anomalies``: the indexes that alarm) and register them."""
    rows = AnomalyLog.objects.insert_new([
        AnomalyLog(dedup_key=f"{source}#{series}:{i}", timestamp=T0 + timedelta(minutes=i), source_type=source,
                   series=series, anomaly_score=score, is_anomaly=i in anomalies)
        for i, score in enumerate(scores)
    ])
    series_registry.record(rows, owner=f"worker-{series[-1:]}")


@pytest.fixture
def stored():
    detections("ndjson", "web-1", [0.1, 0.2, 0.99, 0.3], anomalies={2})
    detections("ndjson", "web-2", [0.5, 0.97], anomalies={1})
    detections("ndjson", "web-3", [None])
    detections("wikipedia", "", [0.4] * 3)


@pytest.fixture
def client(client_for, viewer):
    return client_for(viewer)


def listed(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_each_series_with_its_last_score_anomaly_rows_and_owner(client, stored):
    body = listed(client)
    assert body["count"] == 4
    first = body["results"][0]
    assert first == {
        "source_type": "ndjson", "series": "web-2", "last_score": 0.97, "last_at": "2026-01-01T12:01:00Z",
        "last_anomaly_at": "2026-01-01T12:01:00Z", "rows": 2, "owner": "worker-2",
        "updated_at": first["updated_at"],
    }
    # Default order: the highest last score first, the unscored (warm-up) series last.
    assert [(r["series"], r["rows"]) for r in body["results"]] == [("web-2", 2), ("", 3), ("web-1", 4), ("web-3", 1)]


def test_filter_by_source_and_series(client, stored):
    assert [r["series"] for r in listed(client, source_type="ndjson")["results"]] == ["web-2", "web-1", "web-3"]
    only = listed(client, source_type="ndjson", series="web-1")
    assert only["count"] == 1 and only["results"][0]["last_anomaly_at"] == "2026-01-01T12:02:00Z"
    assert listed(client, source_type="replay")["results"] == []


def test_ordering_by_last_anomaly_and_paging(client, stored):
    ordered = listed(client, ordering="-last_anomaly_at")["results"]
    assert [r["series"] for r in ordered[:2]] == ["web-1", "web-2"]  # 12:02, then 12:01; then none
    page = listed(client, ordering="series", limit=2, page=2)
    assert page["count"] == 4 and [r["series"] for r in page["results"]] == ["web-2", "web-3"]
    assert page["previous"] is not None and page["next"] is None


@pytest.mark.parametrize("params, field", [
    ({"ordering": "owner"}, "ordering"),
    ({"limit": "many"}, "limit"),
    ({"limit": "5000"}, "limit"),
    ({"page": "0"}, "page"),
    ({"source_type": "x" * 65}, "source_type"),
])
def test_bad_parameters_are_400_naming_the_field(client, stored, params, field):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_anonymous_is_401(api_client):
    assert api_client.get(URL).status_code == 401


def test_thousands_of_series_list_fast(client):
    now = datetime.now(timezone.utc)
    Series.objects.bulk_create([
        Series(source_type="ndjson", series=f"host-{i:05d}", last_score=(i % 997) / 997, last_at=now,
               last_anomaly_at=now - timedelta(seconds=i) if i % 7 == 0 else None)
        for i in range(5000)
    ])
    detections("ndjson", "host-00996", [0.5, 0.9])
    started = time.perf_counter()
    body = listed(client, ordering="-last_score", limit=100)
    elapsed = time.perf_counter() - started
    assert body["count"] == 5000 and body["results"][0]["last_score"] == pytest.approx(996 / 997)
    assert any(r["series"] == "host-00996" and r["rows"] == 2 for r in body["results"])
    assert elapsed < 0.5, f"{elapsed:.3f} s for a page of 100 among 5,000 series"


def test_the_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema", {"format": "json"}).json()
    operation = schema["paths"]["/api/series"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"source_type", "series", "ordering", "page", "limit"} <= names
    assert "400" in operation["responses"] and "401" in operation["responses"]
