"""The router of ``detect --workers``: one source in, one Redis Stream per shard out.

It reads the source as a single-process ``detect`` does and appends each event to its series'
shard (``streams.shards``). The events of a batch and the source's resume id after them go in one
MULTI/EXEC: a router restarted after a crash resumes the source exactly after the last event that
reached Redis, so no event is appended twice or skipped.

The router detects nothing and keeps no series state; it only tells the shards when time passes
on a quiet live stream (``advance``) and when a finite source has ended (``end``).
"""
import json
import logging
import time

from streams.series import series_name
from streams.sources.event_time import event_time
from streams.shards import Keys, connect, read_config, shard_of, write_config

logger = logging.getLogger(__name__)


class ConfigMismatch(Exception):
    """The stream already exists in Redis with other settings (shards, split key, ...)."""


class ShardRouter:
    def __init__(self, make_source, *, redis_url, source_key, config, batch_size=500, batch_seconds=0.05,
                 max_backlog=1_000_000):
        self.keys = Keys(source_key)
        self.client = connect(redis_url)
        self.source = make_source(self.client.get(self.keys.router) or "")
        config = {**config, "source_type": self.source.source_type, "source": self.source.describe()}
        self.config = config
        self.shards = config["shards"]
        self.split_by = config["split_by"]
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.max_backlog = max_backlog
        self.events = 0
        self.stopping = False
        stored = read_config(self.client, self.keys)
        if stored is not None and stored != json.loads(json.dumps(config)):
            changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            raise ConfigMismatch(f"{source_key} runs in Redis with other settings ({', '.join(changed)}); "
                                 f"start it with --fresh to discard that stream")
        write_config(self.client, self.keys, config)

    def stop(self):
        self.stopping = True
        self.source.stop()

    def run(self):
        """Route until the source ends (then mark every shard's end) or ``stop()``; True if it ended."""
        batch, started = [], time.monotonic()
        idle_after = self.config["bucket_seconds"] + self.config["allowed_lateness"]
        last_arrival = last_event_time = None
        for event in self.source:
            now = time.monotonic()
            if event is None:
                if last_event_time is not None and now - last_arrival > idle_after:
                    self._flush(batch)
                    batch = []
                    self._broadcast({"advance": repr(last_event_time + (now - last_arrival))})
                    last_arrival = now  # one advance per quiet interval
                if self.stopping:
                    break
                continue
            self.events += 1
            last_arrival = now
            moment = event_time(event, self.config["kind"])
            if moment is not None:
                last_event_time = moment if last_event_time is None else max(last_event_time, moment)
            batch.append(event)
            if len(batch) >= self.batch_size or now - started >= self.batch_seconds:
                self._flush(batch)
                batch, started = [], time.monotonic()
            if self.stopping:
                break
        else:
            self._flush(batch)
            if not self.stopping:
                self._broadcast({"end": "1"})
                return True
            return False
        self._flush(batch)
        return False

    def _flush(self, events):
        if not events:
            return
        self._wait_for_room()
        with self.client.pipeline(transaction=True) as pipe:
            for event in events:
                shard = shard_of(series_name(event, self.split_by), self.shards)
                pipe.xadd(self.keys.shard(shard), {"e": json.dumps(event, separators=(",", ":"))})
            pipe.set(self.keys.router, self.source.last_event_id or "")
            pipe.execute()

    def _broadcast(self, fields):
        with self.client.pipeline(transaction=True) as pipe:
            for shard in range(self.shards):
                pipe.xadd(self.keys.shard(shard), fields)
            pipe.execute()

    def _wait_for_room(self):
        """Hold the source while the shards' unprocessed backlog is at ``max_backlog`` (workers
        down or behind): Redis memory stays bounded and the source keeps the rest."""
        warned = False
        while not self.stopping:
            with self.client.pipeline(transaction=False) as pipe:
                for shard in range(self.shards):
                    pipe.xlen(self.keys.shard(shard))
                backlog = sum(pipe.execute())
            if backlog < self.max_backlog:
                return
            if not warned:
                logger.warning("%s: %d events wait in the shards (--max-backlog %d): holding the source until "
                               "the workers catch up", self.keys.prefix, backlog, self.max_backlog)
                warned = True
            time.sleep(0.5)
