"""A worker of ``detect --workers`` / ``detect --join``: detection for the shards it leases.

Every worker of a stream, on any machine, runs the same loop:

1. **Membership.** It renews its ``worker:<id>`` key; the live keys give the fair share,
   ceil(shards / live workers).
2. **Leases.** It renews the leases it holds (a lease it finds lost is dropped at once), gives
   back the shards above its share (after their last checkpoint is stored) and takes free ones
   below it (``SET NX PX``). Taking a shard increments its epoch and writes it into the shard's
   database checkpoint in one transaction (the fence: see ``streams.store``).
3. **Work.** A taken shard first claims what its previous owner was delivered and never
   acknowledged (``XAUTOCLAIM``), skips what the stored checkpoint already applied, then reads
   new entries (``XREADGROUP >``). Events go through the shard's ``SeriesSet`` (one detector per
   series, loaded from their checkpoints) into the shard's own ``DetectionStore``.
4. **Acknowledgement.** Once the store has written a checkpoint (rows, series states and the last
   applied entry id in one transaction), the entries up to it are acknowledged and trimmed.

So a killed worker's shards wait for its leases to expire, then another worker resumes them from
their checkpoints and replays the unacknowledged entries; the windows recomputed are the same,
and ``dedup_key`` makes their second write a no-op. Nothing is lost and nothing is stored twice.
"""
import json
import logging
import math
import os
import socket
import threading
import time
from collections import deque
from contextlib import nullcontext

import redis
from django.db import DatabaseError, close_old_connections, transaction

from anomalies.models import DetectorCheckpoint
from streams.pipeline import PipelineCounters
from streams.series import SeriesSet, series_name
from streams.series_pipeline import checkpoint_interval
from streams.shards import GROUP, RELEASE, RENEW, Keys, checkpoint_key, connect, entry_id_after
from streams.store import DetectionStore, UpstreamLog, stored_epoch, transaction_capable

logger = logging.getLogger(__name__)

SHARD_VERSION = "shard-1"


def default_worker_id():
    return f"{socket.gethostname()}:{os.getpid()}"


class ShardSource:
    """What a window row reads of its source (``streams.pipeline.window_row``), for a shard."""

    def __init__(self, config):
        self.source_type = config["source_type"]
        self._describe = config["source"]
        self.last_event_id = ""

    def describe(self):
        return self._describe


class OwnedShard:
    """One leased shard: its series and how far it has applied, stored and acknowledged."""

    def __init__(self, number, key, epoch, last_applied, series, source):
        self.number = number
        self.key = key  # its DetectorCheckpoint.source_key
        self.epoch = epoch
        self.last_applied = last_applied  # the newest entry id whose effects are in ``series``
        self.series = series
        self.source = source
        self.unacked = deque()  # entry ids applied, not yet acknowledged
        self.stored_upto = None  # the last applied id of the newest stored checkpoint (writer thread)
        self.lease_lost = False  # set by the heartbeat thread
        self.backlog = []  # claimed entries of the previous owner still to apply
        self.end_id = None  # the id of the end-of-stream entry, once applied
        self.changed = False  # entries applied since the last checkpoint

    def state(self):
        return {"version": SHARD_VERSION, "epoch": self.epoch, "last_applied": self.last_applied}


