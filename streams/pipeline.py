"""source → features → detector → store: the running detection of one stream.

One ``Pipeline`` per source and process. It runs in the calling thread; storage happens on the
store's writer thread, so a slow database never slows ingestion. Every few seconds (and at
shutdown) the pipeline queues a checkpoint — the detector's and the aggregator's state and the
source's resume id — behind the rows it has produced, so a restarted pipeline resumes exactly
where the stored state says and recomputes (and de-duplicates) whatever was not stored yet.
"""
import logging
import threading
import time
from dataclasses import dataclass

from streams.features import WindowAggregator
from streams.sources.event_time import iso
from tda import Detector, DetectorConfig

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1

# A stream's rows are buckets (8640 a day at 10 s), not the 5-minute rows of a NAB series: at
# the engine's 0.99, one row in a hundred would alarm by construction, 86 a day. One in a
# thousand is about 3 an hour at most, fewer in practice (the combination is conservative).
# docs/DETECTION.md, "Vector streams".
# Their reference cloud stays at 1000 buckets (nearly three hours at 10 s): the robust scale is
# recomputed from it on every row.
STREAM_DEFAULTS = {"threshold": 0.999, "reference_size": 1000}


def detector_config(overrides=None):
    """The engine's defaults for a stream of buckets, with ``overrides`` (a dict, e.g. from
    --detector-config)."""
    if not isinstance(overrides or {}, dict):
        raise ValueError("detector settings must be a JSON object")
    return DetectorConfig.from_dict({**STREAM_DEFAULTS, **(overrides or {})})


def restore_detector(state, aggregator):
    """The checkpoint's detector, or a fresh one with its settings (warming up again) when its
    vectors are not as long as the aggregator's: a checkpoint saved before the namespace share and
    the wiki entropy joined the recentchange features (12 components, now 14) holds a past that
    the new vectors cannot be compared with."""
    detector = Detector.from_state(state)
    if detector.dim is not None and detector.dim != len(aggregator.bucket_cls.FEATURES):
        logger.warning("detector checkpoint of %d-component vectors, the features now have %d: starting afresh",
                       detector.dim, len(aggregator.bucket_cls.FEATURES))
        return Detector(detector.config)
    return detector


def warm_up_progress(detector):
    """``{"windows": seen, "needed": N}``: the windows the detector has evaluated (warm-start ones
    included) and the warm-up windows of a stream's detector, which scores window N + 1 first
    (``DetectorConfig.vector_warmup_rows``: 159 by default, 26.5 minutes of 10 s buckets). Carried
    in each row's metadata, so the dashboard can draw a progress bar to the first scored window."""
    return {"windows": detector.rows, "needed": detector.config.vector_warmup_rows()}


def dedup_key(source_key, window_start):
    return f"{source_key}:{iso(window_start)}"


def window_row(window, detection, *, key, source, aggregator, detector_parameters, series="", warm_up=None):
    """The stored row (see ``streams.store.ROW_FIELDS``) of one evaluated window of ``key``."""
    window_span = {"start": iso(window.start), "end": iso(window.end)}
    return {
        "dedup_key": dedup_key(key, window.start),
        "timestamp": iso(window.end),
        "source_type": source.source_type,
        "series": series,
        "event_data": {
            "window": window_span,
            "features": window.features,
            "examples": window.examples,
        },
        "betti_h0": int(detection.betti_h0),
        "betti_h1": int(detection.betti_h1),
        "betti_h2": int(detection.betti_h2),
        "anomaly_score": detection.score,
        "suppressed": bool(detection.suppressed),
        "warming_up": bool(detection.warming_up),
        "explanation": detection.explanation,
        "is_anomaly": bool(detection.is_anomaly),
        "severity": detection.severity,
        "metadata": {
            "source_key": key,
            "window": window_span,
            "bucket_seconds": aggregator.bucket_seconds,
            "allowed_lateness": aggregator.allowed_lateness,
            "feature_names": list(aggregator.bucket_cls.FEATURES),
            "detector": detector_parameters,
            "summaries": detection.summaries,
            "diagram": detection.diagram,
            "warming_up": bool(detection.warming_up),
            "warm_up": warm_up,
            "after_gap": window.after_gap,
            "last_event_id": source.last_event_id,
            "source": source.describe(),
        },
    }


@dataclass
class PipelineCounters:
    events: int = 0
    windows: int = 0
    anomalies: int = 0
    started: float = 0.0
    last_arrival: float = 0.0  # wall clock (time.time) of the latest event
    last_event_time: float = 0.0  # event time of the latest event


