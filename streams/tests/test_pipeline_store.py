"""The pipeline end to end on the test database: each window stored once, even through outages."""
import time

import pytest

from streams.journal import Journal
from anomalies.models import AnomalyLog, DetectorCheckpoint
from streams.pipeline import Pipeline
from anomalies.signals import detections_stored
from streams.store import DetectionStore, load_checkpoint
from streams.tests.pipeline_support import (
    DatabaseBlocker, ScriptedSource, generator, reference_detections,
)

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "generator-test"


def run_pipeline(tmp_path, make_source, *, queue_size=1000, checkpoint=None, stores=None):
    journal = Journal(tmp_path / "journal", KEY)
    store = DetectionStore(KEY, journal, queue_size=queue_size, retry_base=0.05, retry_cap=0.5).start()
    if stores is not None:
        stores.append(store)
    pipeline = Pipeline.resume(make_source, source_key=KEY, kind="recentchange", store=store,
                               checkpoint=checkpoint, checkpoint_seconds=0.0)
    ended = pipeline.run()
    store.close(final_checkpoint=None if ended else pipeline.final_checkpoint(), timeout=60)
    pending = journal.pending_bytes()
    journal.close()
    return pipeline, store, pending


@pytest.fixture
def announced():
    received = []

    def receiver(sender, detections, **kwargs):
        received.extend(detections)

    detections_stored.connect(receiver, weak=False)
    yield received
    detections_stored.disconnect(receiver)


def test_every_window_is_stored_once_with_its_summary_and_announced_after_commit(tmp_path, announced):
    expected = reference_detections(KEY, 300)
    pipeline, store, _ = run_pipeline(tmp_path, lambda resume: generator(300))

    rows = list(AnomalyLog.objects.order_by("timestamp"))
    assert [r.dedup_key for r in rows] == list(expected)
    assert [r.anomaly_score for r in rows] == pytest.approx(list(expected.values()))
    first = rows[0]
    assert first.source_type == "generator"
    assert first.event_data["window"] == {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:00:10Z"}
    assert first.event_data["features"]["events"] > 200
    assert len(first.event_data["examples"]) == 3
    assert first.timestamp.isoformat() == "2024-01-01T00:00:10+00:00"  # window end, UTC
    assert first.metadata["bucket_seconds"] == 10.0
    assert first.metadata["detector"]["window"] > 0
    assert first.metadata["last_event_id"]
    # announced once each, as saved rows (with ids), after they were committed
    assert sorted(r.pk for r in announced) == sorted(r.pk for r in rows)
    checkpoint = DetectorCheckpoint.objects.get(source_key=KEY)
    assert checkpoint.last_event_id == pipeline.source.last_event_id
    assert store.stats.stored == len(rows) and store.stats.duplicates == 0


def test_a_rerun_resumes_from_the_checkpoint_and_a_fresh_one_stores_nothing_twice(tmp_path, announced):
    run_pipeline(tmp_path, lambda resume: generator(200))
    count = AnomalyLog.objects.count()
    announced.clear()

    pipeline, store, _ = run_pipeline(tmp_path, lambda resume: generator(200, resume_from=resume),
                                      checkpoint=load_checkpoint(KEY))
    assert pipeline.counters.events == 0 and store.stats.stored == 0

    _, store, _ = run_pipeline(tmp_path, lambda resume: generator(200))  # no checkpoint: recomputes all
    assert store.stats.stored == 0 and store.stats.duplicates == count
    assert AnomalyLog.objects.count() == count
    assert announced == []


def test_database_outage_spills_to_the_journal_and_every_window_is_stored_once(tmp_path):
    expected = reference_detections(KEY, 600)
    blocker = DatabaseBlocker()
    stores = []

    def wait_for_errors():
        deadline = time.monotonic() + 30
        while stores[0].stats.db_errors == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        blocker.unblock()

    def make_source(resume):
        return ScriptedSource(generator(600), {3000: blocker.block, 15000: wait_for_errors})

    try:
        _, store, pending = run_pipeline(tmp_path, make_source, queue_size=2, stores=stores)
    finally:
        blocker.unblock()

    assert store.stats.db_errors > 0
    assert store.stats.journaled > 0 and store.stats.drained == store.stats.journaled
    assert pending == 0
    keys = list(AnomalyLog.objects.order_by("timestamp").values_list("dedup_key", flat=True))
    assert keys == list(expected)  # all of them, once each


def test_a_restarted_wikipedia_pipeline_resumes_with_the_checkpointed_last_event_id(tmp_path):
    """Stop after 30 recorded events, restart: Last-Event-ID comes from the stored checkpoint,
    and the bucket holds every event exactly once across the restart."""
    from streams.sources.wikimedia import WikimediaSource
    from streams.tests.sse_server import RecordedStream, SSEServer
    from streams.tests.test_sources_wikimedia import recorded_blocks

    events, blocks = recorded_blocks()
    key = "wikipedia-test"
    with SSEServer(RecordedStream(blocks), [("serve_all",)]) as server:
        def run(checkpoint, stop_after):
            holder = {}

            def make_source(resume):
                inner = WikimediaSource(server.url, user_agent="TopoForge/test (x) httpx/0",
                                        resume_from=resume, backoff_base=0.05, backoff_cap=0.2)
                # the stop takes effect once the stop_after-th event is processed
                holder["source"] = ScriptedSource(inner, {stop_after: lambda: holder["pipeline"].stop()})
                return holder["source"]

            journal = Journal(tmp_path / "journal", key)
            store = DetectionStore(key, journal).start()
            pipeline = holder["pipeline"] = Pipeline.resume(
                make_source, source_key=key, kind="recentchange", store=store, checkpoint=checkpoint,
                bucket_seconds=60, allowed_lateness=10)
            pipeline.run()
            store.close(final_checkpoint=pipeline.final_checkpoint())
            journal.close()
            return pipeline

        first = run(None, 30)
        saved = load_checkpoint(key)
        assert json_offset(saved["last_event_id"]) == json_offset(first.source.last_event_id)
        second = run(saved, len(events) - 30)

    assert server.requests[-1][1]["Last-Event-ID"] == saved["last_event_id"]
    assert (first.counters.events, second.counters.events) == (30, len(events) - 30)
    windows = second.aggregator.flush()
    assert sum(w.features["events"] for w in windows) + second.aggregator.dropped_late == len(events)


def json_offset(event_id):
    import json

    return json.loads(event_id)[0]["offset"]
