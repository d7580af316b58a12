"""The Redis layout shared by the router and the workers of ``detect --workers`` / ``--join``.

A split stream is cut into ``shards`` Redis Streams by the crc32 of each event's series name,
so every event of a series lands on the same shard, in order. A shard is owned by one worker at a
time through a lease key; its consumer group ``detectors`` holds what was delivered and not yet
acknowledged (acknowledged = its detections and series states are in the database).

Every key of a stream starts with ``topoforge:<source key>:`` (the cluster's namespace):

- ``config`` the stream's settings (JSON), written by the router, read by joining workers;
- ``router`` the source's resume id, written in the same MULTI as the events it follows;
- ``shard:<n>`` the events of shard n (entries ``{"e": event JSON, "i": source resume id}``,
  or a control entry ``{"advance": event time}`` / ``{"end": "1"}``);
- ``lease:<n>`` the worker owning shard n (value ``<worker id>``, expires unless renewed);
- ``epoch:<n>`` incremented at each acquisition: the fencing token written into the shard's
  database checkpoint, so a worker that lost its lease cannot overwrite its successor's state;
- ``worker:<id>`` one per live worker (expires unless renewed): the count sets the fair share;
- ``ended:<n>`` set once shard n's end-of-stream entry was processed and checkpointed.
"""
import json
import zlib

import redis

GROUP = "detectors"

# Renew the lease only if it is still ours; release it only if it is still ours.
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def connect(url):
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def shard_of(name, shards):
    """The shard of series ``name``: stable across processes and machines (not ``hash()``)."""
    return zlib.crc32(name.encode("utf-8")) % shards


def checkpoint_key(source_key, shard):
    """``DetectorCheckpoint.source_key`` of one shard (its epoch and last applied entry)."""
    return f"{source_key}@shard:{shard}"


class Keys:
    def __init__(self, source_key):
        self.prefix = f"topoforge:{source_key}:"
        self.config = self.prefix + "config"
        self.router = self.prefix + "router"

    def shard(self, n):
        return f"{self.prefix}shard:{n}"

    def lease(self, n):
        return f"{self.prefix}lease:{n}"

    def epoch(self, n):
        return f"{self.prefix}epoch:{n}"

    def ended(self, n):
        return f"{self.prefix}ended:{n}"

    def worker(self, worker_id):
        return f"{self.prefix}worker:{worker_id}"

    @property
    def workers_pattern(self):
        return f"{self.prefix}worker:*"


def write_config(client, keys, config):
    client.set(keys.config, json.dumps(config, sort_keys=True))


def read_config(client, keys):
    text = client.get(keys.config)
    return None if text is None else json.loads(text)


def entry_id_after(a, b):
    """True if stream entry id ``a`` comes after ``b`` (ids are ``<ms>-<seq>``)."""
    return tuple(map(int, a.split("-"))) > tuple(map(int, b.split("-")))
