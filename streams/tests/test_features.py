"""Event-time buckets: features, lateness, gaps, and a state that survives a restart."""
import json
import math

import pytest

from streams.features import GenericBucket, RecentChangeBucket, WindowAggregator
from streams.sources.event_time import parse_time
from streams.sources.generator import ALL_WIKI_SAMPLES, SAMPLES_DIR

T0 = 1_700_000_000.0  # a bucket boundary for 10 s buckets


def rc(second, type="edit", bot=False, user="Ann", wiki="enwiki", length=None, **extra):
    event = {"meta": {"dt": second_iso(second)}, "type": type, "bot": bot, "user": user, "wiki": wiki}
    if length is not None:
        event["length"] = length
    event.update(extra)
    return event


def second_iso(second):
    from streams.sources.event_time import iso

    return iso(T0 + second)


def test_recentchange_features_of_one_bucket():
    aggregator = WindowAggregator("recentchange", bucket_seconds=10, allowed_lateness=0)
    for event in [
        rc(0, length={"old": 100, "new": 150}),
        rc(1, type="edit", bot=True, user="Bot", wiki="wikidatawiki", length={"old": 500, "new": 200}),
        rc(2, type="new", user="Bea", length={"new": 40}),
        rc(3, type="categorize", bot=True, user="Bot"),
        rc(4, type="log", user=None),
    ]:
        assert aggregator.add(event) == []
    (window,) = aggregator.add(rc(10))  # the watermark passes the first bucket's end
    assert (window.start, window.end) == (T0, T0 + 10)
    assert window.features == {
        "events": 5, "edits": 2, "new_pages": 1, "logs": 1, "categorizes": 1, "other_types": 0,
        "bytes_added": 90, "bytes_removed": 300, "bot_ratio": 0.4, "new_page_ratio": 0.2,
        "distinct_users": 3, "distinct_wikis": 2, "main_namespace_ratio": 0.0,
        "wiki_entropy": pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2))),
    }
    assert len(window.vector) == len(RecentChangeBucket.FEATURES)
    assert len(window.examples) == 3 and window.examples[0]["size_change"] == 50


def features_of(events):
    bucket = RecentChangeBucket()
    for event in events:
        bucket.add(event)
    return bucket.features()


def test_the_mix_features_see_a_change_of_namespace_or_wikis_at_the_same_counts():
    calm = [rc(i, namespace=[0, 14, 1, 6][i % 4], wiki=["enwiki", "commonswiki"][i % 2]) for i in range(8)]
    articles = [{**event, "namespace": 0} for event in calm]
    spread = [{**event, "wiki": f"wiki{i}"} for i, event in enumerate(calm)]
    base = features_of(calm)
    assert base["main_namespace_ratio"] == 0.25 and base["wiki_entropy"] == pytest.approx(math.log(2))
    shifted = features_of(articles)
    assert shifted["main_namespace_ratio"] == 1.0
    assert {k: v for k, v in shifted.items() if k != "main_namespace_ratio"} == {
        k: v for k, v in base.items() if k != "main_namespace_ratio"}
    assert features_of(spread)["wiki_entropy"] == pytest.approx(math.log(8))
    vector = RecentChangeBucket.vector(shifted)
    assert vector[RecentChangeBucket.FEATURES.index("main_namespace_ratio")] == 1.0  # not on a log scale


def test_an_open_bucket_saved_before_the_mix_features_restores():
    state = RecentChangeBucket().to_state()
    old = {**state, "users": ["Ann"], "wikis": ["enwiki", "dewiki"], "count": 3}
    del old["main"]
    bucket = RecentChangeBucket.from_state(old)
    assert bucket.wikis == {"enwiki": 1, "dewiki": 1} and bucket.main == 0
    bucket.add(rc(0, namespace=0))
    assert bucket.features()["main_namespace_ratio"] == 0.25


def test_real_events_with_missing_fields_are_counted():
    """Log events without id, categorize without length, new without length.old."""
    lines = (SAMPLES_DIR / ALL_WIKI_SAMPLES[1]).read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    aggregator = WindowAggregator("recentchange", bucket_seconds=10, allowed_lateness=10)
    windows = [w for e in events for w in aggregator.add(e)] + aggregator.flush()
    assert sum(w.features["events"] for w in windows) == len(events) - aggregator.dropped_late
    assert aggregator.untimed == 0


def test_out_of_order_events_within_the_lateness_are_accepted_later_ones_dropped():
    aggregator = WindowAggregator("recentchange", bucket_seconds=10, allowed_lateness=5)
    aggregator.add(rc(1))
    assert aggregator.add(rc(13)) == []  # watermark 8: bucket [0, 10) still open
    assert aggregator.add(rc(4)) == []  # 9 s late, accepted
    (window,) = aggregator.add(rc(16))  # watermark 11 closes [0, 10)
    assert window.features["events"] == 2
    assert aggregator.add(rc(9)) == []  # its bucket is closed: dropped, not reopened
    assert aggregator.dropped_late == 1
    (second,) = aggregator.flush()
    assert second.features["events"] == 2


