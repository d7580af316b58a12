"""Aggregates over a filtered set of detections: from the rollups where they can, else the rows.

When the filters are ones the rollups answer (``rollup_scope``) and the buckets are not minutes,
whole days and hours come from ``DetectionRollup`` and only the ragged edges of the range (less
than an hour at each end) from the detections; otherwise every matching row is aggregated. Both
give the same answer. Only ORM aggregates and functions are used (no raw SQL), so the same code
runs on SQLite, PostgreSQL and MongoDB; Python only assembles the answer and fills empty buckets.

Time buckets are ``Trunc*`` everywhere but on SQLite, where Django implements them as a Python
function called once per row (about 30 µs each: seconds on a few hundred thousand rows). SQLite
stores a UTC date-time as ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text, so a prefix of that text is the
bucket, computed in C by ``substr``.
"""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import connections
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Substr, TruncDay, TruncHour, TruncMinute, TruncMonth, TruncYear
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from anomalies.feedback import FeedbackSummarySerializer, feedback_counts, summarise_feedback
from anomalies.models import CONFIRMING_LABELS, FeedbackLabel, RollupPeriod
from tda.severity import SEVERITIES

# name: (truncation, fixed width or None for calendar months and years)
BUCKETS = {
    "minute": (TruncMinute, timedelta(minutes=1)),
    "hour": (TruncHour, timedelta(hours=1)),
    "day": (TruncDay, timedelta(days=1)),
    "month": (TruncMonth, None),
    "year": (TruncYear, None),
}
DEFAULT_BUCKET = "hour"
# Without ``bucket``: hour, or the first of these that keeps the series within MAX_BUCKETS (a
# year bucket always does: a date-time has at most 9999 years).
AUTO_BUCKETS = ("hour", "day", "month", "year")
MAX_BUCKETS = 10_000
# Length of the SQLite text prefix that is the bucket, and what completes it to a date-time.
SQLITE_PREFIXES = {
    "minute": (16, ":00"),
    "hour": (13, ":00:00"),
    "day": (10, " 00:00:00"),
    "month": (7, "-01 00:00:00"),
    "year": (4, "-01-01 00:00:00"),
}

_datetime = serializers.DateTimeField()
ANOMALOUS = Q(is_anomaly=True)


def _iso(value):
    return None if value is None else _datetime.to_representation(value)


def _iso_utc(moment):
    """``_iso`` of a UTC date-time (TIME_ZONE is UTC) at a quarter of the cost: DRF's field
    checks the time zone on each call, 8 ms for the 720 buckets of a 30-day hourly series."""
    return moment.isoformat().replace("+00:00", "Z")


def _groups(queryset):
    """Partial aggregates per (source, severity): one scan gives totals, sources, severities and
    the feedback counts.

    The groups are few (sources × 4 severities), so combining them in Python costs nothing, and
    the table is read once instead of once for the totals and once more for the sources.
    """
    return list(
        queryset.values("source_type", "severity")
        .annotate(
            total=Count("pk"),
            anomalies=Count("pk", filter=ANOMALOUS),
            score_sum=Sum("anomaly_score"),
            max_score=Max("anomaly_score"),
            h0_sum=Sum("betti_h0"),
            h1_sum=Sum("betti_h1"),
            h2_sum=Sum("betti_h2"),
            first=Min("timestamp"),
            last=Max("timestamp"),
            **feedback_counts(),
        )
        .order_by()
    )


def _combine(groups):
    total = sum(group["total"] for group in groups)
    anomalies = sum(group["anomalies"] for group in groups)

    def mean(key):
        return sum(group[key] for group in groups) / total if total else None

    sources = {}
    for group in groups:
        counts = sources.setdefault(group["source_type"], {"total": 0, "anomalies": 0})
        counts["total"] += group["total"]
        counts["anomalies"] += group["anomalies"]
    severities = dict.fromkeys(SEVERITIES, 0)
    for group in groups:
        severities[group["severity"]] = severities.get(group["severity"], 0) + group["total"]
    return {
        "total": total,
        "anomalies": anomalies,
        "anomaly_rate": anomalies / total if total else 0.0,
        "first": min((group["first"] for group in groups), default=None),
        "last": max((group["last"] for group in groups), default=None),
        "mean_score": mean("score_sum"),
        "max_score": max((group["max_score"] for group in groups), default=None),
        "mean_betti": {"h0": mean("h0_sum"), "h1": mean("h1_sum"), "h2": mean("h2_sum")},
        "by_source": [
            {"source_type": source, **counts}
            for source, counts in sorted(sources.items(), key=lambda item: (-item[1]["total"], item[0]))
        ],
        "by_severity": severities,
        "feedback": summarise_feedback(groups),
    }


