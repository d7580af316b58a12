"""Streaming export of detections as CSV or NDJSON, in constant memory.

Rows come from ``values_list(...).iterator(chunk_size=...)`` (a server-side cursor on PostgreSQL,
chunked fetches elsewhere), are formatted without model instances or serializers, and leave in
chunks of a few hundred kilobytes. Under ASGI the chunks are produced by an async generator that
steps the database iterator in the request's sync thread: Django would otherwise read a
synchronous streaming iterator to the end into memory before sending a byte.

Each NDJSON line is exactly the detection's JSON from the list endpoint. CSV has the same columns
(see ``COLUMNS``) with JSON objects as compact JSON text, booleans as ``true``/``false`` and
text cells that a spreadsheet would run as a formula prefixed with ``'``.
"""
import csv
import io
import json
from datetime import timezone as dt_timezone

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone

COLUMNS = (
    "id",
    "timestamp",
    "source_type",
    "anomaly_score",
    "is_anomaly",
    "severity",
    "betti_h0",
    "betti_h1",
    "betti_h2",
    "event_data",
    "metadata",
    "dedup_key",
    "created_at",
)
_DB_FIELDS = ("pk",) + COLUMNS[1:]
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
DB_CHUNK_SIZE = 2000
ROWS_PER_CHUNK = 1000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def isoformat(moment):
    """The API's date-time text (as DRF renders it): ISO 8601 in UTC with ``Z``."""
    text = moment.astimezone(dt_timezone.utc).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def neutralise(cell):
    """A text cell a spreadsheet would evaluate (``=cmd|...``) becomes inert text."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _record(row):
    pk, moment, source, score, flag, severity, h0, h1, h2, event_data, metadata, key, created = row
    return {
        "id": str(pk),
        "timestamp": isoformat(moment),
        "source_type": source,
        "anomaly_score": score,
        "is_anomaly": flag,
        "severity": severity,
        "betti_h0": h0,
        "betti_h1": h1,
        "betti_h2": h2,
        "event_data": event_data,
        "metadata": metadata,
        "dedup_key": key,
        "created_at": isoformat(created),
    }


def _csv_cells(row):
    pk, moment, source, score, flag, severity, h0, h1, h2, event_data, metadata, key, created = row
    return (
        str(pk),
        isoformat(moment),
        neutralise(source),
        repr(score),
        "true" if flag else "false",
        severity,
        h0,
        h1,
        h2,
        neutralise(_compact(event_data)),
        neutralise(_compact(metadata)),
        neutralise(key),
        isoformat(created),
    )


def _batches(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == ROWS_PER_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_chunks(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for batch in _batches(rows):
        writer.writerows(map(_csv_cells, batch))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def ndjson_chunks(rows):
    for batch in _batches(rows):
        yield "".join(_compact(_record(row)) + "\n" for row in batch)


CHUNKERS = {"csv": csv_chunks, "ndjson": ndjson_chunks}


async def _in_sync_thread(chunks):
    """Step a synchronous generator from async code, in the thread that owns its DB cursor."""
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    try:
        while (chunk := await step()) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()


def export_filename(start, end, extension):
    """``anomalies_<start>_<end>.<ext>``: the requested range, or ``earliest``/the export time."""

    def stamp(moment):
        return moment.astimezone(dt_timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    first = stamp(start) if start else "earliest"
    return f"anomalies_{first}_{stamp(end or timezone.now())}.{extension}"


def export_response(request, queryset, export_format, filename):
    rows = queryset.values_list(*_DB_FIELDS).iterator(chunk_size=DB_CHUNK_SIZE)
    chunks = CHUNKERS[export_format](rows)
    if isinstance(getattr(request, "_request", request), ASGIRequest):
        chunks = _in_sync_thread(chunks)
    response = StreamingHttpResponse(chunks, content_type=FORMATS[export_format])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # let a proxy pass chunks through as they come
    return response
