"""The series registry (``Series``): each series' latest score, latest anomaly and owner.

The store calls ``record`` once per batch of newly stored detections, inside the batch's
transaction: the batch is reduced in Python to one entry per (source, series), then written by
one ``INSERT … ON CONFLICT DO UPDATE`` (SQLite, PostgreSQL) or one pymongo ``bulk_write`` of
upserts (MongoDB). A row older than the registered latest one (a journal drained late) moves
neither ``last_at`` nor ``last_score``; ``last_anomaly_at`` only moves forward.
"""
from dataclasses import dataclass

from django.db import connections
from django.db.models import Max, Q
from django.utils import timezone

from anomalies.models import AnomalyLog, DetectionRollup, RollupPeriod, Series

UPSERT_BATCH = 500
FIELDS = ("source_type", "series", "last_score", "last_at", "last_anomaly_at", "owner", "updated_at")


@dataclass
class Latest:
    last_at: object
    last_score: float | None
    last_anomaly_at: object = None


def latest_of(detections):
    """{(source_type, series): Latest} of detection instances."""
    entries = {}
    for row in detections:
        key = (row.source_type, row.series)
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = Latest(row.timestamp, row.anomaly_score)
        elif row.timestamp >= entry.last_at:
            entry.last_at, entry.last_score = row.timestamp, row.anomaly_score
        if row.is_anomaly and (entry.last_anomaly_at is None or row.timestamp > entry.last_anomaly_at):
            entry.last_anomaly_at = row.timestamp
    return entries


def record(detections, owner="", using="default"):
    """Register the latest detection of each series among ``detections`` (newly stored rows)."""
    entries = latest_of(detections)
    if not entries:
        return
    connection = connections[using]
    now = timezone.now()
    if connection.vendor == "mongodb":
        _record_mongodb(entries, owner, now, connection)
        return
    items = list(entries.items())
    with connection.cursor() as cursor:
        for index in range(0, len(items), UPSERT_BATCH):
            sql, params = _upsert_sql(items[index : index + UPSERT_BATCH], owner, now, connection)
            cursor.execute(sql, params)


def _upsert_sql(items, owner, now, connection):
    quote = connection.ops.quote_name
    table = quote(Series._meta.db_table)
    model_fields = [Series._meta.get_field(name) for name in FIELDS]
    column = {f.name: quote(f.column) for f in model_fields}
    params = []
    for (source_type, series), entry in items:
        values = {"source_type": source_type, "series": series, "last_score": entry.last_score,
                  "last_at": entry.last_at, "last_anomaly_at": entry.last_anomaly_at, "owner": owner,
                  "updated_at": now}
        params.extend(f.get_db_prep_save(values[f.name], connection) for f in model_fields)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    last_at, last_score, last_anomaly = column["last_at"], column["last_score"], column["last_anomaly_at"]
    row_sql = "(" + ", ".join(["%s"] * len(FIELDS)) + ")"
    # SET expressions read the row as it was before the update, on both databases.
    updates = [
        f"{last_score} = CASE WHEN excluded.{last_at} >= {table}.{last_at} "
        f"THEN excluded.{last_score} ELSE {table}.{last_score} END",
        f"{last_at} = {greatest}({table}.{last_at}, excluded.{last_at})",
        f"{last_anomaly} = COALESCE({greatest}({table}.{last_anomaly}, excluded.{last_anomaly}), "
        f"{table}.{last_anomaly}, excluded.{last_anomaly})",
        f"{column['owner']} = excluded.{column['owner']}",
        f"{column['updated_at']} = excluded.{column['updated_at']}",
    ]
    sql = (
        f"INSERT INTO {table} ({', '.join(column[name] for name in FIELDS)}) "
        f"VALUES {', '.join([row_sql] * len(items))} "
        f"ON CONFLICT ({column['source_type']}, {column['series']}) DO UPDATE SET {', '.join(updates)}"
    )
    return sql, params


def _record_mongodb(entries, owner, now, connection):
    """One upsert per series; an update pipeline keeps ``last_score`` with the newest ``last_at``."""
    from pymongo import UpdateOne

    name = {field: Series._meta.get_field(field).column for field in FIELDS}
    operations = []
    for (source_type, series), entry in entries.items():
        newer = {"$gte": [entry.last_at, {"$ifNull": [f"${name['last_at']}", entry.last_at]}]}
        stage = {
            name["last_score"]: {"$cond": [newer, entry.last_score, f"${name['last_score']}"]},
            name["last_at"]: {"$max": [f"${name['last_at']}", entry.last_at]},
            name["owner"]: {"$literal": owner},  # a "$…" owner is text, not a field path
            name["updated_at"]: now,
        }
        if entry.last_anomaly_at is not None:
            stage[name["last_anomaly_at"]] = {"$max": [f"${name['last_anomaly_at']}", entry.last_anomaly_at]}
        else:
            stage[name["last_anomaly_at"]] = {"$ifNull": [f"${name['last_anomaly_at']}", None]}
        match = {name["source_type"]: source_type, name["series"]: series}
        operations.append(UpdateOne(match, [{"$set": stage}], upsert=True))
    connection.get_collection(Series._meta.db_table).bulk_write(operations, ordered=False)


def rebuild(using="default"):
    """Fill the registry from the stored detections (for rows stored before it existed)."""
    days = (
        DetectionRollup.objects.using(using).filter(period=RollupPeriod.DAY).order_by()
        .values("source_type", "series")
        .annotate(last=Max("last_at"), last_anomaly=Max("last_at", filter=Q(is_anomaly=True)))
    )
    logs = AnomalyLog.objects.using(using)
    now = timezone.now()
    entries = []
    for group in days:
        latest = (logs.filter(source_type=group["source_type"], series=group["series"])
                  .order_by("-timestamp").values_list("anomaly_score", flat=True).first())
        entries.append(Series(source_type=group["source_type"], series=group["series"], last_score=latest,
                              last_at=group["last"], last_anomaly_at=group["last_anomaly"], updated_at=now))
    Series.objects.using(using).all().delete()
    Series.objects.using(using).bulk_create(entries, batch_size=UPSERT_BATCH)
    return len(entries)
