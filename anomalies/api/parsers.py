"""A JSON parser that refuses bodies over MAX_REQUEST_BYTES with 413.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when ``request.body`` or ``request.POST`` is read;
DRF parses JSON straight from the request stream, so without this check a large body would be
read and parsed in full. The Content-Length is checked before a byte is read, and the read itself
is capped for bodies that do not announce their length.
"""
import io

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from topoforge.errors import PayloadTooLarge


def reject_oversized_body(request):
    """Raise 413 if the request announces a body larger than the limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
            stream = io.BytesIO(body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # "[[[[...": a small body can still nest deeper than Python recurses
            raise ParseError("JSON parse error - nested too deeply.") from None
