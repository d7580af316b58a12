"""The synthetic recentchange feed: realistic mix, reproducible, with labelled anomalies."""
import itertools
import json
from collections import Counter

from streams.features import WindowAggregator
from streams.sources.generator import (
    ALL_WIKI_SAMPLES, SAMPLES_DIR, Anomaly, GeneratorSource, RecentChangeGenerator, schedule,
)

START = 1_704_067_200.0


def sample_events():
    return [json.loads(line) for name in ALL_WIKI_SAMPLES
            for line in (SAMPLES_DIR / name).read_text(encoding="utf-8").splitlines()]


def generated(seconds, **options):
    source = GeneratorSource(start=START, speed=0, duration=seconds, **options)
    return list(source), source


def test_rate_type_bot_and_wiki_mix_follow_the_recorded_samples():
    events, source = generated(900, seed=3)
    rate = len(events) / 900
    assert 25 <= rate <= 35
    samples = sample_events()
    for field_name in ("type", "bot"):
        real = Counter(e.get(field_name) for e in samples)
        made = Counter(e.get(field_name) for e in events)
        for value, count in real.items():
            assert abs(made[value] / len(events) - count / len(samples)) < 0.06, (field_name, value)
    top_real = {w for w, _ in Counter(e["wiki"] for e in samples).most_common(3)}
    top_made = {w for w, _ in Counter(e["wiki"] for e in events).most_common(3)}
    assert top_made == top_real
    # real shapes: new pages have only length.new, some log events have no id
    assert all("old" not in e["length"] for e in events if e["type"] == "new")
    assert any("id" not in e for e in events if e["type"] == "log")


def test_the_stream_is_not_ordered_by_event_time_like_the_real_one():
    events, _ = generated(120, seed=1)
    times = [e["timestamp"] for e in events]
    assert sum(b < a for a, b in zip(times, times[1:])) > 100
    assert max(a - b for a, b in zip(times, times[1:])) <= 7


def test_a_seed_reproduces_the_stream_and_resume_skips_what_was_seen():
    first, _ = generated(60, seed=9)
    again, _ = generated(60, seed=9)
    assert first == again
    resumed, source = generated(60, seed=9, resume_from="500")
    assert resumed[0]["meta"]["offset"] > first[400]["meta"]["offset"]
    assert [e["meta"]["id"] for e in resumed] == [e["meta"]["id"] for e in first][-len(resumed):]


def test_canaries_are_emitted_by_the_generator_and_dropped_by_the_source():
    raw = [e for _, e in itertools.islice(RecentChangeGenerator(start=START, canaries_per_hour=3600), 3000)]
    assert sum(e["meta"].get("domain") == "canary" for e in raw) > 50
    events, source = generated(1800, seed=0)
    assert source.stats["canaries"] >= 1
    assert all(e["meta"]["domain"] != "canary" for e in events)


def windows_of(events):
    aggregator = WindowAggregator("recentchange", 10, 5)
    return [w for e in events for w in aggregator.add(e)] + aggregator.flush()


def test_injected_anomalies_change_the_features_they_are_about():
    def during(kind):
        anomaly = Anomaly(kind, START + 200, 60)
        events, _ = generated(300, seed=4, anomalies=[anomaly])
        inside = [w for w in windows_of(events) if anomaly.start + 10 <= w.start and w.end <= anomaly.end]
        before = [w for w in windows_of(events) if w.end <= anomaly.start - 10]
        return inside, before

    def mean(windows, name):
        return sum(w.features[name] for w in windows) / len(windows)

    inside, before = during("edit_burst")
    assert mean(inside, "edits") > 3 * mean(before, "edits")
    inside, before = during("bot_storm")
    assert mean(inside, "bot_ratio") > 0.8 > mean(before, "bot_ratio")
    inside, before = during("mass_page_creation")
    assert mean(inside, "new_page_ratio") > 0.3 > 5 * mean(before, "new_page_ratio")
    inside, before = during("large_deletion_wave")
    assert mean(inside, "bytes_removed") > 20 * mean(before, "bytes_removed")


def test_schedule_spreads_labelled_anomalies_of_every_kind_after_the_warmup():
    anomalies = schedule(START, 7200, 8, seed=0)
    assert [a.kind for a in anomalies[:4]] == ["edit_burst", "bot_storm", "mass_page_creation", "large_deletion_wave"]
    assert anomalies[0].start >= START + 900
    assert all(b.start - a.end > 90 for a, b in zip(anomalies, anomalies[1:]))
    assert anomalies[-1].end <= START + 7200
