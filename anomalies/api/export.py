"""Streaming export of detections as CSV or NDJSON, in constant memory.

Rows come from ``values_list(...).iterator(chunk_size=...)`` (a server-side cursor on PostgreSQL,
chunked fetches elsewhere), are formatted without model instances or serializers, and leave in
chunks of about a thousand rows. Under ASGI the chunks are produced by an async generator that
steps the database iterator in the request's sync thread: Django would otherwise read a
synchronous streaming iterator to the end into memory before sending a byte.

The columns are the fields of ``AnomalyLogSerializer`` in its order, so each NDJSON line is
exactly the detection's JSON from the list endpoint, and a field added there is exported too.
CSV: a header row, JSON objects as JSON text, booleans as ``true``/``false``, times in UTC ISO 8601
with ``Z``, and text cells that a spreadsheet would run as a formula (starting with ``= + - @``, tab
or CR) prefixed with ``'``. JSON columns are read as text where the backend stores them so
(SQLite, PostgreSQL), sparing a decode and an encode per row.
"""
import csv
import io
import json
from datetime import timezone as dt_timezone

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections, models
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils import timezone

from anomalies.api.serializers import AnomalyLogSerializer
from anomalies.models import AnomalyLog

COLUMNS = tuple(AnomalyLogSerializer.Meta.fields)
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
DB_CHUNK_SIZE = 2000
ROWS_PER_CHUNK = 1000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
JSON_AS_TEXT_VENDORS = ("sqlite", "postgresql")

_json_string = json.encoder.encode_basestring  # the C encoder json.dumps uses for str


def isoformat(moment):
    """The API's date-time text (as DRF renders it): ISO 8601 in UTC with ``Z``."""
    text = moment.isoformat()
    if not text.endswith("+00:00"):  # the databases return UTC; anything else is converted
        text = moment.astimezone(dt_timezone.utc).isoformat()
    return text[:-6] + "Z"


def neutralise(cell):
    """A text cell a spreadsheet would evaluate (``=cmd|...``) becomes inert text."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _json_text(value):
    """JSON text of a JSON column: as read (``str``), or encoded when the backend decoded it."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _model_field(name):
    return AnomalyLog._meta.pk if name == "id" else AnomalyLog._meta.get_field(name)


def _formatters(field):
    """(NDJSON text, CSV cell) formatters of one column's database value."""
    if field.primary_key or isinstance(field, models.ForeignKey):  # ids are strings in the API
        return (lambda v: f'"{v}"'), str
    if isinstance(field, models.DateTimeField):
        return (lambda v: f'"{isoformat(v)}"'), isoformat
    if isinstance(field, models.JSONField):
        return _json_text, (lambda v: neutralise(_json_text(v)))
    if isinstance(field, models.BooleanField):
        return (lambda v: "true" if v else "false"), (lambda v: "true" if v else "false")
    if isinstance(field, models.FloatField):
        return repr, repr
    if isinstance(field, models.IntegerField):
        return str, str
    if isinstance(field, (models.CharField, models.TextField)):
        return _json_string, neutralise
    raise TypeError(f"the export cannot format {field!r}; teach anomalies/api/export.py")


def _allow_null(formatter, null_text):
    return lambda v: null_text if v is None else formatter(v)


class Layout:
    """What to select and how to write each column, for one database backend."""

    def __init__(self, vendor):
        fields = [_model_field(name) for name in COLUMNS]
        self.select = [
            Cast(field.name, output_field=models.TextField())
            if isinstance(field, models.JSONField) and vendor in JSON_AS_TEXT_VENDORS
            else ("pk" if field.primary_key else field.name)
            for field in fields
        ]
        self.json, self.csv = [], []
        for field in fields:
            to_json, to_csv = _formatters(field)
            if field.null:
                to_json, to_csv = _allow_null(to_json, "null"), _allow_null(to_csv, "")
            self.json.append(to_json)
            self.csv.append(to_csv)
        self.keys = [f'"{name}":' for name in COLUMNS]

    def ndjson_line(self, row):
        pairs = [key + write(value) for key, write, value in zip(self.keys, self.json, row)]
        return "{" + ",".join(pairs) + "}\n"

    def csv_cells(self, row):
        return [write(value) for write, value in zip(self.csv, row)]


def _batches(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == ROWS_PER_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_chunks(rows, layout):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for batch in _batches(rows):
        writer.writerows(map(layout.csv_cells, batch))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def ndjson_chunks(rows, layout):
    for batch in _batches(rows):
        yield "".join(map(layout.ndjson_line, batch))


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


def export_rows(queryset):
    """The rows to export (a lazy iterator) and the layout that writes them."""
    layout = Layout(connections[queryset.db].vendor)
    return queryset.values_list(*layout.select).iterator(chunk_size=DB_CHUNK_SIZE), layout


def reference_chunks(queryset, export_format):
    """The export formatted in Python: the reference the database-written paths match."""
    rows, layout = export_rows(queryset)
    return CHUNKERS[export_format](rows, layout)


def export_response(request, queryset, export_format, filename):
    from anomalies.api import export_sql  # it builds on this module's layout

    chunks = export_sql.chunks(queryset, export_format) or reference_chunks(queryset, export_format)
    if isinstance(getattr(request, "_request", request), ASGIRequest):
        chunks = _in_sync_thread(chunks)
    response = StreamingHttpResponse(chunks, content_type=FORMATS[export_format])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # let a proxy pass chunks through as they come
    return response
