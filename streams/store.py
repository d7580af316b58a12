"""Batched, idempotent storage of detections that never blocks ingestion.

The pipeline hands rows to ``DetectionStore.submit`` and returns at once: rows go into a
bounded in-memory queue, or, when it is full because the database is slow or down, into the
local ``Journal`` (durable). One writer thread drains the queue in bulk, then the journal,
retrying with backoff while the database is unreachable.

Exactly once: every row has a unique ``dedup_key`` (source and window), so a row written
twice (a journal re-read after a crash, a window recomputed after a restart) is ignored. On
PostgreSQL/SQLite rows and the checkpoint are written in one transaction; on MongoDB (no
transactions) rows go first and the checkpoint after them, so a crash in between only leads
to rows being recomputed and ignored by their key.

Checkpoints travel through the same queue, behind the rows they follow: a stored checkpoint
implies every queued row before it is stored or journaled. When the queue is full a checkpoint
is skipped (the next one supersedes it), never journaled.

A worker's store (``detect --workers``) has an ``UpstreamLog`` instead of a journal: its
events wait in Redis Streams until a checkpoint acknowledges them, so a full queue blocks the
worker (the streams buffer), and rows it could not store make it skip every later checkpoint,
leaving their events unacknowledged for whoever owns their shard next. Its checkpoints are one
per shard (``key``) and carry an ``epoch`` (the shard lease's fencing token): one older than the
stored epoch is refused, so a worker that lost its lease cannot overwrite its successor's state.
"""
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from anomalies import incidents
from anomalies import series_registry
from anomalies.models import AnomalyLog, DetectorCheckpoint
from anomalies.signals import detections_stored
from streams.sources.base import Backoff

logger = logging.getLogger(__name__)

ROW_FIELDS = ("dedup_key", "source_type", "series", "event_data", "betti_h0", "betti_h1", "betti_h2",
              "anomaly_score", "is_anomaly", "severity", "metadata", "suppressed", "warming_up",
              "explanation")


@dataclass
class StoreStats:
    stored: int = 0
    duplicates: int = 0
    journaled: int = 0
    drained: int = 0
    checkpoints: int = 0
    checkpoints_skipped: int = 0
    db_errors: int = 0
    last_error: str = ""
    db_healthy: bool = True


class UpstreamLog:
    """The journal of a store whose rows can be recomputed from an upstream log (a shard's
    Redis Stream): nothing is kept; once rows were given up, no later checkpoint is written."""

    def __init__(self):
        self.lost = 0

    def append(self, records):
        self.lost += len(records)

    def pending_bytes(self):
        return 0

    def close(self):
        pass


class Interrupted(Exception):
    """Shutdown was asked for while waiting for the database."""


def load_checkpoint(source_key, stop=None):
    """The saved checkpoint of ``source_key`` or None, waiting while the database is down."""
    stop = stop or threading.Event()
    backoff = Backoff(0.5, 10.0)
    while True:
        try:
            row = DetectorCheckpoint.objects.filter(source_key=source_key).first()
            return None if row is None else {"state": row.state, "last_event_id": row.last_event_id}
        except DatabaseError as exc:
            logger.warning("checkpoint of %s unavailable (%s); retrying", source_key, exc)
            connection.close()
            if stop.wait(backoff.next_delay()):
                raise Interrupted from exc


