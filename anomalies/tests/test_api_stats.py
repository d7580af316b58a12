"""GET /api/anomalies/stats against a fixture whose numbers are worked out by hand below."""
from datetime import datetime, timezone

import pytest
from pytest import approx

from anomalies.models import AnomalyLog

pytestmark = pytest.mark.django_db

URL = "/api/anomalies/stats"

# timestamp, source, score, is_anomaly, (h0, h1, h2); severity from the score.
ROWS = [
    ("2024-06-01T10:00:00", "wiki", 0.2, False, (1, 0, 0)),  # low
    ("2024-06-01T10:59:59", "wiki", 0.96, True, (2, 1, 0)),  # medium
    ("2024-06-01T11:00:00", "ndjson", 0.4, False, (3, 0, 0)),  # low
    ("2024-06-01T13:30:00", "wiki", 0.999, True, (4, 2, 1)),  # critical
    ("2024-06-02T00:15:00", "replay", 0.6, False, (5, 1, 0)),  # low
]


def store(moment, source, score, flag, betti):
    return AnomalyLog.objects.create_log(
        timestamp=datetime.fromisoformat(moment).replace(tzinfo=timezone.utc),
        source_type=source,
        anomaly_score=score,
        is_anomaly=flag,
        betti_h0=betti[0],
        betti_h1=betti[1],
        betti_h2=betti[2],
    )


@pytest.fixture
def rows():
    return [store(*row) for row in ROWS]


@pytest.fixture
def client(client_for, viewer):
    return client_for(viewer)


