"""Exports written by the database itself: the same bytes as ``export.py``, several times faster.

``export.py`` formats every cell in Python (about 30,000-50,000 rows per CPU-second); here the
database does the formatting wherever it can write the exact text:

- PostgreSQL: ``COPY (SELECT <one finished CSV or NDJSON line per row> ...) TO STDOUT`` in binary
  format, read with psycopg's ``cursor.copy()``. Formula neutralising, CSV quoting, JSON string
  escaping (``to_json``, which escapes exactly what Python's ``encode_basestring`` does) and the
  ``Z`` times are SQL; Python only strips each row's 6-byte binary field header and joins rows.
- SQLite, CSV: one ``SELECT`` of the finished cells (times, booleans, neutralised text written in
  SQL; floats as stored), passed whole to ``csv.writer.writerows``, whose quoting is then the
  reference's by construction and whose ``str()`` of a float is Python's ``repr``. NDJSON: the
  finished text between the float columns, joined around ``repr()`` of each float (SQLite prints
  15 significant digits, not the shortest round-trip form) with one ``%`` format per row. No model
  instances, no Django converters (docs/PERFORMANCE.md has the variants measured).
- MongoDB: an aggregate pipeline of the queryset's own ``$match`` and ``$sort`` (from
  django-mongodb-backend's compiler) and a ``$project`` of the exported fields, read in batches by
  pymongo and formatted by ``export.py``'s layout, without Django's per-row converters.

The filters and the order are the queryset's: the SQL is Django's compiled query with the line
(or the cells) as its only selected columns. ``chunks()`` answers None for a backend or a column
it does not know, and the caller falls back to ``export.py``, which stays the reference that a
test diffs these paths against.
"""
import csv
import io
from datetime import timezone as dt_timezone

from django.db import connections, models
from django.db.models.expressions import RawSQL

from anomalies.api.export import CHUNKERS, COLUMNS, FORMULA_PREFIXES, ROWS_PER_CHUNK, Layout, _model_field
from anomalies.models import AnomalyLog

CSV_HEADER = ",".join(COLUMNS) + "\r\n"
CSV_SPECIALS = ('"', ",", "\n", "\r")  # what makes Python's csv.writer (QUOTE_MINIMAL) quote a cell
BINARY_COPY_HEADER_LENGTH = 19  # signature (11 bytes), flags (4), header extension length (4) = 0
BINARY_ROW_PREFIX_LENGTH = 6  # field count (2 bytes), field length (4)
MONGODB_BATCH_SIZE = 2000
QUOTE = '"'
NULL_TEXT = {"ndjson": "null", "csv": ""}  # export.py's null: JSON null, an empty CSV cell


def _sql_text(text, char):
    """SQL of the string ``text``; ``char`` is the backend's function of a code point."""
    escaped = "".join(f"' || {char}({ord(c)}) || '" if c in "\t\r\n" else c for c in text.replace("'", "''"))
    return f"'{escaped}'"