def _check_buckets(bucket, first, last):
    floor = _floor(first, bucket)
    buckets = bucket_count(first, last, bucket)
    if buckets > MAX_BUCKETS:
        raise ValidationError(
            {
                "bucket": [
                    f"{buckets} {bucket} buckets exceed the limit of {MAX_BUCKETS}; "
                    "narrow start_date/end_date or use a wider bucket."
                ]
            }
        )
    return floor, buckets


def _series_rows(queryset, bucket):
    """``(bucket start, total, anomalies, score sum, max score)`` per non-empty bucket."""
    return _grouped_by_bucket(
        queryset, bucket, "timestamp",
        total=Count("pk"),
        anomalies=Count("pk", filter=ANOMALOUS),
        score_sum=Sum("anomaly_score"),
        max_score=Max("anomaly_score"),
    )


def _grouped_by_bucket(queryset, bucket, field, **aggregates):
    """The series rows of ``aggregates`` per bucket of ``field``, grouped in the database."""
    rows = (
        queryset.annotate(bucket_start=_bucket_expression(queryset, bucket, field))
        .values("bucket_start")
        .annotate(**aggregates)
        .order_by()
    )
    return [
        (_bucket_start(row["bucket_start"], bucket), row["total"], row["anomalies"] or 0,
         row["score_sum"], row["max_score"])
        for row in rows
    ]


def _series(rows, bucket, first, last):
    """One entry per bucket from the first to the last detection, empty buckets included."""
    if first is None:
        return []
    floor, buckets = _check_buckets(bucket, first, last)
    found = {}
    for start, total, anomalies, score_sum, max_score in rows:
        if not total:
            continue
        entry = found.setdefault(start, [0, 0, 0.0, None])
        entry[0] += total
        entry[1] += anomalies
        entry[2] += score_sum
        entry[3] = max_score if entry[3] is None else max(entry[3], max_score)
    series = []
    start = floor
    for _ in range(buckets):
        total, anomalies, score_sum, max_score = found.get(start, (0, 0, 0.0, None))
        series.append(
            {
                "start": _iso_utc(start),
                "total": total,
                "anomalies": anomalies,
                "mean_score": score_sum / total if total else None,
                "max_score": max_score,
            }
        )
        start = _next_start(start, bucket)
    return series


def bucket_count(first, last, bucket):
    """Buckets from the one holding ``first`` to the one holding ``last``, both included."""
    floor, ceiling = _floor(first, bucket), _floor(last, bucket)
    if bucket == "year":
        return ceiling.year - floor.year + 1
    if bucket == "month":
        return (ceiling.year - floor.year) * 12 + ceiling.month - floor.month + 1
    return int((ceiling - floor) / BUCKETS[bucket][1]) + 1


def auto_bucket(first, last):
    """The bucket a request without ``bucket`` gets: hour, or wider when the span needs it."""
    if first is None:
        return DEFAULT_BUCKET
    return next(b for b in AUTO_BUCKETS if b == "year" or bucket_count(first, last, b) <= MAX_BUCKETS)


def _next_start(start, bucket):
    if bucket == "year":
        return start.replace(year=start.year + 1) if start.year < 9999 else start
    if bucket == "month":
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1) if start.year < 9999 else start
        return start.replace(month=start.month + 1)
    return start + BUCKETS[bucket][1]


ROLLUP_SUMS = {
    "total": Sum("count"), "score_sum": Sum("score_sum"), "max_score": Max("score_max"),
    "h0_sum": Sum("h0_sum"), "h1_sum": Sum("h1_sum"), "h2_sum": Sum("h2_sum"),
    "first": Min("first_at"), "last": Max("last_at"),
    **{f"label_{label}": Sum(f"feedback_{label}") for label in FeedbackLabel.values},
}


def _rollup_groups(rows):
    """The rollups' groups in the shape of ``_groups`` (per source, severity and flag)."""
    groups = []
    for row in rows.values("source_type", "severity", "is_anomaly").annotate(**ROLLUP_SUMS):
        if not row["total"]:
            continue
        flagged = row["is_anomaly"]
        labels = {label: row[f"label_{label}"] for label in FeedbackLabel.values}
        groups.append(
            {
                **{key: row[key] for key in ("source_type", "severity", "total", "score_sum",
                                             "max_score", "h0_sum", "h1_sum", "h2_sum", "first", "last")},
                "anomalies": row["total"] if flagged else 0,
                **{f"flagged_{label}": labels[label] if flagged else 0 for label in labels},
                "missed": 0 if flagged else sum(labels[label] for label in CONFIRMING_LABELS),
            }
        )
    return groups


