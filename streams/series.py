"""Many series inside one stream (``detect --split-by KEY``): one detector per series.

A ``SeriesSet`` routes each event to its series by one field of the event (a host, a metric
name, a wiki), creating the series' aggregator and detector on first sight. Each series has its
own checkpoint (``DetectorCheckpoint.source_key`` = ``<stream key>#<series>``) and its own rows
(``AnomalyLog.series``, dedup keys ``<stream key>#<series>:<window start>``).

Live series are kept in least-recently-seen order. A series whose last event is more than
``idle_seconds`` of event time behind the stream's newest event is evicted: its exact state goes
to its checkpoint and leaves memory; its next event restores it from there, so its scores are
the same, bit for bit, as if it had never left. At ``max_series`` live series the least recently
seen one is evicted to make room (logged once: the cap is reached).

Until the store has written an evicted state, the state stays in ``_leaving`` (a restore reads
it from there), so a series coming back at once never reads an older checkpoint.
"""
import logging
from collections import OrderedDict
from dataclasses import dataclass

from anomalies.models import DetectorCheckpoint
from streams.features import WindowAggregator
from streams.pipeline import detector_config, restore_detector, warm_up_progress, window_row
from tda import Detector

logger = logging.getLogger(__name__)

SERIES_VERSION = 1
MAX_SERIES_NAME = 150  # DetectorCheckpoint.source_key holds 200: the stream key and '#' first


def series_name(event, split_by):
    """The series of ``event``: its ``split_by`` field as text (blank when it has none); a mapped
    generic event is looked up in its ``raw`` original too (``--split-by host`` with ``key=ip``)."""
    value = event.get(split_by)
    if value is None and isinstance(event.get("raw"), dict):
        value = event["raw"].get(split_by)
    return "" if value is None else str(value)[:MAX_SERIES_NAME]


def series_key(source_key, name):
    return f"{source_key}#{name}"


@dataclass
class Series:
    name: str
    aggregator: WindowAggregator
    detector: Detector
    windows: int = 0
    anomalies: int = 0
    last_time: float = 0.0  # event time of its latest event
    last_score: float | None = None  # None: the last window was a warm-up row

    def state(self):
        return {"version": SERIES_VERSION, "aggregator": self.aggregator.get_state(),
                "detector": self.detector.get_state(), "windows": self.windows,
                "anomalies": self.anomalies, "last_time": self.last_time, "last_score": self.last_score}

    @classmethod
    def from_state(cls, name, state):
        aggregator = WindowAggregator.from_state(state["aggregator"])
        return cls(name, aggregator, restore_detector(state["detector"], aggregator),
                   state["windows"], state["anomalies"], state["last_time"], state["last_score"])