class Dialect:
    """SQL for the cells, for one SQL backend. ``column`` is a qualified, quoted column name."""

    writes_floats = True  # whether the database prints a float as Python's repr() does
    char = "chr"

    def text(self, text):
        return _sql_text(text, self.char)

    def neutralised(self, text):
        """``export.neutralise(text)``: a cell a spreadsheet would run as a formula gets a ``'``."""
        prefixes = ", ".join(self.text(prefix) for prefix in FORMULA_PREFIXES)
        return f"CASE WHEN substr({text}, 1, 1) IN ({prefixes}) THEN {self.text(chr(39))} || {text} ELSE {text} END"

    def csv_quoted(self, text, cell):
        """Python's ``csv.writer`` (QUOTE_MINIMAL) of ``cell``, a text made from ``text``.

        The ``'`` of neutralising adds no character that asks for quotes: ``text`` is tested.
        """
        special = " OR ".join(self.contains(text, char) for char in CSV_SPECIALS)
        quote, doubled = self.text(QUOTE), self.text(QUOTE * 2)
        return f"CASE WHEN {special} THEN {quote} || replace({cell}, {quote}, {doubled}) || {quote} ELSE {cell} END"

    def boolean(self, column):
        return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"

    def quoted(self, text):
        return f"{self.text(QUOTE)} || {text} || {self.text(QUOTE)}"

    def cells(self, field, column):
        """(NDJSON value, CSV cell before quoting, the text that decides its quotes or None) SQL.

        None where SQL cannot write the reference's text (the caller falls back to export.py).
        """
        if field.primary_key or isinstance(field, models.ForeignKey):  # ids are strings in the API
            text = f"CAST({column} AS TEXT)"
            return self.quoted(text), text, None
        if isinstance(field, models.DateTimeField):
            text = self.utc_isoformat(column)
            return self.quoted(text), text, None
        if isinstance(field, models.JSONField):
            text = self.json_text(column)
            return text, self.neutralised(text), text
        if isinstance(field, models.BooleanField):
            return self.boolean(column), self.boolean(column), None
        if isinstance(field, models.FloatField):
            return (self.float_repr(column), self.float_repr(column), None) if self.writes_floats else None
        if isinstance(field, models.IntegerField):
            text = f"CAST({column} AS TEXT)"
            return text, text, None
        if isinstance(field, (models.CharField, models.TextField)):
            return self.json_string(column), self.neutralised(column), column
        return None


class PostgreSQL(Dialect):
    def contains(self, text, char):
        return f"strpos({text}, {self.text(char)}) > 0"

    def utc_isoformat(self, column):
        # Python's isoformat: microseconds (6 digits) only when there are any. One to_char with
        # them, then '.000000' (found nowhere else) dropped.
        utc = f"({column} AT TIME ZONE 'UTC')"
        return f"replace(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z'"

    def json_text(self, column):
        return column  # the inner query's text of the JSON value (``base``)

    def json_string(self, column):
        return f"CAST(to_json({column}) AS TEXT)"

    def base(self, field, column):
        """What the inner query selects for ``field``: a JSON or float column as its text, which
        ``json_text`` and ``float_repr`` then take as it is; any other column itself."""
        return f"CAST({column} AS TEXT)" if isinstance(field, (models.JSONField, models.FloatField)) else column

    def float_repr(self, column):
        # float8's text (extra_float_digits >= 1) is the shortest round-trip form, as Python's
        # repr, except that a whole number has no ".0" (repr(1.0) is '1.0', float8 says '1').
        # ``column`` is that text already (``base``).
        whole = f"strpos({column}, '.') = 0 AND strpos({column}, 'e') = 0"
        return f"CASE WHEN {whole} THEN {column} || '.0' ELSE {column} END"


class SQLite(Dialect):
    writes_floats = False  # SQLite prints 15 significant digits: Python writes these cells
    char = "char"

    def contains(self, text, char):
        return f"instr({text}, {self.text(char)}) > 0"

    def utc_isoformat(self, column):
        # Django stores a datetime as its UTC isoformat with a space: 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        return f"substr({column}, 1, 10) || 'T' || substr({column}, 12) || 'Z'"

    def json_text(self, column):
        return column  # stored as JSON text already

    def json_string(self, column):
        return f"json_quote({column})"


def _fields():
    return [_model_field(name) for name in COLUMNS]