def _rollup_series_rows(rows, bucket):
    """Series rows of rollups, grouped by bucket (hour to year) in the database.

    The bucket is the same expression as the detections' (a text prefix on SQLite): Django's
    SQLite date-time converter, run on each of the ~720 rows of a 30-day hourly series, was half
    of the request's CPU.
    """
    return _grouped_by_bucket(
        rows, bucket, "start",
        total=Sum("count"),
        anomalies=Sum("count", filter=ANOMALOUS),
        score_sum=Sum("score_sum"),
        max_score=Max("score_max"),
    )


def _bucket_expression(queryset, bucket, field):
    if connections[queryset.db].vendor == "sqlite":
        return Substr(field, 1, SQLITE_PREFIXES[bucket][0])
    return BUCKETS[bucket][0](field)


def _bucket_start(value, bucket):
    """The bucket's start as an aware UTC date-time (SQLite gives the text prefix)."""
    if isinstance(value, str):
        completed = value + SQLITE_PREFIXES[bucket][1]
        return datetime.fromisoformat(completed).replace(tzinfo=dt_timezone.utc)
    return value


def _floor(moment, bucket):
    if bucket == "minute":
        return moment.replace(second=0, microsecond=0)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "year":
        return day.replace(month=1, day=1)
    return day


def _edge(queryset, lo, hi):
    return queryset.filter(timestamp__gte=lo, timestamp__lt=hi)


def compute_stats(queryset, bucket=None, scope=None):
    """The stats of the filtered ``queryset``; ``scope`` (its ``RollupScope``) lets rollups answer.

    ``bucket`` None: chosen from the span (``auto_bucket``). Rollups answer every bucket but
    minutes: whole hours for an hour bucket or one not chosen yet, whole days for wider ones.
    """
    queryset = queryset.order_by()  # an ORDER BY only slows aggregates down
    if scope is not None and bucket != "minute":
        parts, edges = scope.split(days=bucket not in (None, RollupPeriod.HOUR))
        groups = [g for part in parts for g in _rollup_groups(scope.rollups(*part))]
        groups += [g for lo, hi in edges for g in _groups(_edge(queryset, lo, hi))]
    else:
        parts, edges, groups = None, None, _groups(queryset)
    combined = _combine(groups)
    first, last = combined.pop("first"), combined.pop("last")
    feedback = combined.pop("feedback")
    bucket = bucket or auto_bucket(first, last)
    rows = []
    if first is not None:
        _check_buckets(bucket, first, last)
        if parts is None:
            rows = _series_rows(queryset, bucket)
        else:
            rows = [r for part in parts for r in _rollup_series_rows(scope.rollups(*part), bucket)]
            rows += [r for lo, hi in edges for r in _series_rows(_edge(queryset, lo, hi), bucket)]
    return {
        **combined,
        "first_timestamp": _iso(first),
        "last_timestamp": _iso(last),
        "bucket": bucket,
        "series": _series(rows, bucket, first, last),
        "feedback": feedback,
    }


class BucketSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(
        choices=list(BUCKETS),
        required=False,
        help_text=(
            f"Width of the time-series buckets (UTC); at most {MAX_BUCKETS} buckets, else 400. "
            "Omitted: hour, or the narrowest of day, month and year that fits the span."
        ),
    )


class SeriesPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Start of the bucket (inclusive), UTC.")
    total = serializers.IntegerField()
    anomalies = serializers.IntegerField()
    mean_score = serializers.FloatField(allow_null=True)
    max_score = serializers.FloatField(allow_null=True)


class SourceCountSerializer(serializers.Serializer):
    source_type = serializers.CharField()
    total = serializers.IntegerField()
    anomalies = serializers.IntegerField()


class MeanBettiSerializer(serializers.Serializer):
    h0 = serializers.FloatField(allow_null=True)
    h1 = serializers.FloatField(allow_null=True)
    h2 = serializers.FloatField(allow_null=True)


class SeverityCountSerializer(serializers.Serializer):
    low = serializers.IntegerField()
    medium = serializers.IntegerField()
    high = serializers.IntegerField()
    critical = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    """Documentation of the stats answer (the view returns ``compute_stats`` as is)."""

    total = serializers.IntegerField()
    anomalies = serializers.IntegerField()
    anomaly_rate = serializers.FloatField(help_text="anomalies / total; 0 when there is nothing.")
    first_timestamp = serializers.DateTimeField(allow_null=True)
    last_timestamp = serializers.DateTimeField(allow_null=True)
    mean_score = serializers.FloatField(allow_null=True)
    max_score = serializers.FloatField(allow_null=True)
    mean_betti = MeanBettiSerializer()
    by_source = SourceCountSerializer(many=True, help_text="Most frequent source first.")
    by_severity = SeverityCountSerializer()
    bucket = serializers.ChoiceField(choices=list(BUCKETS))
    series = SeriesPointSerializer(
        many=True, help_text="Every bucket from the first to the last detection; empty ones have 0."
    )
    feedback = FeedbackSummarySerializer(help_text="Precision as judged by people's feedback.")
