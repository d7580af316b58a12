"""The database-written exports (export_sql.py) give the reference exporter's bytes, row for row."""
import random
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from anomalies.api import export_sql
from anomalies.api.export import ROWS_PER_CHUNK, reference_chunks
from anomalies.api.filters import ORDERINGS, AnomalyLogFilter, ordered
from anomalies.models import AnomalyLog, FeedbackLabel, Incident, Severity

pytestmark = pytest.mark.django_db

NASTY_TEXT = [
    "", "plain", "=1+1", "+cmd", "-2", "@SUM(A1)", "\tTAB", "\rCR", "a,b", 'say "hi"', "line\nbreak",
    "crlf\r\nend", "ünïcödé", "😀 emoji", "back\\slash", "\x01\x1f control", "\u2028sep", "'quoted'",
    " lead space", "trail space ", '"', ",", "=", "x" * 150,
]
NASTY_JSON = [
    {}, {"n": 1}, {"text": 'ünï, "q"\nnl', "none": None}, {"nested": {"list": [1, 2.5, None, True]}},
    {"=f": "+g", "back\\": "\t\r"}, [1, "a", None], "=cmd", -5, 0.1, True, {"emoji": "😀"},
    {"ctl": "\x01\x7f"},
]
SCORES = [0.0, 1.0, 0.5, 0.1 + 0.2, 1e-05, 1.5e-07, 5e-324, 0.9999999999999999, 0.123456789012345678]


def random_moment(generator):
    moment = datetime(2024, 5, 1, tzinfo=timezone.utc) + timedelta(seconds=generator.randrange(3 * 86400))
    if generator.random() < 0.5:
        moment += timedelta(microseconds=generator.randrange(1, 1_000_000))
    return moment


def store_random_rows(count, seed=16):
    generator = random.Random(seed)
    incident = Incident.objects.create(
        source_type="wiki", started_at=random_moment(generator), ended_at=random_moment(generator), peak_score=1.0
    )
    rows = []
    for index in range(count):
        warming_up = generator.random() < 0.1  # its score is null: the nullable float column
        score = None if warming_up else generator.choice(SCORES) if generator.random() < 0.4 else generator.random()
        rows.append(
            AnomalyLog(
                timestamp=random_moment(generator),
                source_type=generator.choice(["wiki", "ndjson", "=evil", 'q"uote']),
                series=generator.choice(NASTY_TEXT[:12]),
                anomaly_score=score,
                warming_up=warming_up,
                suppressed=generator.random() < 0.2,
                explanation=generator.choice(NASTY_JSON),
                incident=incident if generator.random() < 0.3 else None,
                is_anomaly=generator.random() < 0.3,
                severity=generator.choice(Severity.values),
                betti_h0=generator.randrange(100),
                betti_h1=generator.randrange(10),
                betti_h2=generator.randrange(2),
                event_data=generator.choice(NASTY_JSON),
                metadata=generator.choice(NASTY_JSON),
                dedup_key=f"{generator.choice(NASTY_TEXT)}#{index}",
                feedback_label=generator.choice(["", *FeedbackLabel.values]),
                created_at=random_moment(generator),
            )
        )
    AnomalyLog.objects.bulk_create(rows)


def as_bytes(chunks):
    return b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in chunks)


def assert_same_bytes(queryset, export_format):
    fast = export_sql.chunks(queryset, export_format)
    assert fast is not None, f"no database-written path on {connection.vendor}"
    expected = as_bytes(reference_chunks(queryset, export_format))
    assert as_bytes(fast) == expected
    return expected


def filtered(params):
    filterset = AnomalyLogFilter(params, queryset=ordered(AnomalyLog.objects.all()))
    assert filterset.is_valid(), filterset.errors
    return filterset.qs


def random_filters(generator):
    params = {}
    start, end = sorted([random_moment(generator), random_moment(generator)])
    if generator.random() < 0.5:
        params["start_date"] = start.isoformat()
    if generator.random() < 0.5:
        params["end_date"] = end.isoformat()
    if generator.random() < 0.3:
        params["source"] = generator.choice(["wiki", "=evil", 'q"uote'])
    if generator.random() < 0.2:
        params["series"] = generator.choice(NASTY_TEXT[:12])
    if generator.random() < 0.3:
        params["is_anomaly"] = generator.choice(["true", "false"])
    if generator.random() < 0.3:
        params["severity"] = generator.sample(Severity.values, generator.randint(1, 3))
    if generator.random() < 0.3:
        params["min_score"] = str(round(generator.random() * 0.5, 3))
    if generator.random() < 0.3:
        params["max_score"] = str(round(0.5 + generator.random() * 0.5, 3))
    if generator.random() < 0.3:
        params["feedback_label"] = generator.choice(["none", *FeedbackLabel.values])
    params["ordering"] = generator.choice(ORDERINGS)
    return params


@pytest.mark.parametrize("export_format", ["csv", "ndjson"])
def test_every_row_of_nasty_data_has_the_reference_bytes(export_format):
    store_random_rows(3 * ROWS_PER_CHUNK + 7)  # several chunks: rows must not share a buffer
    expected = assert_same_bytes(filtered({}), export_format)
    assert expected.count(b"=evil") > 0 and "😀".encode() in expected


@pytest.mark.parametrize("export_format", ["csv", "ndjson"])
def test_every_filter_and_ordering_selects_the_same_rows_in_the_same_order(export_format):
    store_random_rows(400)
    generator = random.Random(export_format)
    for _ in range(30):
        assert_same_bytes(filtered(random_filters(generator)), export_format)


@pytest.mark.parametrize("export_format", ["csv", "ndjson"])
def test_an_empty_export_has_the_reference_bytes(export_format):
    assert_same_bytes(filtered({}), export_format)


def test_formula_cells_come_out_neutralised():
    store_random_rows(300)
    text = as_bytes(export_sql.chunks(filtered({"source": "=evil"}), "csv")).decode()
    assert ",'=evil," in text and ",=evil," not in text


@pytest.mark.mongodb
@pytest.mark.parametrize("export_format", ["csv", "ndjson"])
def test_mongodb_pipeline_has_the_reference_bytes(export_format):
    if connection.vendor != "mongodb":
        pytest.skip("the MongoDB tests run in the MongoDB pass (MONGODB_URI=$TOPOFORGE_TEST_MONGODB_URI)")
    store_random_rows(2 * ROWS_PER_CHUNK + 3)
    generator = random.Random(7)
    for params in [{}, *(random_filters(generator) for _ in range(10))]:
        assert_same_bytes(filtered(params), export_format)