class DetectionStore:
    def __init__(self, source_key, journal, *, queue_size=1000, batch_size=500, flush_interval=0.2,
                 retry_base=0.2, retry_cap=10.0, on_checkpoint_stored=None, owner=""):
        self.source_key = source_key
        self.owner = owner  # the worker id written to the series registry ("" for one process)
        self.journal = journal
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.on_checkpoint_stored = on_checkpoint_stored
        self.on_series_stored = None  # called with {key: state} once a checkpoint's series are stored
        self.on_keyed_checkpoint_stored = None  # called with (key, last_event_id, epoch) for keyed checkpoints
        self.upstream = isinstance(journal, UpstreamLog)
        self.fenced = {}  # key → the newest epoch of its checkpoints refused (older than the stored one)
        self.stats = StoreStats()
        # Items: (kind, payload, fresh): kind "row" or "checkpoint"; fresh rows come from the
        # pipeline (journal them if they cannot be stored), the others from the journal.
        self._queue = queue.Queue(maxsize=queue_size)
        self._retry = Backoff(retry_base, retry_cap)
        self._stopping = threading.Event()
        self._deadline = None
        self._connection_dirty = False
        self._thread = threading.Thread(target=self._run, name=f"store:{source_key}", daemon=True)

    # --- producer side (the pipeline thread) ------------------------------------------------
    def start(self):
        self._thread.start()
        return self

    @property
    def depth(self):
        return self._queue.qsize()

    def submit(self, rows):
        """Queue ``rows`` (dicts, see ``ROW_FIELDS`` + ``timestamp``); journal what does not fit."""
        if self.upstream:  # the stream upstream buffers: wait for room
            for row in rows:
                self._queue.put(("row", row, True))
            return
        overflow = []
        for row in rows:
            if overflow:
                overflow.append(row)  # keep the order: once spilling, the rest spills too
                continue
            try:
                self._queue.put_nowait(("row", row, True))
            except queue.Full:
                overflow.append(row)
        if overflow:
            self.journal.append(overflow)
            self.stats.journaled += len(overflow)

    def checkpoint(self, state, last_event_id, series=None, key=None):
        """Queue a checkpoint behind the rows submitted so far; skipped when the queue is full.

        ``series`` ({checkpoint key: state}) are the states of the series of a split stream
        that changed since the previous checkpoint, saved in the same transaction. ``key`` saves
        it under another source key than the store's (a worker's shard).
        """
        payload = {"state": state, "last_event_id": last_event_id, "series": series or {},
                   "key": key or self.source_key}
        if self.upstream:
            self._queue.put(("checkpoint", payload, False))
            return True
        try:
            self._queue.put_nowait(("checkpoint", payload, False))
            return True
        except queue.Full:
            self.stats.checkpoints_skipped += 1
            return False

    def close(self, final_checkpoint=None, timeout=10.0):
        """Flush: store what is queued (and the final checkpoint) within ``timeout`` seconds.

        Rows the database cannot take by then are journaled, so nothing is lost.
        """
        if final_checkpoint is not None:
            final_checkpoint = {"key": self.source_key, **final_checkpoint}
            try:
                self._queue.put(("checkpoint", final_checkpoint, False), timeout=timeout)
            except queue.Full:
                self.stats.checkpoints_skipped += 1
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        self._thread.join()

    # --- writer thread ----------------------------------------------------------------------
    def is_fenced(self, key, epoch):
        """True if a checkpoint of ``key`` at ``epoch`` was refused: someone took it over since."""
        return self.fenced.get(key, -1) >= epoch

    def _past_deadline(self):
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _run(self):
        try:
            while True:
                batch = self._take()
                try:
                    if batch:
                        self._write_with_retry(batch)
                    elif self._stopping.is_set() and (self._past_deadline() or not self.journal.pending_bytes()):
                        break
                    elif self.journal.pending_bytes():
                        self._drain_journal()
                except Exception:
                    # A bug or an unexpected driver error must not kill the writer: keep the
                    # rows (journal), wait a little, go on.
                    logger.exception("store %s: unexpected error in the writer", self.source_key)
                    fresh = [p for kind, p, is_fresh in batch if kind == "row" and is_fresh]
                    if fresh:
                        self.journal.append(fresh)
                        self.stats.journaled += len(fresh)
                    self._connection_dirty = True
                    time.sleep(1.0)
        finally:
            close_old_connections()
            connection.close()

    def _take(self):
        """Up to ``batch_size`` queued items, waiting at most ``flush_interval`` for the first."""
        items = []
        try:
            items.append(self._queue.get(timeout=self.flush_interval))
            while len(items) < self.batch_size:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return items

    def _drain_journal(self):
        records, offset = self.journal.read_batch(self.batch_size)
        if records and not self._write_with_retry([("row", record, False) for record in records]):
            return  # shutting down with the database away: the records stay journaled
        self.journal.commit(offset)
        self.stats.drained += len(records)

    def _write_with_retry(self, items):
        """Write until it works; past the shutdown deadline, journal the rows and give up."""
        rows = [payload for kind, payload, _ in items if kind == "row"]
        checkpoints = [payload for kind, payload, _ in items if kind == "checkpoint"]
        checkpoints = merged(checkpoints)
        while True:
            try:
                if self._connection_dirty:
                    reset_connection()
                    self._connection_dirty = False
                self._write(rows, checkpoints)
            except DatabaseError as exc:
                self._connection_dirty = True
                self.stats.db_errors += 1
                self.stats.db_healthy = False
                self.stats.last_error = f"{type(exc).__name__}: {exc}".strip()[:300]
                logger.warning("store %s: database error, will retry: %s", self.source_key, self.stats.last_error)
                if self._past_deadline():
                    fresh = [payload for kind, payload, is_fresh in items if kind == "row" and is_fresh]
                    if fresh:
                        self.journal.append(fresh)
                        self.stats.journaled += len(fresh)
                    return False
                delay = self._retry.next_delay()
                if self._deadline is not None:
                    delay = min(delay, max(0.0, self._deadline - time.monotonic()))
                time.sleep(delay)
                continue
            self._retry.reset()
            self.stats.db_healthy = True
            return True

    def _write(self, rows, checkpoints=()):
        if self.upstream and self.journal.lost:
            checkpoints = ()  # rows before them were given up: their events must be replayed
        if transaction_capable():
            with transaction.atomic():
                new_rows = self._insert(rows)
                saved = [checkpoint for checkpoint in checkpoints if self._save_checkpoint(checkpoint)]
        else:
            new_rows = self._insert(rows)
            saved = [checkpoint for checkpoint in checkpoints if self._save_checkpoint(checkpoint)]
        self.stats.stored += len(new_rows)
        self.stats.duplicates += len(rows) - len(new_rows)
        for checkpoint in saved:
            self.stats.checkpoints += 1
            try:
                if checkpoint["key"] != self.source_key and self.on_keyed_checkpoint_stored is not None:
                    self.on_keyed_checkpoint_stored(checkpoint["key"], checkpoint["last_event_id"],
                                                    (checkpoint["state"] or {}).get("epoch"))
                elif checkpoint["key"] == self.source_key and self.on_checkpoint_stored is not None:
                    self.on_checkpoint_stored(checkpoint["last_event_id"])
            except Exception:  # housekeeping only: the checkpoint itself is stored
                logger.exception("store %s: after-checkpoint hook failed", self.source_key)
            if self.on_series_stored is not None and checkpoint.get("series"):
                self.on_series_stored(checkpoint["series"])
        if new_rows:
            announce(new_rows)

    def _insert(self, rows):
        """Insert the rows not stored yet (counted in the rollups, their series registered with
        this store's owner), attach the alarming ones to their incidents; return the new ones."""
        inserted = AnomalyLog.objects.insert_new([to_instance(row) for row in rows])
        incidents.attach(inserted)
        series_registry.record(inserted, owner=self.owner)
        return inserted

    def _save_checkpoint(self, checkpoint):
        """Save the checkpoint (in the rows' transaction); False if its epoch was fenced off."""
        key = checkpoint.get("key", self.source_key)
        epoch = (checkpoint["state"] or {}).get("epoch")
        if epoch is not None and stored_epoch(key) > epoch:
            if self.fenced.get(key) != epoch:
                logger.warning("store %s: checkpoint of %s of epoch %d refused, the shard has a newer owner",
                               self.source_key, key, epoch)
            self.fenced[key] = max(epoch, self.fenced.get(key, 0))
            return False
        save_series_states(checkpoint.get("series") or {})
        if checkpoint["state"] is None:  # only series states
            return True
        updated = DetectorCheckpoint.objects.filter(source_key=key).update(
            state=checkpoint["state"], last_event_id=checkpoint["last_event_id"] or "",
            updated_at=timezone.now(),
        )
        if not updated:
            DetectorCheckpoint.objects.create(
                source_key=key, state=checkpoint["state"], last_event_id=checkpoint["last_event_id"] or "",
            )
        return True


