"""Stats answered from the rollups (whole buckets) plus raw edges equal stats over the rows."""
import random
from datetime import datetime, timedelta, timezone

import pytest
from pytest import approx

from accounts.models import User
from anomalies.api.rollup_scope import RollupScope, scope_of
from anomalies.api.stats import compute_stats
from anomalies.feedback import record_feedback
from anomalies.models import AnomalyLog, FeedbackLabel

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 1, 21, 0, tzinfo=timezone.utc)
SPAN_MINUTES = 4 * 24 * 60


@pytest.fixture
def detections():
    rng = random.Random(16)
    rows = []
    for index in range(1500):
        score = round(rng.random(), 4)
        rows.append(AnomalyLog(
            timestamp=T0 + timedelta(minutes=rng.randrange(SPAN_MINUTES), seconds=rng.randrange(60),
                                     microseconds=rng.randrange(10**6)),
            source_type=rng.choice(["wiki", "ndjson", "replay"]), series=rng.choice(["", "a", "b"]),
            anomaly_score=score, is_anomaly=score > 0.7, severity=rng.choice(["low", "medium", "high", "critical"]),
            betti_h0=rng.randrange(6), betti_h1=rng.randrange(3), betti_h2=rng.randrange(2),
        ))
    AnomalyLog.objects.bulk_create(rows)
    user = User.objects.create_user(username="judge", password="x" * 12)
    for row in AnomalyLog.objects.order_by("?")[:200]:
        record_feedback(row, user, rng.choice(FeedbackLabel.values))
    return rng


def filtered(scope):
    rows = AnomalyLog.objects.by_timeframe(scope.start, scope.end)
    if scope.source:
        rows = rows.filter(source_type=scope.source)
    if scope.series:
        rows = rows.filter(series=scope.series)
    if scope.is_anomaly is not None:
        rows = rows.filter(is_anomaly=scope.is_anomaly)
    if scope.severities:
        rows = rows.filter(severity__in=scope.severities)
    return rows


def same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float):
        assert a == approx(b)
    else:
        assert a == b


def random_moment(rng):
    moment = T0 + timedelta(minutes=rng.randrange(-120, SPAN_MINUTES + 120))
    return rng.choice([moment, moment.replace(minute=0), moment.replace(hour=0, minute=0),
                       moment + timedelta(seconds=rng.randrange(60), microseconds=rng.randrange(10**6))])


def test_rollups_and_rows_give_the_same_stats_over_random_ranges_and_filters(detections):
    rng = detections
    for _ in range(60):
        start, end = sorted([random_moment(rng), random_moment(rng)])
        scope = RollupScope(
            start=rng.choice([None, start]), end=rng.choice([None, end]),
            source=rng.choice([None, "wiki", "replay", "absent"]), series=rng.choice([None, "a", "b"]),
            is_anomaly=rng.choice([None, True, False]),
            severities=tuple(rng.sample(["low", "medium", "high", "critical"], rng.randrange(3))),
        )
        for bucket in (None, "hour", "day", "month", "year"):
            rows = filtered(scope)
            same(compute_stats(rows, bucket, scope), compute_stats(rows, bucket))


def test_the_rollup_path_reads_only_rollups_and_the_edges(detections, django_assert_max_num_queries):
    scope = RollupScope(T0 + timedelta(minutes=30), T0 + timedelta(days=3, minutes=10), None, None, None, ())
    rows = filtered(scope)
    expected = compute_stats(rows, "hour")
    with django_assert_max_num_queries(6):  # groups and series: hour rollups and two edges
        same(compute_stats(rows, "hour", scope), expected)


@pytest.mark.parametrize("name, value", [("min_score", 0.5), ("max_score", 0.5), ("feedback_label", "none")])
def test_filters_the_rollups_cannot_answer_go_to_the_rows(name, value):
    assert scope_of({"start_date": None, name: value}) is None
    assert scope_of({"start_date": T0, "source": "wiki", "min_score": None, "feedback_label": ""}) is not None


def test_the_endpoint_answers_from_rollups_as_from_rows(detections, client_for, viewer):
    client = client_for(viewer)
    params = {"start_date": "2024-06-02T03:17:00Z", "end_date": "2024-06-04T09:05:00Z", "source": "wiki"}
    from_rollups = client.get("/api/anomalies/stats", params).json()
    from_rows = client.get("/api/anomalies/stats", {**params, "min_score": 0}).json()  # rows only
    same(from_rollups, from_rows)