def _line_parts(dialect, export_format, column_of):
    """The SQL pieces of one whole line: text expressions, with None where a float goes."""
    fields = _fields()
    ndjson = export_format == "ndjson"
    parts = [dialect.text("{")] if ndjson else []
    for index, (name, field) in enumerate(zip(COLUMNS, fields)):
        separator = ("," if index else "") + (f'"{name}":' if ndjson else "")
        if separator:
            parts.append(dialect.text(separator))
        if isinstance(field, models.FloatField) and not dialect.writes_floats:
            parts.append(None)
            continue
        column = column_of(field)
        cells = dialect.cells(field, column)
        if cells is None:
            return None
        to_json, to_csv, quoting_text = cells
        if ndjson:
            cell = to_json
        else:
            cell = to_csv if quoting_text is None else dialect.csv_quoted(quoting_text, to_csv)
        if field.null:
            cell = f"CASE WHEN {column} IS NULL THEN {dialect.text(NULL_TEXT[export_format])} ELSE {cell} END"
        parts.append(cell)
    parts.append(dialect.text("}\n" if ndjson else "\r\n"))
    return parts


def _segments(parts):
    """Runs of text expressions between the float columns, each run concatenated in SQL."""
    segments, current = [], []
    for part in parts:
        if part is None:
            segments.append(" || ".join(current) or "''")
            segments.append(None)
            current = []
        else:
            current.append(part)
    segments.append(" || ".join(current) or "''")
    return segments


def _without_distinct(queryset):
    """``queryset`` without DISTINCT when it reads one table, else None.

    A ``MultipleChoiceFilter`` (severity) asks for DISTINCT in case of joins; over one table each
    row is unique by its primary key, so it only costs a sort, and it makes Django select the
    ORDER BY columns too, which would end up in the lines.
    """
    if not queryset.query.distinct:
        return queryset
    if len(queryset.query.alias_map) > 1 or queryset.query.distinct_fields:
        return None
    queryset = queryset.all()
    queryset.query.distinct = False
    return queryset


def _compiled(queryset, expressions):
    """Django's SQL and parameters of ``queryset`` selecting only ``expressions`` (SQL texts)."""
    annotations = {f"export_part_{index}": RawSQL(f"({sql})", ()) for index, sql in enumerate(expressions)}
    rows = queryset.annotate(**annotations).values_list(*annotations)
    return rows.query.get_compiler(using=queryset.db).as_sql()


def _columns(connection):
    table = connection.ops.quote_name(AnomalyLog._meta.db_table)
    return lambda field: f"{table}.{connection.ops.quote_name(field.column)}"


def _postgresql_chunks(queryset, export_format, connection):
    """COPY of the lines, built over an inner query that reads each computed cell text once.

    PostgreSQL computes an expression each time it is named, and a CSV line names a JSON
    column's text six times (four tests of the quoting, the formula test, the cell). The inner
    query (the queryset's, with its filters and order) selects the columns, the JSON and float
    ones already cast to text; ``OFFSET 0`` keeps the planner from folding it into the outer
    one, whose only work is to write the lines over it, in its order.
    """
    dialect, column_of, fields = PostgreSQL(), _columns(connection), _fields()
    inner_sql, inner_params = _compiled(queryset, [dialect.base(field, column_of(field)) for field in fields])
    if not queryset.query.is_sliced:  # a LIMIT already keeps a subquery apart
        inner_sql += " OFFSET 0"
    quote = connection.ops.quote_name
    cells = {field: f"export_cells.{quote(f'export_part_{index}')}" for index, field in enumerate(fields)}
    parts = _line_parts(dialect, export_format, cells.__getitem__)
    if parts is None:
        return None
    (line,) = _segments(parts)  # PostgreSQL writes the floats: one expression
    inner = connection.ops.compose_sql(inner_sql, inner_params)
    statement = f"COPY (SELECT {line} FROM ({inner}) AS export_cells) TO STDOUT (FORMAT binary)"

    def chunks():
        if export_format == "csv":
            yield CSV_HEADER.encode()
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            # Each row arrives as a memoryview of a buffer that the next read frees: copy it out.
            chunk, rows, first = bytearray(), 0, True
            for data in copy:
                if first:  # the binary header arrives with the first row
                    data, first = data[BINARY_COPY_HEADER_LENGTH:], False
                chunk += data[BINARY_ROW_PREFIX_LENGTH:]  # the trailer (-1, 2 bytes) adds nothing
                rows += 1
                if rows == ROWS_PER_CHUNK:
                    yield bytes(chunk)
                    chunk, rows = bytearray(), 0
            if chunk:
                yield bytes(chunk)

    return chunks()