def stored_epoch(source_key):
    """The fencing epoch of a shard's stored checkpoint (0 if none), its row locked until the
    transaction ends where the database can lock rows."""
    rows = DetectorCheckpoint.objects.filter(source_key=source_key)
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    state = rows.values_list("state", flat=True).first()
    return (state or {}).get("epoch", 0)


def merged(checkpoints):
    """The checkpoints standing for several queued in order, one per key: the last state of each,
    and every series state of each, the later one of a series winning."""
    by_key = {}
    for checkpoint in checkpoints:
        key = checkpoint.get("key")
        series = {**by_key[key]["series"], **(checkpoint.get("series") or {})} if key in by_key else \
            dict(checkpoint.get("series") or {})
        by_key.pop(key, None)  # re-inserted: the dict keeps the order of the last ones
        by_key[key] = {**checkpoint, "series": series}
    return list(by_key.values())


def save_series_states(states):
    """Upsert the checkpoints ``{source key: state}`` in bulk (thousands per checkpoint)."""
    if not states:
        return
    now = timezone.now()
    existing = {row.source_key: row for row in DetectorCheckpoint.objects.filter(source_key__in=list(states))}
    for key, row in existing.items():
        row.state, row.updated_at = states[key], now
    if existing:
        DetectorCheckpoint.objects.bulk_update(list(existing.values()), ["state", "updated_at"], batch_size=500)
    fresh = [DetectorCheckpoint(source_key=key, state=state, last_event_id="")
             for key, state in states.items() if key not in existing]
    if fresh:
        DetectorCheckpoint.objects.bulk_create(fresh, batch_size=500)


