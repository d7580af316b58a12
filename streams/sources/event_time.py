"""Event time: the moment an event happened, read from its own fields (never the wall clock).

Shared by the sources (replay paces by it, the generator writes it), the feature buckets and the
HTTP inbox.
"""
import functools
import math
from datetime import datetime, timezone

from streams.sources.base import RECENTCHANGE


def parse_time(value):
    """Epoch seconds (float) from epoch s/ms numbers or ISO-8601 / NAB strings; None if unusable."""
    if isinstance(value, str):  # first: the common case, a feed's meta.dt
        return _parse_text(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            return None
        return number / 1000.0 if number > 1e11 else number  # ms epochs are 13 digits
    return None


@functools.lru_cache(maxsize=256)
def _parse_text(value):
    """:func:`parse_time` of a string, remembered: the events of a feed share their second."""
    text = value.strip()
    try:
        return float(text) if text.replace(".", "", 1).isdigit() and text else _iso(text)
    except ValueError:
        return None


def _iso(text):
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # NAB timestamps are UTC without a zone
    return moment.timestamp()


def event_time(event, kind):
    if kind == RECENTCHANGE:
        meta = event.get("meta")
        moment = parse_time(meta.get("dt")) if isinstance(meta, dict) else None
        return moment if moment is not None else parse_time(event.get("timestamp"))
    return parse_time(event.get("timestamp"))


def iso(epoch):
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")
