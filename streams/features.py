"""Events → fixed time buckets of features, in event time, with a bounded lateness.

The real feed is not ordered by timestamp (STREAMS.md: back-steps of several seconds), so a
bucket stays open until the watermark (the latest event time seen minus ``allowed_lateness``)
passes its end. An event for a bucket that has already closed is counted in ``dropped_late``
and otherwise ignored: a stored window never changes afterwards.

Each closed bucket becomes a ``Window``: named features for people (stored in the detection)
and a vector for the detector (counts and bytes on a log scale, ratios and entropies as they are).
"""
import math
from dataclasses import dataclass, field

from streams.sources.base import GENERIC, RECENTCHANGE
from streams.sources.event_time import event_time, iso

DEFAULT_BUCKET_SECONDS = 10.0
DEFAULT_ALLOWED_LATENESS = 5.0
# A gap longer than this many buckets (the process was down, the feed paused) is jumped over
# instead of being filled with empty windows that would only say "we were not listening".
DEFAULT_MAX_GAP_BUCKETS = 30
EXAMPLES_PER_WINDOW = 3
RC_TYPES = ("edit", "new", "log", "categorize")


def _slog(x):
    return math.copysign(math.log1p(abs(x)), x)


def _entropy(counts):
    total = sum(counts)
    return -sum(c / total * math.log(c / total) for c in counts) if total else 0.0


# --- buckets ----------------------------------------------------------------------------------
class RecentChangeBucket:
    """Counters of one bucket of recentchange events."""

    FEATURES = (
        "events", "edits", "new_pages", "logs", "categorizes", "other_types",
        "bytes_added", "bytes_removed", "bot_ratio", "new_page_ratio",
        "distinct_users", "distinct_wikis", "main_namespace_ratio", "wiki_entropy",
    )
    # Composition, not volume: the share of edits to articles (namespace 0) and the Shannon
    # entropy (nats) of the bucket's events over wikis. Counts cannot see a change of mix at an
    # unchanged rate (docs/DETECTION.md, "On a real background"). Vectors keep them as they are.
    __slots__ = ("count", "types", "added", "removed", "bots", "main", "users", "wikis", "examples")

    def __init__(self):
        self.count = self.added = self.removed = self.bots = self.main = 0
        self.types = dict.fromkeys(RC_TYPES, 0)
        self.types["other"] = 0
        self.users = set()
        self.wikis = {}  # wiki → events
        self.examples = []

    def add(self, event):
        get = event.get
        self.count += 1
        kind = get("type")
        types = self.types
        types[kind if kind in types else "other"] += 1
        if get("bot") is True:
            self.bots += 1
        if get("namespace") == 0:
            self.main += 1
        length = get("length")
        change = 0
        if type(length) is dict:
            new, old = length.get("new"), length.get("old")
            if type(new) is int:
                change = new - (old if type(old) is int else 0)
                if change > 0:
                    self.added += change
                else:
                    self.removed -= change
        user = get("user")
        if user is not None:
            self.users.add(user)
        wiki = get("wiki")
        if wiki is not None:
            self.wikis[wiki] = self.wikis.get(wiki, 0) + 1
        if self.count <= EXAMPLES_PER_WINDOW:
            meta = event.get("meta") if isinstance(event.get("meta"), dict) else {}
            self.examples.append({
                "type": kind, "wiki": wiki, "title": event.get("title"), "user": user,
                "bot": event.get("bot"), "size_change": change, "dt": meta.get("dt"),
            })

    def features(self):
        n, types = self.count, self.types
        return {
            "events": n, "edits": types["edit"], "new_pages": types["new"], "logs": types["log"],
            "categorizes": types["categorize"], "other_types": types["other"],
            "bytes_added": self.added, "bytes_removed": self.removed,
            "bot_ratio": self.bots / n if n else 0.0,
            "new_page_ratio": types["new"] / n if n else 0.0,
            "distinct_users": len(self.users), "distinct_wikis": len(self.wikis),
            "main_namespace_ratio": self.main / n if n else 0.0,
            "wiki_entropy": _entropy(self.wikis.values()),
        }

    @staticmethod
    def vector(features):
        return [
            features[name] if name.endswith(("_ratio", "_entropy")) else math.log1p(features[name])
            for name in RecentChangeBucket.FEATURES
        ]

    def to_state(self):
        return {"count": self.count, "types": self.types, "added": self.added,
                "removed": self.removed, "bots": self.bots, "main": self.main,
                "users": sorted(self.users, key=str), "wikis": self.wikis, "examples": self.examples}

    @classmethod
    def from_state(cls, state):
        bucket = cls()
        bucket.count, bucket.types = state["count"], dict(state["types"])
        bucket.added, bucket.removed, bucket.bots = state["added"], state["removed"], state["bots"]
        bucket.users = set(state["users"])
        wikis = state["wikis"]
        if isinstance(wikis, list):
            # Saved before the wiki counts (and the namespace share) existed: the events already
            # in this open bucket count once per wiki and as outside namespace 0.
            wikis = dict.fromkeys(wikis, 1)
        bucket.main, bucket.wikis = state.get("main", 0), dict(wikis)
        bucket.examples = list(state["examples"])
        return bucket


