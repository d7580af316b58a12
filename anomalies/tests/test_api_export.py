"""GET /api/anomalies/export: CSV and NDJSON of the filtered set, streamed."""
import csv
import io
import json
from datetime import datetime, timezone

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncRequestFactory
from rest_framework.test import force_authenticate

from anomalies.api.export import COLUMNS
from anomalies.api.views import AnomalyExportView
from anomalies.models import AnomalyLog

pytestmark = pytest.mark.django_db

URL = "/api/anomalies/export"
LIST_URL = "/api/anomalies"
FILTERS = {"start_date": "2024-05-01T00:30:00Z", "end_date": "2024-05-02T00:00:00Z", "ordering": "anomaly_score"}


@pytest.fixture
def rows():
    specs = [
        ("2024-05-01T00:00:00", "wiki", 0.1, False, {"n": 1}),
        ("2024-05-01T00:30:00", "wiki", 0.96, True, {"text": "ünïcode, \"quoted\"\nnewline"}),
        ("2024-05-01T01:00:00.123456", "ndjson", 0.5, False, {"nested": {"list": [1, 2.5, None]}}),
        ("2024-05-01T23:59:59", "replay", 0.9995, True, {}),
        ("2024-05-02T00:00:00", "wiki", 1.0, True, {"n": 5}),
    ]
    return [
        AnomalyLog.objects.create_log(
            timestamp=datetime.fromisoformat(moment).replace(tzinfo=timezone.utc),
            source_type=source,
            anomaly_score=score,
            is_anomaly=flag,
            betti_h0=index,
            betti_h1=index % 2,
            betti_h2=7,
            event_data=data,
            metadata={"detector": "v1", "window": index},
        )
        for index, (moment, source, score, flag, data) in enumerate(specs)
    ]


@pytest.fixture
def client(client_for, viewer):
    return client_for(viewer)


def listed(client, params):
    response = client.get(LIST_URL, {**params, "limit": 1000})
    assert response.status_code == 200
    return response.json()["results"]


def content(response):
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def parse_csv_row(row):
    """A CSV row back to the list endpoint's JSON types."""
    return {
        **row,
        "anomaly_score": float(row["anomaly_score"]) if row["anomaly_score"] else None,
        "is_anomaly": {"true": True, "false": False}[row["is_anomaly"]],
        "suppressed": {"true": True, "false": False}[row["suppressed"]],
        "warming_up": {"true": True, "false": False}[row["warming_up"]],
        "incident": row["incident"] or None,
        "explanation": json.loads(row["explanation"]),
        "betti_h0": int(row["betti_h0"]),
        "betti_h1": int(row["betti_h1"]),
        "betti_h2": int(row["betti_h2"]),
        "event_data": json.loads(row["event_data"]),
        "metadata": json.loads(row["metadata"]),
    }


def test_csv_of_the_filtered_set_equals_the_list(client, rows):
    response = client.get(URL, {**FILTERS, "format": "csv"})

    text = content(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == COLUMNS
    exported = [parse_csv_row(row) for row in reader]
    expected = listed(client, FILTERS)
    assert len(expected) == 3  # 00:30 inclusive, 2024-05-02 exclusive
    assert exported == expected


def test_ndjson_lines_are_exactly_the_list_items(client, rows):
    response = client.get(URL, {**FILTERS, "format": "ndjson"})

    text = content(response)
    assert response["Content-Type"] == "application/x-ndjson"
    assert text.endswith("\n")
    assert [json.loads(line) for line in text.splitlines()] == listed(client, FILTERS)


def test_export_without_filters_has_every_row_newest_first(client, rows):
    text = content(client.get(URL, {"format": "ndjson"}))

    exported = [json.loads(line) for line in text.splitlines()]
    assert [item["id"] for item in exported] == [str(row.pk) for row in reversed(rows)]


def test_filename_carries_the_time_range(client, rows):
    response = client.get(URL, {**FILTERS, "format": "csv"})

    assert response["Content-Disposition"] == (
        'attachment; filename="anomalies_20240501T003000Z_20240502T000000Z.csv"'
    )


def test_filename_without_range_says_earliest_and_the_export_time(client, rows):
    response = client.get(URL, {"format": "ndjson", "start_date": "2024-05-01T02:00:00+02:00"})

    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="anomalies_20240501T000000Z_')
    assert disposition.endswith('Z.ndjson"')
    assert "earliest" in client.get(URL, {"format": "csv"})["Content-Disposition"]


@pytest.mark.parametrize("source", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_formula_cells_are_neutralised(client, source):
    AnomalyLog.objects.create_log(
        timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc), source_type=source, anomaly_score=0.5
    )

    row = next(csv.DictReader(io.StringIO(content(client.get(URL, {"format": "csv"})))))

    assert row["source_type"] == "'" + source
    assert row["anomaly_score"] == "0.5"  # numbers are not text cells: untouched


def test_ordinary_text_is_not_prefixed(client, rows):
    row = next(csv.DictReader(io.StringIO(content(client.get(URL, {"format": "csv"})))))

    assert row["source_type"] == "wiki"


def test_empty_export_has_the_header_only(client):
    text = content(client.get(URL, {"format": "csv"}))

    assert text == ",".join(COLUMNS) + "\r\n"
    assert content(client.get(URL, {"format": "ndjson"})) == ""


def test_export_streams_many_rows_in_several_chunks(client):
    AnomalyLog.objects.bulk_create(
        AnomalyLog(timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc), source_type="s", anomaly_score=0.25)
        for _ in range(2500)
    )

    response = client.get(URL, {"format": "ndjson"})

    chunks = list(response.streaming_content)
    assert len(chunks) == 3  # 1,000 rows a chunk
    assert sum(chunk.count(b"\n") for chunk in chunks) == 2500


@pytest.mark.parametrize(
    "params, field",
    [
        ({"format": "xlsx"}, "format"),
        ({"format": ""}, "format"),
        ({"format": "csv", "start_date": "soon"}, "start_date"),
        ({"format": "csv", "start_date": "2024-02-01", "end_date": "2024-01-01"}, "end_date"),
        ({"format": "csv", "severity": "extreme"}, "severity"),
        ({"format": "ndjson", "max_score": "1.1"}, "max_score"),
    ],
)
def test_bad_query_is_refused_with_json_error_naming_the_parameter(client, rows, params, field):
    response = client.get(URL, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()["error"]["fields"]


def test_without_format_the_export_is_csv(client, rows):
    response = client.get(URL, {**FILTERS})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('.csv"')
    assert content(response) == content(client.get(URL, {**FILTERS, "format": "csv"}))


def test_anonymous_may_not_export(api_client, rows):
    assert api_client.get(URL, {"format": "csv"}).status_code == 401


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_is_an_async_stream(viewer):
    """Django reads a sync iterator to the end under ASGI; ours must be async to stream."""
    await sync_to_async(AnomalyLog.objects.bulk_create)(
        AnomalyLog(timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc), source_type="s", anomaly_score=0.5)
        for _ in range(1500)
    )
    request = AsyncRequestFactory().get(URL, {"format": "ndjson"})
    force_authenticate(request, viewer)

    try:
        response = await sync_to_async(AnomalyExportView.as_view())(request)
        assert response.is_async
        chunks = [chunk async for chunk in response]
    finally:
        await sync_to_async(lambda: connection.close())()  # the sync thread's, as Django's handler does

    assert len(chunks) == 2
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 1500 and json.loads(lines[0])["anomaly_score"] == 0.5