class ShardWorker:
    def __init__(self, *, redis_url, source_key, config, worker_id=None, lease_seconds=15.0, tick_seconds=1.0,
                 read_count=200, checkpoint_seconds=5.0, queue_size=1000, exit_when_ended=True):
        self.keys = Keys(source_key)
        self.client = connect(redis_url)
        self.source_key = source_key
        self.config = config
        self.shards = config["shards"]
        self.worker_id = worker_id or default_worker_id()
        self.lease_ms = int(lease_seconds * 1000)
        self.tick_seconds = tick_seconds
        self.read_count = read_count
        self.checkpoint_seconds = checkpoint_seconds
        self.exit_when_ended = exit_when_ended
        self.owned = {}  # shard number → OwnedShard
        self._by_key = {}  # checkpoint key → OwnedShard, for the store's writer thread
        # One store (one writer thread and connection) for every shard: on SQLite a writer per
        # shard would only queue up on the file's one lock.
        self.store = DetectionStore(f"{source_key}@worker:{self.worker_id}", UpstreamLog(), owner=self.worker_id,
                                    queue_size=queue_size)
        self.store.on_keyed_checkpoint_stored = self._checkpoint_stored
        self.store.on_series_stored = self._series_stored
        self.counters = PipelineCounters()
        self.taken = self.given_back = self.lost = 0
        self._renew = self.client.register_script(RENEW)
        self._release = self.client.register_script(RELEASE)
        self._stopping = False
        self._stopped = threading.Event()  # the heartbeat's end
        self._next_tick = 0.0
        self._next_checkpoint = time.monotonic() + checkpoint_seconds
        self._start = sum(map(ord, self.worker_id)) % self.shards  # where it looks for free shards first

    # --- the loop ---------------------------------------------------------------------------
    def stop(self):
        self._stopping = True

    def run(self):
        """Work until ``stop()`` (then give every shard back) or, with ``exit_when_ended``, until
        every shard of a finite stream has ended and been checkpointed."""
        self.counters.started = time.time()
        self.store.start()
        self.client.set(self.keys.worker(self.worker_id), "1", px=self.lease_ms)
        heartbeat = threading.Thread(target=self._heartbeat, name=f"heartbeat:{self.worker_id}", daemon=True)
        heartbeat.start()
        try:
            while not self._stopping:
                now = time.monotonic()
                if now >= self._next_tick:
                    self._next_tick = now + self.tick_seconds
                    self._tick()
                    if self.exit_when_ended and self._all_ended():
                        break
                self._work()
        finally:
            for number in list(self.owned):
                self._give_back(number)
            self._stopped.set()
            heartbeat.join()
            self.client.delete(self.keys.worker(self.worker_id))
            self.store.close()

    def _heartbeat(self):
        """Renew this worker's key and its leases every tick, whatever the main loop is doing
        (a long batch, a store waiting for the database): a lease expires only if the process
        is gone or cut off from Redis. A lease found lost is flagged for the main loop."""
        while not self._stopped.wait(self.tick_seconds):
            try:
                self.client.set(self.keys.worker(self.worker_id), "1", px=self.lease_ms)
                for number, shard in list(self.owned.items()):
                    if not self._renew(keys=[self.keys.lease(number)], args=[self.worker_id, self.lease_ms]):
                        shard.lease_lost = True
            except redis.RedisError as exc:
                logger.warning("%s: cannot renew the leases (%s); retrying", self.worker_id, exc)

    def _checkpoint_stored(self, key, last_applied, epoch):  # the store's writer thread
        shard = self._by_key.get(key)
        if shard is not None and shard.epoch == epoch:  # not a checkpoint of an earlier tenure
            shard.stored_upto = last_applied

    def _series_stored(self, states):  # the store's writer thread
        for shard in list(self._by_key.values()):
            shard.series.stored(states)

    def _tick(self):
        for number, shard in list(self.owned.items()):
            if shard.lease_lost:
                logger.warning("%s: lease of shard %d lost (expired): dropping it", self.worker_id, number)
                self._drop(number)
            elif self.store.is_fenced(shard.key, shard.epoch):
                logger.warning("%s: shard %d has a newer owner (fenced): dropping it", self.worker_id, number)
                self._drop(number)
            else:
                self._acknowledge(shard)
                if shard.end_id is not None and shard.stored_upto == shard.end_id:
                    self.client.set(self.keys.ended(number), "1")
        share = self._fair_share()
        while len(self.owned) > share:
            self._give_back(max(self.owned))
        if len(self.owned) < share:
            self._take_free(share)

    def _fair_share(self):
        live = sum(1 for _ in self.client.scan_iter(match=self.keys.workers_pattern, count=1000))
        return math.ceil(self.shards / max(1, live))

    def _all_ended(self):
        ended = self.client.exists(*[self.keys.ended(n) for n in range(self.shards)])
        return ended == self.shards and all(s.end_id is None or s.stored_upto == s.end_id
                                            for s in self.owned.values())

    def _work(self):
        """Apply the claimed backlog, then up to ``read_count`` new entries per owned shard."""
        for shard in self.owned.values():
            if shard.backlog:
                entries, shard.backlog = shard.backlog[:self.read_count], shard.backlog[self.read_count:]
                self._apply(shard, entries)
                return
        streams = {self.keys.shard(n): ">" for n, shard in self.owned.items() if shard.end_id is None}
        if not streams:
            time.sleep(min(0.1, self.tick_seconds))
            return
        block = max(1, int(min(0.2, self.tick_seconds) * 1000))
        try:
            replies = self.client.xreadgroup(GROUP, self.worker_id, streams, count=self.read_count, block=block)
        except redis.ResponseError as exc:  # NOGROUP: the stream was discarded (--fresh) under us
            logger.warning("%s: read failed (%s): re-taking the shards", self.worker_id, exc)
            for number in list(self.owned):
                self._drop(number)
            return
        by_key = {self.keys.shard(n): shard for n, shard in self.owned.items()}
        for key, entries in replies or ():
            self._apply(by_key[key], entries)
        self._checkpoint_due()

    def _apply(self, shard, entries):
        series, rows = shard.series, []
        for entry_id, fields in entries:
            if not entry_id_after(entry_id, shard.last_applied):
                shard.unacked.append(entry_id)  # applied by the previous owner: only acknowledge it
                continue
            shard.source.last_event_id = entry_id
            if "e" in fields:
                event = json.loads(fields["e"])
                self.counters.events += 1
                self.counters.last_arrival = time.time()
                one, windows = series.add(series_name(event, self.config["split_by"]), event)
                if windows:
                    rows += series.evaluate(one, windows, shard.source)
                if series.newest_time is not None:
                    self.counters.last_event_time = max(self.counters.last_event_time, series.newest_time)
            elif "advance" in fields:
                rows += series.advance(float(fields["advance"]), shard.source)
            elif "end" in fields:
                rows += series.flush(shard.source)
                shard.end_id = entry_id
            shard.last_applied = entry_id
            shard.unacked.append(entry_id)
            shard.changed = True
        if rows:
            self.counters.windows += len(rows)
            self.counters.anomalies += sum(row["is_anomaly"] for row in rows)
            self.store.submit(rows)
        if shard.end_id is not None:
            self._checkpoint(shard)

    def _checkpoint_due(self):
        """Checkpoint every changed shard together, at most as often as the cost rule allows
        (``checkpoint_interval`` of what taking all of their states cost the last time)."""
        now = time.monotonic()
        if now < self._next_checkpoint:
            return
        for shard in self.owned.values():
            self._checkpoint(shard)
        self._next_checkpoint = now + checkpoint_interval(self.checkpoint_seconds, time.monotonic() - now)

    def _checkpoint(self, shard):
        if shard.changed:
            self.store.checkpoint(shard.state(), shard.last_applied, series=shard.series.take_dirty(), key=shard.key)
            shard.changed = False

    def _acknowledge(self, shard):
        """XACK (and trim) the entries up to the newest stored checkpoint."""
        upto = shard.stored_upto
        if upto is None:
            return
        done = []
        while shard.unacked and not entry_id_after(shard.unacked[0], upto):
            done.append(shard.unacked.popleft())
        if done:
            key = self.keys.shard(shard.number)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.xack(key, GROUP, *done)
                pipe.xtrim(key, minid=upto, approximate=False)
                pipe.execute()

    # --- taking and giving back -------------------------------------------------------------
    def _take_free(self, share):
        for offset in range(self.shards):
            if len(self.owned) >= share or self._stopping:
                return
            number = (self._start + offset) % self.shards
            if number in self.owned or self.client.exists(self.keys.ended(number)):
                continue
            if self.client.set(self.keys.lease(number), self.worker_id, nx=True, px=self.lease_ms):
                self._take(number)

    def _take(self, number):
        epoch = self.client.incr(self.keys.epoch(number))
        try:
            last_applied = fence(self.source_key, number, epoch)
        except DatabaseError as exc:
            logger.warning("%s: cannot take shard %d, the database refused its fence (%s); retrying",
                           self.worker_id, number, exc)
            self._release(keys=[self.keys.lease(number)], args=[self.worker_id])
            close_old_connections()
            return
        if last_applied is None:
            logger.error("%s: shard %d's stored epoch is ahead of Redis' %d (was Redis reset?): not taking it",
                         self.worker_id, number, epoch)
            self._release(keys=[self.keys.lease(number)], args=[self.worker_id])
            return
        key = self.keys.shard(number)
        try:
            self.client.xgroup_create(key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        config = self.config
        series = SeriesSet(self.source_key, kind=config["kind"], bucket_seconds=config["bucket_seconds"],
                           allowed_lateness=config["allowed_lateness"], detector_overrides=config["detector"],
                           idle_seconds=config.get("idle_seconds"), max_series=config.get("max_series"))
        shard = OwnedShard(number, checkpoint_key(self.source_key, number), epoch, last_applied, series,
                           ShardSource(config))
        shard.backlog = self._claim(key)
        self._by_key[shard.key] = shard
        self.owned[number] = shard
        self.taken += 1
        self._spread_cap()
        logger.info("%s: took shard %d (epoch %d, after entry %s, %d entries to replay)", self.worker_id, number,
                    epoch, last_applied, len(shard.backlog))

    def _claim(self, key):
        """Every entry delivered to a consumer and never acknowledged, oldest first."""
        claimed, start = [], "0-0"
        while True:
            start, entries, _deleted = self.client.xautoclaim(key, GROUP, self.worker_id, min_idle_time=0,
                                                              start_id=start, count=1000)
            claimed += [entry for entry in entries if entry[1] is not None]
            if start == "0-0":
                return claimed

    def _give_back(self, number, timeout=10.0):
        """Checkpoint the shard, wait until it is stored, acknowledge it, release the lease. If the
        database does not take it in ``timeout`` seconds, the next owner replays from the last
        stored checkpoint instead."""
        shard = self.owned.pop(number)
        self.store.checkpoint(shard.state(), shard.last_applied, series=shard.series.take_dirty(), key=shard.key)
        deadline = time.monotonic() + timeout
        while shard.stored_upto != shard.last_applied and not self.store.is_fenced(shard.key, shard.epoch):
            if time.monotonic() > deadline:
                logger.warning("%s: shard %d's last checkpoint was not stored in %g s: giving it back, its next "
                               "owner replays from the one before", self.worker_id, number, timeout)
                break
            time.sleep(0.02)
        del self._by_key[shard.key]
        if not self.store.is_fenced(shard.key, shard.epoch):
            self._acknowledge(shard)
        if shard.end_id is not None and shard.stored_upto == shard.end_id:
            self.client.set(self.keys.ended(number), "1")
        self._release(keys=[self.keys.lease(number)], args=[self.worker_id])
        self.given_back += 1
        self._spread_cap()

    def _drop(self, number):
        """The lease is gone: stop at once; what was not checkpointed is the next owner's."""
        shard = self.owned.pop(number)
        del self._by_key[shard.key]
        self.lost += 1
        self._spread_cap()

    def _spread_cap(self):
        """``max_series`` is the worker's: each owned shard gets its part of it."""
        cap = self.config.get("max_series")
        if cap:
            for shard in self.owned.values():
                shard.series.max_series = max(1, math.ceil(cap / len(self.owned)))

    # --- status -----------------------------------------------------------------------------
    def status_line(self, previous_events, interval):
        counters = self.counters
        rate = (counters.events - previous_events) / interval if interval else 0.0
        live = sum(len(s.series.live) for s in self.owned.values())
        evicted = sum(s.series.evicted for s in self.owned.values())
        queue = self.store.depth
        db = "ok" if self.store.stats.db_healthy else "DOWN"
        return (f"{self.worker_id} | {rate:7.1f} ev/s | shards {len(self.owned)}/{self.shards} | events "
                f"{counters.events} | series {live} live, {evicted} evicted | windows {counters.windows} | "
                f"anomalies {counters.anomalies} | queue {queue} | db {db}")


def fence(source_key, number, epoch):
    """Write ``epoch`` into shard ``number``'s checkpoint; returns its last applied entry id, or
    None if the stored epoch is already newer (Redis lost its keys)."""
    key = checkpoint_key(source_key, number)
    with transaction.atomic() if transaction_capable() else nullcontext():
        if stored_epoch(key) > epoch:
            return None
        row = DetectorCheckpoint.objects.filter(source_key=key).first()
        last_applied = ((row.state or {}).get("last_applied") if row else None) or "0-0"
        state = {"version": SHARD_VERSION, "epoch": epoch, "last_applied": last_applied}
        if row is None:
            DetectorCheckpoint.objects.create(source_key=key, state=state, last_event_id=last_applied)
        else:
            DetectorCheckpoint.objects.filter(source_key=key).update(state=state)
        return last_applied

