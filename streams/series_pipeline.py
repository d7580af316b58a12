"""source → series → detectors → store in one process: ``detect --split-by KEY`` without workers.

The same loop as ``streams.pipeline.Pipeline``, with a ``SeriesSet`` in place of the one
aggregator and detector. Its checkpoint is the stream's (``source_key``: the source's resume id
and the counters) plus, in the same transaction, the state of every series changed since the
previous one: a restart resumes the source where the stored series states say.
"""
import logging
import threading
import time

from streams.pipeline import PipelineCounters
from streams.series import SeriesSet, series_name

logger = logging.getLogger(__name__)

STREAM_VERSION = "series-1"

# A checkpoint of thousands of series is dear (about 3 ms per changed series to take its state,
# about as much again for the writer to encode and store it): checkpoints are spaced so that
# taking them costs at most 1/20 of the time (1/10 with the writer's share), whatever
# --checkpoint-seconds says. A restart recomputes what came after the last one.
CHECKPOINT_COST_SHARE = 20


def checkpoint_interval(configured, cost):
    """Seconds until the next checkpoint, after one whose states took ``cost`` seconds."""
    return max(configured, CHECKPOINT_COST_SHARE * cost)


class SeriesPipeline:
    def __init__(self, source, *, source_key, split_by, series, store, checkpoint_seconds=5.0, owner=None):
        self.source = source
        self.source_key = source_key
        self.split_by = split_by
        self.series = series
        self.store = store
        self.checkpoint_seconds = checkpoint_seconds
        self.counters = PipelineCounters()
        self._stop = threading.Event()
        self._last_checkpoint = 0.0
        self._checkpoint_every = checkpoint_seconds
        store.on_series_stored = series.stored
        if owner is not None:  # the worker id the store registers its series under
            store.owner = owner

    @classmethod
    def resume(cls, make_source, *, source_key, split_by, kind, store, checkpoint=None, bucket_seconds=10.0,
               allowed_lateness=5.0, detector_overrides=None, checkpoint_seconds=5.0, idle_seconds=None,
               max_series=None, owner=None):
        state = checkpoint["state"] if checkpoint else {}
        resumed = state.get("version") == STREAM_VERSION and state.get("split_by") == split_by
        if checkpoint and not resumed:
            logger.warning("%s: the saved checkpoint is not one of a stream split by %r; starting afresh",
                           source_key, split_by)
        series = SeriesSet(source_key, kind=kind, bucket_seconds=bucket_seconds, allowed_lateness=allowed_lateness,
                           detector_overrides=detector_overrides, idle_seconds=idle_seconds,
                           max_series=max_series, fresh=not resumed)
        pipeline = cls(make_source(checkpoint["last_event_id"] if resumed else ""), source_key=source_key,
                       split_by=split_by, series=series, store=store, checkpoint_seconds=checkpoint_seconds,
                       owner=owner)
        if resumed:
            pipeline.counters.windows, pipeline.counters.anomalies = state["windows"], state["anomalies"]
            logger.info("%s: resuming from the checkpoint after event %r", source_key, checkpoint["last_event_id"])
        return pipeline

    def stop(self):
        self._stop.set()
        self.source.stop()

    def run(self):
        """Consume the source until it ends or ``stop()``; returns True if the source ended."""
        counters, series = self.counters, self.series
        counters.started = time.time()
        idle_after = series.bucket_seconds + series.allowed_lateness
        ended = False
        try:
            for event in self.source:
                now = time.time()
                if event is None:
                    if counters.last_arrival and now - counters.last_arrival > idle_after:
                        estimate = counters.last_event_time + (now - counters.last_arrival)
                        self._submit(series.advance(estimate, self.source))
                    continue
                counters.events += 1
                counters.last_arrival = now
                one, windows = series.add(series_name(event, self.split_by), event)
                if series.newest_time is not None:
                    counters.last_event_time = series.newest_time
                self._submit(series.evaluate(one, windows, self.source) if windows else [])
                if self._stop.is_set():
                    break
            else:
                ended = not self._stop.is_set()
        finally:
            if ended:
                self._submit(series.flush(self.source), force_checkpoint=True)
        return ended

    def state(self):
        return {"version": STREAM_VERSION, "split_by": self.split_by,
                "windows": self.counters.windows, "anomalies": self.counters.anomalies}

    def final_checkpoint(self):
        return {"state": self.state(), "last_event_id": self.source.last_event_id,
                "series": self.series.take_dirty()}

    def _submit(self, rows, force_checkpoint=False):
        if rows:
            self.counters.windows += len(rows)
            self.counters.anomalies += sum(row["is_anomaly"] for row in rows)
            self.store.submit(rows)
        now = time.monotonic()
        if force_checkpoint or (rows and now - self._last_checkpoint >= self._checkpoint_every):
            states = self.series.take_dirty()
            self._checkpoint_every = checkpoint_interval(self.checkpoint_seconds, time.monotonic() - now)
            if self.store.checkpoint(self.state(), self.source.last_event_id, series=states):
                self._last_checkpoint = now
            else:  # skipped (queue full): the next checkpoint carries them
                self.series.dirty = {**states, **self.series.dirty}

    def status_line(self, previous_events, interval):
        counters, now = self.counters, time.time()
        rate = (counters.events - previous_events) / interval if interval else 0.0
        age = f"{now - counters.last_arrival:.1f}s" if counters.last_arrival else "-"
        stats = self.store.stats
        db = "ok" if stats.db_healthy else "DOWN"
        return (f"{rate:7.1f} ev/s | events {counters.events} | series {len(self.series.live)} live, "
                f"{self.series.evicted} evicted | windows {counters.windows} | anomalies {counters.anomalies} | "
                f"queue {self.store.depth} | journaled {stats.journaled - stats.drained} | db {db} | "
                f"last event {age} ago")

    @property
    def dropped_late(self):
        return self.series.dropped_late()
