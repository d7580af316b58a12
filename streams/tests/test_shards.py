"""The pieces of ``detect --workers`` one by one: routing, fencing, the upstream log, the command.

The processes together (a killed worker, a joining one) are in ``test_shard_workers``.
"""
import os
import uuid

import pytest
from django.core.management import CommandError, call_command

from anomalies.models import AnomalyLog, DetectorCheckpoint
from streams.shards import Keys, entry_id_after, shard_of
from streams.store import DetectionStore, UpstreamLog, merged

pytestmark = pytest.mark.django_db(transaction=True)


def row(key, moment):
    return {"dedup_key": f"{key}:{moment}", "timestamp": f"2024-01-01T00:{moment:02d}:00Z", "source_type": "replay",
            "series": "web-1", "event_data": {}, "betti_h0": 1, "betti_h1": 0, "betti_h2": 0, "anomaly_score": 0.5,
            "is_anomaly": False, "severity": "low", "metadata": {}, "suppressed": False, "warming_up": False,
            "explanation": {}}


def shard_state(epoch, last_applied):
    return {"version": "shard-1", "epoch": epoch, "last_applied": last_applied}


def test_a_series_always_hashes_to_the_same_shard_and_the_shards_share_the_series():
    names = [f"host-{n}" for n in range(1000)]
    shards = [shard_of(name, 16) for name in names]
    assert shards == [shard_of(name, 16) for name in names]
    assert shard_of("host-1", 16) == 3  # crc32, the same in every process and on every machine
    assert min(shards.count(n) for n in range(16)) > 1000 / 16 / 2


def test_entry_ids_compare_as_numbers_not_text():
    assert entry_id_after("10-0", "9-5") and entry_id_after("5-10", "5-9")
    assert not entry_id_after("5-9", "5-9") and not entry_id_after("9-5", "10-0")


def test_merged_keeps_one_checkpoint_per_key_with_the_later_states_winning():
    checkpoints = merged([
        {"key": "s@shard:0", "state": shard_state(1, "1-0"), "last_event_id": "1-0", "series": {"a": 1, "b": 1}},
        {"key": "s@shard:1", "state": shard_state(1, "2-0"), "last_event_id": "2-0", "series": {"c": 1}},
        {"key": "s@shard:0", "state": shard_state(1, "3-0"), "last_event_id": "3-0", "series": {"a": 2}},
    ])
    assert [(c["key"], c["last_event_id"], c["series"]) for c in checkpoints] == [
        ("s@shard:1", "2-0", {"c": 1}), ("s@shard:0", "3-0", {"a": 2, "b": 1})]


def test_a_checkpoint_of_an_older_epoch_is_refused_and_keeps_the_newer_owner_s_states():
    DetectorCheckpoint.objects.create(source_key="s@shard:0", state=shard_state(3, "5-0"), last_event_id="5-0")
    DetectorCheckpoint.objects.create(source_key="s#web-1", state={"owner": "new"}, last_event_id="")
    stored = []
    store = DetectionStore("s@worker:old", UpstreamLog()).start()
    store.on_keyed_checkpoint_stored = lambda key, upto, epoch: stored.append((key, upto, epoch))
    store.submit([row("s#web-1", 1)])
    store.checkpoint(shard_state(2, "9-0"), "9-0", series={"s#web-1": {"owner": "old"}}, key="s@shard:0")
    store.checkpoint(shard_state(1, "4-0"), "4-0", series={"s#web-2": {"owner": "old"}}, key="s@shard:1")
    store.close()

    assert store.fenced == {"s@shard:0": 2}
    assert store.is_fenced("s@shard:0", 2) and not store.is_fenced("s@shard:0", 3)
    assert DetectorCheckpoint.objects.get(source_key="s@shard:0").state == shard_state(3, "5-0")
    assert DetectorCheckpoint.objects.get(source_key="s#web-1").state == {"owner": "new"}
    assert stored == [("s@shard:1", "4-0", 1)]  # only the unfenced shard is acknowledged
    assert DetectorCheckpoint.objects.get(source_key="s#web-2").state == {"owner": "old"}
    assert AnomalyLog.objects.filter(dedup_key="s#web-1:1").exists()  # rows are idempotent: kept


def test_once_rows_were_given_up_no_later_checkpoint_is_written(tmp_path):
    log = UpstreamLog()
    store = DetectionStore("s@worker:w", log)
    log.append([row("s#web-1", 1)])  # what the store does with rows it cannot store at shutdown
    store.checkpoint(shard_state(1, "9-0"), "9-0", key="s@shard:0")
    store.start().close()
    assert not DetectorCheckpoint.objects.filter(source_key="s@shard:0").exists()  # the stream replays them


@pytest.mark.parametrize("args, message", [
    (["--source", "generator", "--workers", "2"], "--workers needs --split-by"),
    ([], "--source is required"),
])
def test_bad_worker_options_are_refused(args, message, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    with pytest.raises(CommandError, match=message):
        call_command("detect", *args)


def test_workers_need_redis(settings):
    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="need REDIS_URL"):
        call_command("detect", "--join", "anything")


@pytest.mark.redis
def test_a_stream_cannot_be_routed_again_with_other_shards(tmp_path, settings):
    import redis

    from streams.router import ConfigMismatch, ShardRouter
    from streams.sources.replay import ReplaySource

    path = tmp_path / "one.jsonl"
    path.write_text('{"timestamp": "2024-01-01T00:00:00Z", "value": 1, "key": "a"}\n')
    key = f"router-test-{uuid.uuid4().hex[:8]}"
    config = {"kind": "generic", "split_by": "key", "shards": 4, "bucket_seconds": 60.0, "allowed_lateness": 0.0,
              "detector": {}, "idle_seconds": None, "max_series": None}
    url = os.environ["REDIS_URL"]
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        router = ShardRouter(lambda resume: ReplaySource(path, resume_from=resume), redis_url=url,
                             source_key=key, config=config)
        assert router.run() is True
        keys = Keys(key)
        entries = client.xrange(keys.shard(shard_of("a", 4)))
        assert [fields.get("end") for _, fields in entries] == [None, "1"]  # the event, then its end
        assert client.get(keys.router) == "1"  # the file's resume id after its one line
        with pytest.raises(ConfigMismatch, match="shards"):
            ShardRouter(lambda resume: ReplaySource(path), redis_url=url, source_key=key,
                        config={**config, "shards": 8})
    finally:
        names = list(client.scan_iter(match=f"topoforge:{key}:*"))
        if names:
            client.delete(*names)

