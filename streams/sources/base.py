"""What every source shares: the iteration contract, resume ids, counters and backoff.

A source is an iterable of plain event dicts. Just before it yields an event it sets
``last_event_id`` to the id that resumes the stream *after* that event (the opaque
Last-Event-ID for Wikimedia, a line number for a file, an inbox row id for HTTP push); the
pipeline saves that id in its checkpoint and hands it back to a new source as ``resume_from``.

A live source may also yield ``None``: "nothing arrived, but time passed", so the pipeline can
close buckets of a quiet stream on the wall clock.
"""
import random
import threading
import time
from collections import Counter
from email.utils import parsedate_to_datetime

RECENTCHANGE = "recentchange"  # events shaped like Wikimedia's mediawiki/recentchange
GENERIC = "generic"  # {"timestamp", "value", "key", "type", ...}: metrics, tweets, pushed events


class Source:
    """Base class: subclasses implement ``__iter__``."""

    kind = GENERIC
    source_type = "generic"  # AnomalyLog.source_type of the detections
    live = False  # a live source is paced by the outside world, not by its own timestamps

    def __init__(self, resume_from=""):
        self.resume_from = resume_from or ""
        self.last_event_id = self.resume_from
        self.stats = Counter()  # events, malformed, canaries, reconnects, ...
        self._stopped = threading.Event()

    def stop(self):
        """Ask the source to end its iteration soon (signals, shutdown)."""
        self._stopped.set()

    @property
    def stopped(self):
        return self._stopped.is_set()

    def sleep(self, seconds):
        """Wait, but wake up at once when the source is stopped. Returns False if stopped."""
        return not self._stopped.wait(max(0.0, seconds))

    def describe(self):
        """Parameters stored in each detection's metadata (no secrets)."""
        return {}


class Backoff:
    """Exponential backoff with jitter: delay n is uniform in [d/2, d], d = min(cap, base * 2**n)."""

    def __init__(self, base=1.0, cap=60.0, rng=None):
        self.base, self.cap = base, cap
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self):
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self):
        self.attempts = 0


def retry_after_seconds(value, default):
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default