def test_a_quiet_bucket_becomes_an_empty_window_and_a_long_gap_is_jumped():
    aggregator = WindowAggregator("recentchange", bucket_seconds=10, allowed_lateness=0, max_gap_buckets=3)
    aggregator.add(rc(0))
    windows = aggregator.add(rc(25))
    assert [w.features["events"] for w in windows] == [1, 0]
    windows = aggregator.add(rc(1000))  # 97 buckets of silence: the process was not listening
    assert [w.features["events"] for w in windows] == [1]
    assert windows[0].after_gap is False and aggregator.next_index == int((T0 + 1000) // 10)


def test_advance_closes_buckets_of_a_quiet_stream():
    aggregator = WindowAggregator("recentchange", bucket_seconds=10, allowed_lateness=5)
    aggregator.add(rc(2))
    assert aggregator.advance(T0 + 14) == []
    (window,) = aggregator.advance(T0 + 15)
    assert window.features["events"] == 1


def test_state_round_trip_gives_identical_windows():
    events = [rc(s * 0.7, type=("edit", "log")[s % 2], user=f"u{s % 7}", length={"old": 10, "new": 10 + s})
              for s in range(200)]
    reference = WindowAggregator("recentchange")
    expected = [w for e in events for w in reference.add(e)]

    first = WindowAggregator("recentchange")
    got = [w for e in events[:77] for w in first.add(e)]
    state = json.loads(json.dumps(first.get_state()))  # what a checkpoint stores
    restored = WindowAggregator.from_state(state)
    got += [w for e in events[77:] for w in restored.add(e)]
    assert [(w.start, w.features) for w in got] == [(w.start, w.features) for w in expected]


def test_generic_features():
    aggregator = WindowAggregator("generic", bucket_seconds=60, allowed_lateness=0)
    for second, value, key in [(0, 3.0, "a"), (10, 5.0, "b"), (20, None, "a"), (30, 1.0, None)]:
        aggregator.add({"timestamp": T0 + second, "value": value, "key": key, "type": "latency"})
    (window,) = aggregator.flush()
    assert window.features["events"] == 4
    assert window.features["value_sum"] == 9.0
    assert window.features["value_mean"] == 3.0
    assert (window.features["value_min"], window.features["value_max"]) == (1.0, 5.0)
    assert window.features["distinct_keys"] == 2 and window.features["distinct_types"] == 1
    assert len(window.vector) == len(GenericBucket.FEATURES)


@pytest.mark.parametrize("value, expected", [
    ("2024-02-06T16:58:11Z", 1707238691.0),
    ("2015-02-26 21:42:53", 1424986973.0),  # NAB: UTC without a zone
    (1707238691, 1707238691.0),
    (1707238691123, 1707238691.123),  # epoch milliseconds
    ("1707238691", 1707238691.0),
    ("yesterday", None),
    (None, None),
    (True, None),
])
def test_parse_time(value, expected):
    assert parse_time(value) == (pytest.approx(expected) if expected else None)


def test_a_checkpoint_of_12_component_vectors_resumes_with_a_fresh_detector():
    """Saved before the namespace share and the wiki entropy: its past cannot be compared with
    14-component vectors, so the stream warms up again (with the same settings)."""
    from streams.pipeline import CHECKPOINT_VERSION, Pipeline, detector_config
    from tda import Detector

    old = Detector(detector_config({"window": 8, "history_min": 8}))
    for row in range(40):
        old.update(T0 + 10 * row, [float(row % 3)] * 12)
    aggregator = WindowAggregator("recentchange")
    aggregator.add(rc(0))
    state = {"version": CHECKPOINT_VERSION, "aggregator": aggregator.get_state(), "detector": old.get_state()}
    pipeline = Pipeline.resume(lambda resume_from: None, source_key="k", kind="recentchange", store=None,
                               checkpoint={"state": state, "last_event_id": ""})
    assert pipeline.detector.rows == 0 and pipeline.detector.config == old.config
    (window,) = pipeline.aggregator.add(rc(20))
    assert pipeline.detector.update(window.end, window.vector).warming_up
    generic = Detector(old.config)
    for row in range(40):
        generic.update(T0 + 10 * row, [float(row % 3)] * len(GenericBucket.FEATURES))
    kept = {**state, "aggregator": WindowAggregator("generic").get_state(), "detector": generic.get_state()}
    same = Pipeline.resume(lambda resume_from: None, source_key="k", kind="generic", store=None,
                           checkpoint={"state": kept, "last_event_id": ""})
    assert same.detector.rows == 40  # vectors of the features' length: restored as saved