class SeriesSet:
    """The live series of one stream (or one shard of it) in this process."""

    def __init__(self, source_key, *, kind, bucket_seconds, allowed_lateness, detector_overrides=None,
                 idle_seconds=None, max_series=None, fresh=False, load_state=None):
        self.source_key = source_key
        self.kind = kind
        self.bucket_seconds = bucket_seconds
        self.allowed_lateness = allowed_lateness
        self.config = detector_config(detector_overrides)
        self.detector_parameters = self.config.to_dict()
        self.idle_seconds = idle_seconds
        self.max_series = max_series
        self.load_state = load_state or load_series_state
        self.fresh = fresh  # started --fresh: a series never seen in this process has no checkpoint
        self.live = OrderedDict()  # name → Series, least recently seen first
        self.dirty = {}  # checkpoint key → state: changed since the last checkpoint (evictions too)
        self._leaving = {}  # checkpoint key → state evicted, not yet written by the store
        self._known = set()  # names seen in this process (live or evicted)
        self.evictions = self.restores = self.cap_evictions = 0
        self.cap_logged = False
        self.newest_time = None
        self._next_sweep = None

    # --- routing ----------------------------------------------------------------------------
    def add(self, name, event):
        """Account ``event`` to series ``name``; returns (the series, the windows it closed)."""
        series = self.live.get(name)
        if series is None:
            series = self._bring(name)
        else:
            self.live.move_to_end(name)
        windows = series.aggregator.add(event)
        moment = series.aggregator.max_time
        if moment is not None:
            series.last_time = max(series.last_time, moment)
            if self.newest_time is None or moment > self.newest_time:
                self.newest_time = moment
        self.dirty[series_key(self.source_key, name)] = None  # its state is taken at checkpoint time
        self._sweep_idle()
        return series, windows

    def evaluate(self, series, windows, source):
        rows = []
        key = series_key(self.source_key, series.name)
        for window in windows:
            detection = series.detector.update(window.end, window.vector)
            series.windows += 1
            series.anomalies += bool(detection.is_anomaly)
            series.last_score = detection.score
            rows.append(window_row(window, detection, key=key, source=source, aggregator=series.aggregator,
                                   detector_parameters=self.detector_parameters, series=series.name,
                                   warm_up=warm_up_progress(series.detector)))
        return rows

    def flush(self, source):
        """The stream ended: close the open buckets of every series, evicted ones too (read back
        from their checkpoints, and left evicted); returns their rows."""
        rows = []
        for series in self.live.values():
            windows = series.aggregator.flush()
            if windows:
                rows += self.evaluate(series, windows, source)
                self.dirty[series_key(self.source_key, series.name)] = None
        for name in sorted(self._known - set(self.live)):
            key = series_key(self.source_key, name)
            state = self.dirty.get(key) or self._leaving.get(key) or self.load_state(key)
            if not state or not state["aggregator"]["buckets"]:
                continue
            series = Series.from_state(name, state)
            rows += self.evaluate(series, series.aggregator.flush(), source)
            self.dirty[key] = self._leaving[key] = series.state()
        return rows

    def advance(self, moment, source):
        """Event time reached ``moment`` on a quiet live stream: close the live series' buckets."""
        rows = []
        for series in self.live.values():
            windows = series.aggregator.advance(moment)
            if windows:
                rows += self.evaluate(series, windows, source)
                self.dirty[series_key(self.source_key, series.name)] = None
        return rows

    # --- checkpoints ------------------------------------------------------------------------
    def take_dirty(self):
        """{checkpoint key: state} of every series changed since the last call."""
        states = {}
        prefix = len(self.source_key) + 1
        for key, state in self.dirty.items():
            if state is None:
                state = self.live[key[prefix:]].state()
            states[key] = state
        self.dirty = {}
        return states

    def stored(self, states):
        """The store wrote ``states``: evicted states it wrote need no longer be kept."""
        for key, state in states.items():
            if self._leaving.get(key) is state:
                del self._leaving[key]

    # --- eviction ---------------------------------------------------------------------------
    def evict(self, name):
        series = self.live.pop(name)
        key = series_key(self.source_key, name)
        state = series.state()
        self.dirty[key] = state
        self._leaving[key] = state
        self.evictions += 1

    def _bring(self, name):
        """A series not live: restored from its (pending or stored) checkpoint, or new."""
        if self.max_series and len(self.live) >= self.max_series:
            if not self.cap_logged:
                logger.warning("%s: %d live series, the cap (--max-series %d) is reached: the least recently "
                               "seen series are evicted to their checkpoints to make room", self.source_key,
                               len(self.live), self.max_series)
                self.cap_logged = True
            self.cap_evictions += 1
            self.evict(next(iter(self.live)))
        key = series_key(self.source_key, name)
        state = self._leaving.get(key)
        if state is None and (name in self._known or not self.fresh):
            state = self.load_state(key)
        if state is not None and state.get("version") == SERIES_VERSION:
            series = Series.from_state(name, state)
            self.restores += 1
        else:
            series = Series(name, WindowAggregator(self.kind, self.bucket_seconds, self.allowed_lateness),
                            Detector(self.config))
        self._known.add(name)
        self.live[name] = series
        return series

    def _sweep_idle(self):
        if not self.idle_seconds or self.newest_time is None:
            return
        if self._next_sweep is not None and self.newest_time < self._next_sweep:
            return
        self._next_sweep = self.newest_time + self.idle_seconds / 4
        horizon = self.newest_time - self.idle_seconds
        stale = [name for name, series in self.live.items() if series.last_time < horizon]
        for name in stale:
            self.evict(name)

    # --- status -----------------------------------------------------------------------------
    @property
    def evicted(self):
        return len(self._known) - len(self.live)

    def dropped_late(self):
        return sum(series.aggregator.dropped_late for series in self.live.values())


def load_series_state(key):
    """The stored state of one series, or None; a database error is raised to the caller."""
    return DetectorCheckpoint.objects.filter(source_key=key).values_list("state", flat=True).first()