class Pipeline:
    def __init__(self, source, *, source_key, aggregator, detector, store, checkpoint_seconds=5.0):
        self.source = source
        self.source_key = source_key
        self.aggregator = aggregator
        self.detector = detector
        self.store = store
        self.checkpoint_seconds = checkpoint_seconds
        self.counters = PipelineCounters()
        self._stop = threading.Event()
        self._last_checkpoint = 0.0
        self._detector_parameters = detector.config.to_dict()

    @classmethod
    def resume(cls, make_source, *, source_key, kind, store, checkpoint=None, bucket_seconds=10.0,
               allowed_lateness=5.0, detector_overrides=None, checkpoint_seconds=5.0):
        """A pipeline restored from ``checkpoint`` (as returned by ``store.load_checkpoint``).

        ``make_source(resume_from)`` builds the source from the checkpoint's resume id.
        """
        if checkpoint and checkpoint["state"].get("version") == CHECKPOINT_VERSION:
            state = checkpoint["state"]
            aggregator = WindowAggregator.from_state(state["aggregator"])
            detector = restore_detector(state["detector"], aggregator)
            if aggregator.bucket_seconds != bucket_seconds or aggregator.allowed_lateness != allowed_lateness:
                logger.warning("%s: resuming with the checkpoint's buckets (%ss, lateness %ss)",
                               source_key, aggregator.bucket_seconds, aggregator.allowed_lateness)
            source = make_source(checkpoint["last_event_id"])
            pipeline = cls(source, source_key=source_key, aggregator=aggregator, detector=detector,
                           store=store, checkpoint_seconds=checkpoint_seconds)
            pipeline.counters.windows = state.get("windows", 0)
            pipeline.counters.anomalies = state.get("anomalies", 0)
            logger.info("%s: resuming from the checkpoint after event %r", source_key, checkpoint["last_event_id"])
            return pipeline
        aggregator = WindowAggregator(kind, bucket_seconds, allowed_lateness)
        detector = Detector(detector_config(detector_overrides))
        return cls(make_source(""), source_key=source_key, aggregator=aggregator, detector=detector,
                   store=store, checkpoint_seconds=checkpoint_seconds)

    # --- running ----------------------------------------------------------------------------
    def stop(self):
        self._stop.set()
        self.source.stop()

    def run(self):
        """Consume the source until it ends or ``stop()``; returns True if the source ended."""
        counters = self.counters
        counters.started = time.time()
        idle_after = self.aggregator.bucket_seconds + self.aggregator.allowed_lateness
        ended = False
        try:
            for event in self.source:
                now = time.time()
                if event is None:  # a heartbeat of a quiet live stream
                    if counters.last_arrival and now - counters.last_arrival > idle_after:
                        estimate = counters.last_event_time + (now - counters.last_arrival)
                        self._evaluate(self.aggregator.advance(estimate))
                    continue
                counters.events += 1
                counters.last_arrival = now
                windows = self.aggregator.add(event)
                if self.aggregator.max_time is not None:
                    counters.last_event_time = self.aggregator.max_time
                if windows:
                    self._evaluate(windows)
                if self._stop.is_set():
                    break
            else:
                ended = not self._stop.is_set()
        finally:
            if ended:
                self._evaluate(self.aggregator.flush(), force_checkpoint=True)
        return ended

    def warm(self, events):
        """Feed recorded ``events`` (of this stream's kind) through the detector, storing no row,
        before the live run: their windows count toward its warm-up, so the live stream is scored
        sooner. They are bucketed apart, on their own clock (a recorded file's times are not the
        live ones, and a jump between the two is not a gap of the stream). ``stop()`` ends it.
        Returns the number of windows fed."""
        aggregator = WindowAggregator(self.aggregator.kind, self.aggregator.bucket_seconds,
                                      self.aggregator.allowed_lateness)
        fed = 0

        def feed(windows):
            nonlocal fed
            for window in windows:
                self.detector.update(window.end, window.vector)
                fed += 1

        for event in events:
            if self._stop.is_set():
                return fed
            if event is not None:
                feed(aggregator.add(event))
        feed(aggregator.flush())
        return fed

    def final_checkpoint(self):
        return {"state": self.state(), "last_event_id": self.source.last_event_id}

    def state(self):
        return {
            "version": CHECKPOINT_VERSION,
            "aggregator": self.aggregator.get_state(),
            "detector": self.detector.get_state(),
            "windows": self.counters.windows,
            "anomalies": self.counters.anomalies,
        }

    def _evaluate(self, windows, force_checkpoint=False):
        if windows:
            rows = [self._row(window, self.detector.update(window.end, window.vector)) for window in windows]
            self.store.submit(rows)
        now = time.monotonic()
        if force_checkpoint or (windows and now - self._last_checkpoint >= self.checkpoint_seconds):
            if self.store.checkpoint(self.state(), self.source.last_event_id):
                self._last_checkpoint = now

    def _row(self, window, detection):
        self.counters.windows += 1
        self.counters.anomalies += bool(detection.is_anomaly)
        return window_row(window, detection, key=self.source_key, source=self.source,
                          aggregator=self.aggregator, detector_parameters=self._detector_parameters,
                          warm_up=warm_up_progress(self.detector))

    @property
    def dropped_late(self):
        return self.aggregator.dropped_late

    # --- status -----------------------------------------------------------------------------
    def status_line(self, previous_events, interval):
        counters, now = self.counters, time.time()
        progress = warm_up_progress(self.detector)
        warming = (f" | warm-up {progress['windows']}/{progress['needed']}"
                   if progress["windows"] < progress["needed"] else "")
        rate = (counters.events - previous_events) / interval if interval else 0.0
        age = f"{now - counters.last_arrival:.1f}s" if counters.last_arrival else "-"
        stats = self.store.stats
        db = "ok" if stats.db_healthy else "DOWN"
        return (f"{rate:7.1f} ev/s | events {counters.events} | windows {counters.windows} | "
                f"anomalies {counters.anomalies} | queue {self.store.depth} | journaled "
                f"{stats.journaled - stats.drained} | db {db} | late {self.aggregator.dropped_late} | "
                f"last event {age} ago{warming}")
