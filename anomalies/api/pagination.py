"""Paging: ``page`` and ``limit`` for browsing, an opaque keyset cursor for walking deep.

An offset page costs a scan of every row before it, so page 10,000 of a million detections is
slow however it is indexed. The cursor mode remembers the last row's sort key and id instead and
asks for the rows after it (``(timestamp, id) < (t, i)`` for the default order), which an index on
the sort key serves in the same time at any depth.

Both modes answer ``{"count", "count_exact", "next", "previous", "results"}``. In page mode, when
the filters are ones the rollups answer (``view.rollup_scope``), ``count`` is added up from the
rollups and the ragged edges of the range (constant time) and ``count_exact`` is false: it is
the rollups' figure, which matches the rows unless they were written around the ORM and not
rebuilt since. Otherwise the rows are counted and ``count_exact`` is true. Both are null in
cursor mode, where counting the whole filtered set would cost what the cursor saves.
"""
import base64
import binascii
import json
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def _positive_int(request, name, default, maximum=None):
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["A whole number is required."]}) from None
    if value < 1:
        raise ValidationError({name: ["Must be at least 1."]})
    if maximum is not None and value > maximum:
        raise ValidationError({name: [f"Must be at most {maximum}."]})
    return value


class PagePagination(BasePagination):
    """``?page=N&limit=M`` (default 50, at most 1,000) with ``count``, ``next`` and ``previous``."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = _positive_int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        self.page = _positive_int(request, "page", 1)
        scope = getattr(view, "rollup_scope", None)
        self.count_exact = scope is None
        self.count = queryset.count() if scope is None else scope.count(queryset)
        last_page = max(1, -(-self.count // self.limit))
        if self.page > last_page:
            raise NotFound(f"Page {self.page} does not exist; the last page is {last_page}.")
        offset = (self.page - 1) * self.limit
        return list(queryset[offset : offset + self.limit])

    def _page_link(self, page):
        url = self.request.build_absolute_uri()
        if page == 1:
            return remove_query_param(url, "page")
        return replace_query_param(url, "page", page)

    def get_paginated_response(self, data):
        has_next = self.page * self.limit < self.count
        return Response(
            {
                "count": self.count,
                "count_exact": self.count_exact,
                "next": self._page_link(self.page + 1) if has_next else None,
                "previous": self._page_link(self.page - 1) if self.page > 1 else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_exact", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "nullable": True,
                    "description": "Rows matching the filters; null in cursor mode.",
                },
                "count_exact": {
                    "type": "boolean",
                    "nullable": True,
                    "description": "false: count added up from the hourly/daily rollups (filters "
                    "they answer); true: the rows were counted (score or feedback filters); "
                    "null in cursor mode.",
                },
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "description": "1-based page number (page mode).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Rows per page, default {DEFAULT_LIMIT}, at most {MAX_LIMIT}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
        ]


class Cursor:
    """A position in an ordering: the sort key and id of a row, and the walking direction.

    It travels base64url-encoded JSON. It is opaque to clients but not secret: forging one only
    moves the reader to another position of a listing they may read anyway.
    """

    def __init__(self, ordering, value, pk, backwards=False):
        self.ordering, self.value, self.pk, self.backwards = ordering, value, pk, backwards

    def encode(self):
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        payload = {"o": self.ordering, "v": value, "id": str(self.pk), "b": self.backwards}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token, ordering, model):
        """The cursor in ``token`` for a listing sorted by ``ordering``; 400 if it is not one."""
        invalid = ValidationError({"cursor": ["Invalid cursor."]})
        try:
            payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if payload["o"] != ordering:
                raise ValidationError(
                    {"cursor": ["This cursor belongs to another ordering; start again without it."]}
                )
            field = model._meta.get_field(ordering.lstrip("-"))
            value = field.to_python(payload["v"])
            pk = model._meta.pk.to_python(payload["id"])
            backwards = payload["b"]
        except (binascii.Error, ValueError, TypeError, KeyError, DjangoValidationError):
            raise invalid from None
        if not isinstance(backwards, bool) or value is None or pk is None:
            raise invalid
        return cls(ordering, value, pk, backwards)


def _beyond(queryset, field, descending, value, pk):
    """Rows strictly after ``(value, pk)`` in the given direction.

    The redundant ``field <= value`` (or ``>=``) lets every database bound its index scan; the OR
    alone would make some planners walk the index from the top.
    """
    cmp = "lt" if descending else "gt"
    return queryset.filter(**{f"{field}__{cmp}e": value}).filter(
        Q(**{f"{field}__{cmp}": value}) | Q(**{field: value, f"pk__{cmp}": pk})
    )


class AnomalyPagination(PagePagination):
    """Page mode, or cursor mode when the ``cursor`` parameter is present (empty: from the top)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.cursor_mode = "cursor" in request.query_params
        if not self.cursor_mode:
            return super().paginate_queryset(queryset, request, view)
        if "page" in request.query_params:
            raise ValidationError({"cursor": ["Use either page or cursor, not both."]})
        self.request = request
        self.limit = _positive_int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        ordering = queryset.query.order_by[0]
        token = request.query_params["cursor"]
        position = Cursor.decode(token, ordering, queryset.model) if token else None
        rows = self._rows(queryset, ordering, position)
        self._set_links(rows, ordering, position)
        return rows

    def _rows(self, queryset, ordering, position):
        field, descending = ordering.lstrip("-"), ordering.startswith("-")
        backwards = position is not None and position.backwards
        if backwards:
            descending = not descending
            queryset = queryset.reverse()
        if position is not None:
            queryset = _beyond(queryset, field, descending, position.value, position.pk)
        rows = list(queryset[: self.limit + 1])
        self.more = len(rows) > self.limit
        rows = rows[: self.limit]
        return rows[::-1] if backwards else rows

    def _set_links(self, rows, ordering, position):
        field = ordering.lstrip("-")
        self.next_cursor = self.previous_cursor = None
        if not rows:
            return
        first, last = rows[0], rows[-1]
        backwards = position is not None and position.backwards
        if (not backwards and self.more) or backwards:
            self.next_cursor = Cursor(ordering, getattr(last, field), last.pk)
        if (backwards and self.more) or (not backwards and position is not None):
            self.previous_cursor = Cursor(ordering, getattr(first, field), first.pk, backwards=True)

    def _cursor_link(self, cursor):
        if cursor is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "page")
        return replace_query_param(url, "cursor", cursor.encode())

    def get_paginated_response(self, data):
        if not self.cursor_mode:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": None,
                "count_exact": None,
                "next": self._cursor_link(self.next_cursor),
                "previous": self._cursor_link(self.previous_cursor),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view):
        return super().get_schema_operation_parameters(view) + [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "Cursor mode for deep paging: pass it empty (`cursor=`) to start, "
                "then follow `next`/`previous`. Constant time at any depth; `count` is null. "
                "Cannot be combined with `page`.",
                "schema": {"type": "string"},
            }
        ]
