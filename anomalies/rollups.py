"""Hourly and daily rollups of the detections, kept in step with every write.

A rollup row aggregates the detections of one (period, start, source, series, severity, flag):
their count, score sum/min/max, Betti sums, first and last time and current feedback labels.
``AnomalyLogQuerySet`` calls this module inside the transaction that writes the detections, so
the rollups never disagree with the rows on SQLite and PostgreSQL (MongoDB has no transactions:
rows go first, rollups right after).

- adding rows is one ``INSERT … ON CONFLICT DO UPDATE`` per batch of groups (SQLite's scalar
  ``MIN()``/``MAX()``, PostgreSQL's ``LEAST``/``GREATEST``), or a pymongo ``bulk_write`` of
  ``$inc``/``$min``/``$max`` upserts on MongoDB;
- removing rows subtracts the aggregates of their groups (computed by the database before the
  delete), drops emptied groups and recomputes the min/max of the others from the rows left;
- a change of feedback label moves counts between labels; a change of time, source, severity,
  flag or score moves rows between groups.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import connections, models, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Substr, TruncHour

from anomalies.models import AnomalyLog, DetectionRollup, FeedbackLabel, RollupPeriod

PERIODS = {RollupPeriod.HOUR: timedelta(hours=1), RollupPeriod.DAY: timedelta(days=1)}
KEY_FIELDS = ("period", "start", "source_type", "series", "severity", "is_anomaly")
SUM_FIELDS = ("count", "score_sum", "h0_sum", "h1_sum", "h2_sum") + tuple(
    f"feedback_{label}" for label in FeedbackLabel.values
)
MIN_FIELDS = ("score_min", "first_at")
MAX_FIELDS = ("score_max", "last_at")
UPSERT_BATCH = 500
PK_CHUNK = 5000
# Changing only these leaves every detection in its group with the same extremes.
SUM_ONLY_FIELDS = frozenset({"feedback_label", "betti_h0", "betti_h1", "betti_h2"})


def floor(moment, period):
    moment = moment.astimezone(dt_timezone.utc)
    if period == RollupPeriod.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Group:
    """Aggregates of some detections of one rollup group (or a change to them)."""

    count: int = 0
    score_sum: float = 0.0
    h0_sum: int = 0
    h1_sum: int = 0
    h2_sum: int = 0
    score_min: float | None = None
    score_max: float | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    labels: dict = field(default_factory=dict)

    def merge(self, other):
        self.count += other.count
        self.score_sum += other.score_sum
        self.h0_sum += other.h0_sum
        self.h1_sum += other.h1_sum
        self.h2_sum += other.h2_sum
        self.score_min = _least(self.score_min, other.score_min)
        self.score_max = _greatest(self.score_max, other.score_max)
        self.first_at = _least(self.first_at, other.first_at)
        self.last_at = _greatest(self.last_at, other.last_at)
        for label, count in other.labels.items():
            self.labels[label] = self.labels.get(label, 0) + count

    def negated(self):
        """The change that removes these detections (extremes are recomputed afterwards)."""
        return Group(
            count=-self.count, score_sum=-self.score_sum, h0_sum=-self.h0_sum,
            h1_sum=-self.h1_sum, h2_sum=-self.h2_sum,
            labels={label: -count for label, count in self.labels.items()},
        )

    def values(self):
        return {
            "count": self.count, "score_sum": self.score_sum, "h0_sum": self.h0_sum,
            "h1_sum": self.h1_sum, "h2_sum": self.h2_sum, "score_min": self.score_min,
            "score_max": self.score_max, "first_at": self.first_at, "last_at": self.last_at,
            **{f"feedback_{label}": self.labels.get(label, 0) for label in FeedbackLabel.values},
        }


def _least(a, b):
    return b if a is None else a if b is None else min(a, b)


def _greatest(a, b):
    return b if a is None else a if b is None else max(a, b)


def _with_days(hour_groups):
    """Hour groups plus the day groups they add up to: {key: Group}."""
    groups = dict(hour_groups)
    for key, group in hour_groups.items():
        day_key = (RollupPeriod.DAY, floor(key[1], RollupPeriod.DAY), *key[2:])
        groups.setdefault(day_key, Group()).merge(group)
    return groups


def groups_of_objects(objects):
    """Hour and day groups of detection instances, computed in Python."""
    hours = {}
    for obj in objects:
        key = (RollupPeriod.HOUR, floor(obj.timestamp, RollupPeriod.HOUR), obj.source_type, obj.series,
               obj.severity, bool(obj.is_anomaly))
        labels = {obj.feedback_label: 1} if obj.feedback_label else {}
        score = obj.anomaly_score
        hours.setdefault(key, Group()).merge(
            Group(1, score or 0.0, obj.betti_h0, obj.betti_h1, obj.betti_h2, score, score,
                  obj.timestamp, obj.timestamp, labels)
        )
    return _with_days(hours)


def _hour_expression(vendor):
    # SQLite stores UTC text 'YYYY-MM-DD HH:MM:SS…': its first 13 characters are the hour, in C
    # (Django's TruncHour is a Python function per row there).
    if vendor == "sqlite":
        return Substr("timestamp", 1, 13)
    return TruncHour("timestamp", tzinfo=dt_timezone.utc)


def _hour_start(value):
    if isinstance(value, str):
        return datetime.fromisoformat(value + ":00:00").replace(tzinfo=dt_timezone.utc)
    return value.astimezone(dt_timezone.utc)


def groups_of(queryset):
    """Hour and day groups of the detections in ``queryset``, aggregated by the database."""
    vendor = connections[queryset.db].vendor
    rows = (
        queryset.order_by()
        .annotate(rollup_hour=_hour_expression(vendor))
        .values("rollup_hour", "source_type", "series", "severity", "is_anomaly")
        .annotate(
            n=Count("pk"), score_total=Sum("anomaly_score"), low=Min("anomaly_score"),
            high=Max("anomaly_score"), h0=Sum("betti_h0"), h1=Sum("betti_h1"), h2=Sum("betti_h2"),
            first=Min("timestamp"), last=Max("timestamp"),
            **{f"label_{label}": Count("pk", filter=Q(feedback_label=label))
               for label in FeedbackLabel.values},
        )
    )
    hours = {}
    for row in rows:
        key = (RollupPeriod.HOUR, _hour_start(row["rollup_hour"]), row["source_type"], row["series"],
               row["severity"], bool(row["is_anomaly"]))
        labels = {label: row[f"label_{label}"] for label in FeedbackLabel.values}
        hours[key] = Group(row["n"], row["score_total"] or 0.0, row["h0"] or 0, row["h1"] or 0,
                           row["h2"] or 0, row["low"], row["high"], row["first"], row["last"],
                           {label: n for label, n in labels.items() if n})
    return _with_days(hours)


# --- writing the changes --------------------------------------------------------------------
def _apply(changes, using):
    """Add each change to its rollup row, creating the rows missing."""
    if not changes:
        return
    connection = connections[using]
    if connection.vendor == "mongodb":
        _apply_mongodb(changes, connection)
        return
    items = list(changes.items())
    with connection.cursor() as cursor:
        for index in range(0, len(items), UPSERT_BATCH):
            sql, params = _upsert_sql(items[index : index + UPSERT_BATCH], connection)
            cursor.execute(sql, params)


def _upsert_sql(items, connection):
    quote = connection.ops.quote_name
    table = quote(DetectionRollup._meta.db_table)
    names = KEY_FIELDS + SUM_FIELDS + MIN_FIELDS + MAX_FIELDS
    model_fields = [DetectionRollup._meta.get_field(name) for name in names]
    columns = [quote(f.column) for f in model_fields]
    row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
    params = []
    for key, group in items:
        values = {**dict(zip(KEY_FIELDS, key)), **group.values()}
        params.extend(f.get_db_prep_save(values[f.name], connection) for f in model_fields)
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    updates = [f"{c} = {table}.{c} + excluded.{c}" for c in columns[len(KEY_FIELDS):len(KEY_FIELDS) + len(SUM_FIELDS)]]
    for function, group_columns in ((least, MIN_FIELDS), (greatest, MAX_FIELDS)):
        for name in group_columns:
            c = quote(DetectionRollup._meta.get_field(name).column)
            # SQLite's MIN(x, NULL) is NULL: fall back to whichever side is known.
            updates.append(f"{c} = COALESCE({function}({table}.{c}, excluded.{c}), {table}.{c}, excluded.{c})")
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row_sql] * len(items))} "
        f"ON CONFLICT ({', '.join(columns[:len(KEY_FIELDS)])}) DO UPDATE SET {', '.join(updates)}"
    )
    return sql, params


def _apply_mongodb(changes, connection):
    from pymongo import UpdateOne

    names = {name: DetectionRollup._meta.get_field(name).column
             for name in KEY_FIELDS + SUM_FIELDS + MIN_FIELDS + MAX_FIELDS}
    operations = []
    for key, group in changes.items():
        values = group.values()
        update = {"$inc": {names[n]: values[n] for n in SUM_FIELDS}}
        lows = {names[n]: values[n] for n in MIN_FIELDS if values[n] is not None}
        highs = {names[n]: values[n] for n in MAX_FIELDS if values[n] is not None}
        if lows:
            update["$min"] = lows
        if highs:
            update["$max"] = highs
        match = {names[n]: value for n, value in zip(KEY_FIELDS, key)}
        operations.append(UpdateOne(match, update, upsert=True))
    connection.get_collection(DetectionRollup._meta.db_table).bulk_write(operations, ordered=False)


def _key_filter(key):
    return dict(zip(KEY_FIELDS, key))


def _settle(keys, using):
    """Drop emptied groups; recompute the extremes of the other ``keys`` from the detections."""
    rollups = DetectionRollup.objects.using(using)
    rollups.filter(count__lte=0).delete()
    for key in keys:
        period, start, source_type, series, severity, is_anomaly = key
        if not rollups.filter(**_key_filter(key)).exists():
            continue
        extremes = (
            AnomalyLog.objects.using(using)
            .filter(timestamp__gte=start, timestamp__lt=start + PERIODS[period],
                    source_type=source_type, series=series, severity=severity,
                    is_anomaly=is_anomaly)
            .order_by()
            .aggregate(score_min=Min("anomaly_score"), score_max=Max("anomaly_score"),
                       first_at=Min("timestamp"), last_at=Max("timestamp"))
        )
        rollups.filter(**_key_filter(key)).update(**extremes)


def add(objects, using="default"):
    """Count newly stored detection instances in their rollups."""
    _apply(groups_of_objects(objects), using)


def subtract(groups, using="default"):
    """Take ``groups`` (``groups_of`` the detections, read before they were deleted) out."""
    _apply({key: group.negated() for key, group in groups.items()}, using)
    _settle(groups, using)


def update_rows(queryset, changes):
    """``queryset.update(**changes)`` with the rollups moved along; returns the rows updated."""
    using = queryset.db
    pks = list(queryset.order_by().values_list("pk", flat=True))
    updated = 0
    for index in range(0, len(pks), PK_CHUNK):
        rows = AnomalyLog.objects.using(using).filter(pk__in=pks[index : index + PK_CHUNK])
        before = groups_of(rows)
        updated += models.QuerySet.update(rows, **changes)
        _apply({key: group.negated() for key, group in before.items()}, using)
        _apply(groups_of(rows), using)
        if not SUM_ONLY_FIELDS.issuperset(changes):
            _settle(before, using)
    return updated


def insert_new(queryset, objects):
    """Insert the detections whose ``dedup_key`` is new and count them in the rollups.

    A concurrent writer may store the same key between the check and the insert: the rows
    read back are then theirs, recognised by a ``created_at`` other than ours, and not counted.
    """
    using = queryset.db
    connection = connections[using]
    ours = {obj.dedup_key: obj for obj in objects}
    if not ours:
        return []
    with transaction.atomic(using=using):
        stored = set(queryset.filter(dedup_key__in=list(ours)).values_list("dedup_key", flat=True))
        fresh = [obj for key, obj in ours.items() if key not in stored]
        if not fresh:
            return []
        if connection.features.supports_ignore_conflicts:
            models.QuerySet.bulk_create(queryset, fresh, ignore_conflicts=True)
            inserted = _ours(queryset, fresh)
        else:
            inserted = _insert_one_by_one_on_conflict(queryset, fresh)
        add(inserted, using)
    return inserted


def _ours(queryset, objects):
    mine = {obj.dedup_key: obj.created_at for obj in objects}
    rows = queryset.filter(dedup_key__in=list(mine)).order_by("timestamp")
    return [row for row in rows if row.created_at == mine[row.dedup_key]]


def _insert_one_by_one_on_conflict(queryset, objects):
    """MongoDB: one bulk insert; if a key was taken meanwhile, the rest one by one."""
    from django.db import IntegrityError

    try:
        return models.QuerySet.bulk_create(queryset, objects)
    except IntegrityError:
        pass
    inserted = _ours(queryset, objects)
    done = {row.dedup_key for row in inserted}
    for obj in objects:
        if obj.dedup_key in done:
            continue
        obj.pk = None
        try:
            models.Model.save_base(obj, force_insert=True, using=queryset.db)
            inserted.append(obj)
        except IntegrityError:
            pass
    return inserted


def rebuild(using="default", progress=None):
    """Recompute every rollup from the detections, one day at a time; returns the groups written.

    ``progress`` (a callable) is told each day done, for a progress bar.
    """
    logs = AnomalyLog.objects.using(using).order_by()
    bounds = logs.aggregate(first=Min("timestamp"), last=Max("timestamp"))
    with transaction.atomic(using=using):
        DetectionRollup.objects.using(using).all().delete()
        if bounds["first"] is None:
            return 0
        day = floor(bounds["first"], RollupPeriod.DAY)
        written = 0
        while day <= bounds["last"]:
            groups = groups_of(logs.filter(timestamp__gte=day, timestamp__lt=day + PERIODS["day"]))
            _apply(groups, using)
            written += len(groups)
            day += PERIODS["day"]
            if progress is not None:
                progress(day)
    return written