def _float_columns(column_of):
    return [column_of(_model_field(name)) for name in COLUMNS if isinstance(_model_field(name), models.FloatField)]


def _sqlite_csv(queryset, connection):
    dialect, column_of, fields = SQLite(), _columns(connection), _fields()
    expressions = []  # a NULL (a nullable column's) is written by csv.writer as export.py does: ""
    for field in fields:
        if isinstance(field, models.FloatField):
            expressions.append(column_of(field))  # csv.writer writes str(float), which is repr
            continue
        cells = dialect.cells(field, column_of(field))
        if cells is None:
            return None
        expressions.append(cells[1])
    sql, params = _compiled(queryset, expressions)

    def chunks():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")  # as export.csv_chunks
        writer.writerow(COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(ROWS_PER_CHUNK):
                writer.writerows(rows)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()

    return chunks()


def _sqlite_ndjson(queryset, connection):
    column_of = _columns(connection)
    parts = _line_parts(SQLite(), "ndjson", column_of)
    if parts is None:
        return None
    segments = _segments(parts)
    floats = iter(_float_columns(column_of))
    sql, params = _compiled(queryset, [next(floats) if segment is None else segment for segment in segments])
    template = "".join("%r" if segment is None else "%s" for segment in segments)

    def with_null(row):
        """A line with a null float (a warm-up row's score): the rare case, cell by cell."""
        return "".join("null" if v is None else repr(v) if isinstance(v, float) else v for v in row)

    def chunks():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(ROWS_PER_CHUNK):
                yield "".join([with_null(row) if None in row else template % row for row in rows])

    return chunks()


def _sqlite_chunks(queryset, export_format, connection):
    return (_sqlite_csv if export_format == "csv" else _sqlite_ndjson)(queryset, connection)


def _mongodb_chunks(queryset, export_format, connection):
    """The queryset's ``$match`` and ``$sort`` plus a ``$project``, streamed in batches.

    The stages come from the backend's compiler as its ``explain()`` builds them; the rows are
    formatted by ``export.py``'s layout, so the bytes follow the reference by construction.
    """
    compiler = queryset.query.get_compiler(using=queryset.db)
    compiler.pre_sql_setup()
    query = compiler.build_query()
    fields = [_model_field(name) for name in COLUMNS]
    pipeline = [{"$match": query.match_mql}] if query.match_mql else []
    if query.ordering:
        pipeline.append({"$sort": query.ordering})
    pipeline.append({"$project": {field.column: 1 for field in fields}})
    datetimes = {index for index, field in enumerate(fields) if isinstance(field, models.DateTimeField)}

    def value(document, index, field):
        found = document.get(field.column)
        if index in datetimes and found is not None and found.tzinfo is None:
            return found.replace(tzinfo=dt_timezone.utc)  # pymongo answers naive UTC by default
        return found

    def rows():
        cursor = connection.get_collection(AnomalyLog._meta.db_table).aggregate(
            pipeline, batchSize=MONGODB_BATCH_SIZE, session=connection.session
        )
        with cursor:
            for document in cursor:
                yield tuple(value(document, index, field) for index, field in enumerate(fields))

    return CHUNKERS[export_format](rows(), Layout(connection.vendor))


FAST_PATHS = {"postgresql": _postgresql_chunks, "sqlite": _sqlite_chunks, "mongodb": _mongodb_chunks}


def chunks(queryset, export_format):
    """The export's chunks (``bytes`` or ``str``) written by the database, or None if it cannot."""
    connection = connections[queryset.db]
    fast_path = FAST_PATHS.get(connection.vendor)
    queryset = _without_distinct(queryset)
    if fast_path is None or queryset is None:
        return None
    return fast_path(queryset, export_format, connection)