def get_stats(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_totals_rates_and_means(client, rows):
    stats = get_stats(client)

    assert stats["total"] == 5
    assert stats["anomalies"] == 2
    assert stats["anomaly_rate"] == approx(0.4)
    assert stats["mean_score"] == approx((0.2 + 0.96 + 0.4 + 0.999 + 0.6) / 5)  # 0.6318
    assert stats["max_score"] == approx(0.999)
    assert stats["mean_betti"] == {"h0": approx(3.0), "h1": approx(0.8), "h2": approx(0.2)}
    assert stats["first_timestamp"] == "2024-06-01T10:00:00Z"
    assert stats["last_timestamp"] == "2024-06-02T00:15:00Z"


def test_counts_by_source_most_frequent_first_and_by_severity(client, rows):
    stats = get_stats(client)

    assert stats["by_source"] == [
        {"source_type": "wiki", "total": 3, "anomalies": 2},
        {"source_type": "ndjson", "total": 1, "anomalies": 0},
        {"source_type": "replay", "total": 1, "anomalies": 0},
    ]
    assert stats["by_severity"] == {"low": 3, "medium": 1, "high": 0, "critical": 1}


def test_hourly_series_covers_every_hour_including_empty_ones(client, rows):
    stats = get_stats(client)  # hour is the default

    series = stats["series"]
    assert stats["bucket"] == "hour"
    assert len(series) == 15  # 10:00 .. 23:00 on June 1st, then 00:00 on June 2nd
    assert series[0] == {
        "start": "2024-06-01T10:00:00Z",
        "total": 2,
        "anomalies": 1,
        "mean_score": approx(0.58),
        "max_score": approx(0.96),
    }
    assert series[1] == {
        "start": "2024-06-01T11:00:00Z",
        "total": 1,
        "anomalies": 0,
        "mean_score": approx(0.4),
        "max_score": approx(0.4),
    }
    assert series[2] == {
        "start": "2024-06-01T12:00:00Z",
        "total": 0,
        "anomalies": 0,
        "mean_score": None,
        "max_score": None,
    }
    assert series[3]["start"] == "2024-06-01T13:00:00Z" and series[3]["anomalies"] == 1
    assert series[-1]["start"] == "2024-06-02T00:00:00Z" and series[-1]["total"] == 1
    assert sum(point["total"] for point in series) == 5


def test_daily_series(client, rows):
    series = get_stats(client, bucket="day")["series"]

    assert series == [
        {
            "start": "2024-06-01T00:00:00Z",
            "total": 4,
            "anomalies": 2,
            "mean_score": approx((0.2 + 0.96 + 0.4 + 0.999) / 4),
            "max_score": approx(0.999),
        },
        {
            "start": "2024-06-02T00:00:00Z",
            "total": 1,
            "anomalies": 0,
            "mean_score": approx(0.6),
            "max_score": approx(0.6),
        },
    ]


def test_minute_series_within_a_range_with_inclusive_start_and_exclusive_end(client, rows):
    stats = get_stats(
        client, bucket="minute", start_date="2024-06-01T10:00:00Z", end_date="2024-06-01T11:00:00Z"
    )

    assert stats["total"] == 2  # the row at 11:00:00 is excluded
    series = stats["series"]
    assert len(series) == 60
    assert [point["start"] for point in series if point["total"]] == [
        "2024-06-01T10:00:00Z",
        "2024-06-01T10:59:00Z",
    ]


def test_filters_apply_to_every_figure(client, rows):
    stats = get_stats(client, is_anomaly="true")

    assert stats["total"] == 2 and stats["anomaly_rate"] == 1.0
    assert stats["by_source"] == [{"source_type": "wiki", "total": 2, "anomalies": 2}]
    assert stats["by_severity"] == {"low": 0, "medium": 1, "high": 0, "critical": 1}
    assert stats["mean_betti"]["h0"] == approx(3.0)  # (2 + 4) / 2

    narrow = get_stats(client, source="wiki", min_score="0.5", max_score="0.98")
    assert narrow["total"] == 1 and narrow["max_score"] == approx(0.96)


def test_nothing_matches(client, rows):
    stats = get_stats(client, source="nothing")

    assert stats["total"] == 0 and stats["anomalies"] == 0 and stats["anomaly_rate"] == 0.0
    assert stats["mean_score"] is None and stats["max_score"] is None
    assert stats["mean_betti"] == {"h0": None, "h1": None, "h2": None}
    assert stats["first_timestamp"] is None
    assert stats["by_source"] == [] and stats["series"] == []
    assert stats["by_severity"] == {"low": 0, "medium": 0, "high": 0, "critical": 0}


def test_without_bucket_a_span_beyond_ten_thousand_hours_gets_days(client, rows):
    store("2020-01-01T00:00:00", "wiki", 0.1, False, (0, 0, 0))  # 4 years and 5 months before

    stats = get_stats(client)

    assert stats["bucket"] == "day"
    assert len(stats["series"]) == 1615  # 2020-01-01 .. 2024-06-02, both included
    assert stats["series"][0]["start"] == "2020-01-01T00:00:00Z" and stats["series"][0]["total"] == 1
    assert sum(point["total"] for point in stats["series"]) == 6


def test_without_bucket_centuries_get_months_then_years(client, rows):
    store("1500-03-01T00:00:00", "wiki", 0.1, False, (0, 0, 0))
    stats = get_stats(client)
    assert stats["bucket"] == "month"
    assert len(stats["series"]) == (2024 - 1500) * 12 + 6 - 3 + 1
    assert stats["series"][1]["start"] == "1500-04-01T00:00:00Z"

    store("0001-01-01T00:00:00", "wiki", 0.1, False, (0, 0, 0))
    stats = get_stats(client)
    assert stats["bucket"] == "year"
    assert [p["start"] for p in stats["series"][:2]] == ["0001-01-01T00:00:00Z", "0002-01-01T00:00:00Z"]
    assert len(stats["series"]) == 2024 and stats["series"][-1]["total"] == 5


def test_month_and_year_buckets_can_be_asked_for(client, rows):
    assert [p["total"] for p in get_stats(client, bucket="month")["series"]] == [5]
    assert [p["start"] for p in get_stats(client, bucket="year")["series"]] == ["2024-01-01T00:00:00Z"]


def test_too_many_buckets_is_refused_naming_bucket(client, rows):
    store("2020-01-01T00:00:00", "wiki", 0.1, False, (0, 0, 0))

    response = client.get(URL, {"bucket": "minute"})

    assert response.status_code == 400
    assert "bucket" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"bucket": "week"}, "bucket"),
        ({"start_date": "2024-06-02", "end_date": "2024-06-01"}, "end_date"),
        ({"min_score": "7"}, "min_score"),
        ({"severity": "none"}, "severity"),
        ({"is_anomaly": "perhaps"}, "is_anomaly"),
    ],
)
def test_bad_query_is_refused_naming_the_parameter(client, rows, params, field):
    response = client.get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_anonymous_may_not_read_stats(api_client, rows):
    assert api_client.get(URL).status_code == 401