class GenericBucket:
    """Counters of one bucket of generic events: metrics, posts, pushed events."""

    FEATURES = ("events", "value_sum", "value_mean", "value_min", "value_max", "value_std",
                "distinct_keys", "distinct_types")
    __slots__ = ("count", "numeric", "total", "squares", "low", "high", "keys", "types", "examples")

    def __init__(self):
        self.count = self.numeric = 0
        self.total = self.squares = 0.0
        self.low = self.high = None
        self.keys, self.types = set(), set()
        self.examples = []

    def add(self, event):
        self.count += 1
        value = event.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.numeric += 1
            self.total += value
            self.squares += value * value
            self.low = value if self.low is None or value < self.low else self.low
            self.high = value if self.high is None or value > self.high else self.high
        if event.get("key") is not None:
            self.keys.add(event["key"])
        if event.get("type") is not None:
            self.types.add(event["type"])
        if len(self.examples) < EXAMPLES_PER_WINDOW:
            self.examples.append({k: event.get(k) for k in ("timestamp", "value", "key", "type")})

    def features(self):
        n = self.numeric
        mean = self.total / n if n else 0.0
        variance = max(0.0, self.squares / n - mean * mean) if n else 0.0
        return {
            "events": self.count, "value_sum": self.total, "value_mean": mean,
            "value_min": self.low if self.low is not None else 0.0,
            "value_max": self.high if self.high is not None else 0.0,
            "value_std": math.sqrt(variance),
            "distinct_keys": len(self.keys), "distinct_types": len(self.types),
        }

    @staticmethod
    def vector(features):
        return [_slog(float(features[name])) for name in GenericBucket.FEATURES]

    def to_state(self):
        return {"count": self.count, "numeric": self.numeric, "total": self.total,
                "squares": self.squares, "low": self.low, "high": self.high,
                "keys": sorted(self.keys, key=str), "types": sorted(self.types, key=str),
                "examples": self.examples}

    @classmethod
    def from_state(cls, state):
        bucket = cls()
        bucket.count, bucket.numeric = state["count"], state["numeric"]
        bucket.total, bucket.squares = state["total"], state["squares"]
        bucket.low, bucket.high = state["low"], state["high"]
        bucket.keys, bucket.types = set(state["keys"]), set(state["types"])
        bucket.examples = list(state["examples"])
        return bucket


BUCKETS = {RECENTCHANGE: RecentChangeBucket, GENERIC: GenericBucket}


@dataclass
class Window:
    """One closed bucket: what the detector sees (``vector``) and what people read."""

    start: float
    end: float
    features: dict
    vector: list
    examples: list = field(default_factory=list)
    after_gap: bool = False  # the buckets before it were skipped (see DEFAULT_MAX_GAP_BUCKETS)

    def summary(self):
        return {"start": iso(self.start), "end": iso(self.end), "features": self.features}