def reset_connection():
    """Bring this thread's connection back to a clean state after a database error.

    Raises DatabaseError while the database is still unavailable. Django ignores ``close()``
    on an in-memory SQLite database (the test database), and an ``atomic()`` whose BEGIN
    failed (database locked) never runs its exit, leaving the connection marked "inside a
    transaction" with autocommit off. The writer thread is never legitimately inside an atomic
    block here, so that state is reset by hand.
    """
    connection.in_atomic_block = False
    connection.savepoint_ids = []
    connection.atomic_blocks = []
    connection.needs_rollback = False
    connection.commit_on_exit = True
    raw = connection.connection
    with connection.wrap_database_errors:  # driver errors become Django's DatabaseError
        if raw is not None and getattr(raw, "in_transaction", False):
            raw.rollback()
        if raw is not None and not connection.get_autocommit():
            connection.set_autocommit(True)
        connection.close()


def transaction_capable():
    # Not ``features.supports_transactions``: on SQLite that probes with a write, which fails
    # half-way (and leaves autocommit off) while the database is locked.
    return connection.vendor != "mongodb"


def to_instance(row):
    fields = {name: row[name] for name in ROW_FIELDS if name in row}  # journals before series: blank
    return AnomalyLog(timestamp=datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")), **fields)


def announce(rows):
    """Tell realtime and alerts about newly stored rows; a failing receiver is only logged."""
    for receiver, result in detections_stored.send_robust(sender=AnomalyLog, detections=rows):
        if isinstance(result, Exception):
            logger.error("detections_stored receiver %r failed: %r", receiver, result)