class WindowAggregator:
    """Assigns events to buckets by event time and closes them behind the watermark."""

    def __init__(self, kind, bucket_seconds=DEFAULT_BUCKET_SECONDS,
                 allowed_lateness=DEFAULT_ALLOWED_LATENESS, max_gap_buckets=DEFAULT_MAX_GAP_BUCKETS):
        if kind not in BUCKETS:
            raise ValueError(f"unknown event kind {kind!r}")
        if bucket_seconds <= 0 or allowed_lateness < 0:
            raise ValueError("bucket_seconds must be > 0 and allowed_lateness >= 0")
        self.kind = kind
        self.bucket_cls = BUCKETS[kind]
        self.bucket_seconds = float(bucket_seconds)
        self.allowed_lateness = float(allowed_lateness)
        self.max_gap_buckets = int(max_gap_buckets)
        self.buckets = {}  # bucket index → bucket
        self.next_index = None  # the oldest bucket that may still receive events
        self.max_time = None
        self.accepted = self.dropped_late = self.untimed = 0

    def describe(self):
        return {"kind": self.kind, "bucket_seconds": self.bucket_seconds,
                "allowed_lateness": self.allowed_lateness, "features": list(self.bucket_cls.FEATURES)}

    @property
    def watermark(self):
        return None if self.max_time is None else self.max_time - self.allowed_lateness

    def add(self, event):
        """Account one event; returns the windows that this event's time closed (oldest first)."""
        moment = event_time(event, self.kind)
        if moment is None:
            self.untimed += 1
            return []
        index = int(moment // self.bucket_seconds)
        if self.next_index is not None and index < self.next_index:
            self.dropped_late += 1
            return []
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = self.bucket_cls()
        bucket.add(event)
        self.accepted += 1
        if self.max_time is None or moment > self.max_time:
            self.max_time = moment
            return self._close_until(moment - self.allowed_lateness)
        return []

    def advance(self, moment):
        """Event time is known to have reached ``moment`` (a quiet live stream): close behind it."""
        if self.max_time is None or moment <= self.max_time:
            return []
        self.max_time = moment
        return self._close_until(moment - self.allowed_lateness)

    def flush(self):
        """The stream ended: close every open bucket."""
        if not self.buckets:
            return []
        last = max(self.buckets)
        return self._close_until((last + 1) * self.bucket_seconds)

    def _close_until(self, watermark):
        size = self.bucket_seconds
        if self.next_index is None:
            if not self.buckets:
                return []
            self.next_index = min(self.buckets)
        closed = []
        after_gap = False
        while (self.next_index + 1) * size <= watermark:
            index = self.next_index
            bucket = self.buckets.pop(index, None)
            if bucket is None:
                following = min(self.buckets, default=None)
                gap_end = following if following is not None else int(watermark // size)
                if gap_end - index > self.max_gap_buckets:
                    self.next_index, after_gap = gap_end, True  # jump over a long silence
                    continue
                bucket = self.bucket_cls()
            features = bucket.features()
            closed.append(Window(index * size, (index + 1) * size, features,
                                 self.bucket_cls.vector(features), bucket.examples, after_gap))
            after_gap = False
            self.next_index = index + 1
        return closed

    def get_state(self):
        return {
            "kind": self.kind, "bucket_seconds": self.bucket_seconds,
            "allowed_lateness": self.allowed_lateness, "max_gap_buckets": self.max_gap_buckets,
            "buckets": {str(index): bucket.to_state() for index, bucket in self.buckets.items()},
            "next_index": self.next_index, "max_time": self.max_time,
            "accepted": self.accepted, "dropped_late": self.dropped_late, "untimed": self.untimed,
        }

    @classmethod
    def from_state(cls, state):
        aggregator = cls(state["kind"], state["bucket_seconds"], state["allowed_lateness"],
                         state["max_gap_buckets"])
        aggregator.buckets = {int(index): aggregator.bucket_cls.from_state(bucket)
                              for index, bucket in state["buckets"].items()}
        aggregator.next_index, aggregator.max_time = state["next_index"], state["max_time"]
        aggregator.accepted, aggregator.dropped_late = state["accepted"], state["dropped_late"]
        aggregator.untimed = state["untimed"]
        return aggregator
