"""The stream benchmark on the recorded Wikimedia background (streams/real_background.py)."""
import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from streams.real_background import (
    BURST_SHARE, BURST_WIKI, EVALUATION_START, INCIDENT_KINDS, Incident, RecordedBackground, evaluate_kind,
    recordings, schedule_incidents, score_flags,
)

HOUR = 3600.0


def replay(incidents=(), duration=HOUR, seed=0):
    return list(RecordedBackground(start=EVALUATION_START, duration=duration, incidents=incidents, seed=seed))


def during(pairs, start, end):
    return [event for moment, event in pairs if start <= moment < end]


def recorded_key(event):
    return (event.get("type"), event.get("title"), event.get("user"), event.get("wiki"), event.get("namespace"))


def test_the_background_is_the_recorded_events_with_only_their_time_moved():
    recorded = Counter(recorded_key(e) for block in recordings() for _, e in block)
    pairs = replay(duration=600)
    assert pairs and all(event is not None for _, event in pairs)
    assert {recorded_key(event) for _, event in pairs} <= set(recorded)
    rate = len(pairs) / 600
    assert 15 <= rate <= 24  # between the two recordings' rates (118 / 8 s and 218 / 9 s)
    for moment, event in pairs:
        assert event["timestamp"] == int(moment) and event["meta"]["dt"].startswith("2024-01-01T")
    assert len({event["meta"]["id"] for _, event in pairs}) == len(pairs)
    assert replay(duration=600) == pairs  # deterministic for a seed
    assert replay(duration=600, seed=1) != pairs


def test_each_incident_kind_changes_what_it_says_and_only_inside_the_incident():
    start, end = EVALUATION_START + 1200, EVALUATION_START + 1800
    calm = replay()
    calm_inside = during(calm, start, end)

    outage = replay([Incident("outage", start, 600)])
    assert during(outage, start, end) == [None] * len(calm_inside)  # heartbeats only
    before = [(recorded_key(e), e["timestamp"]) for e in during(calm, 0, start)]
    assert [(recorded_key(e), e["timestamp"]) for e in during(outage, 0, start)] == before

    ramp = replay([Incident("slow_ramp", start, 600)])
    first, last = during(ramp, start, start + 60), during(ramp, end - 60, end)
    assert len(first) == pytest.approx(len(during(calm, start, start + 60)), rel=0.15)
    assert len(last) == pytest.approx(3 * len(during(calm, end - 60, end)), rel=0.15)

    mix = during(replay([Incident("wiki_mix_shift", start, 600)]), start, end)
    assert len(mix) == len(calm_inside)
    moved = sum(a["wiki"] != b["wiki"] for a, b in zip(mix, calm_inside))
    assert 0.35 * len(mix) < moved < 0.55 * len(mix)

    namespace = during(replay([Incident("namespace_shift", start, 600)]), start, end)
    assert len(namespace) == len(calm_inside) and {e["namespace"] for e in namespace} == {0}

    burst = during(replay([Incident("hidden_wiki_burst", start, 600)]), start, end)
    assert len(burst) == len(calm_inside)  # total volume unchanged
    share = sum(e["wiki"] == BURST_WIKI for e in burst) / len(burst)
    calm_share = sum(e["wiki"] == BURST_WIKI for e in calm_inside) / len(calm_inside)
    assert share == pytest.approx(BURST_SHARE + calm_share * (1 - BURST_SHARE), abs=0.04)


def test_incidents_are_scheduled_after_the_warm_up_one_per_slot():
    incidents = schedule_incidents("slow_ramp", EVALUATION_START, 8 * HOUR, 4, warmup=1600, seed=0)
    assert len(incidents) == 4 and all(i.duration == HOUR for i in incidents)
    assert incidents[0].start > EVALUATION_START + 1600
    assert all(a.end < b.start for a, b in zip(incidents, incidents[1:]))
    assert incidents[-1].end <= EVALUATION_START + 8 * HOUR
    with pytest.raises(ValueError, match="too many slow_ramp"):
        schedule_incidents("slow_ramp", EVALUATION_START, 4 * HOUR, 4, warmup=1600)


def test_a_detection_must_overlap_the_incident_and_its_aftermath_is_not_a_false_alarm():
    incident = Incident("outage", 1000.0, 180.0)
    # Flagged only when the feed came back (after the end): no detection, not a false alarm.
    assert score_flags([(1180.0, 1190.0)], [incident], tolerance=25.0) == ([None], 0)
    assert score_flags([(1010.0, 1020.0), (1020.0, 1030.0)], [incident], 25.0) == ([20.0], 0)
    # Two runs of flagged windows far from it: two false alarms.
    assert score_flags([(10.0, 20.0), (20.0, 30.0), (500.0, 510.0)], [incident], 25.0) == ([None], 2)


@pytest.mark.slow
def test_outages_on_the_recorded_background_are_found_within_a_bucket_or_two():
    result = evaluate_kind("outage", hours=3.0, incidents=2, seed=0)
    assert result.events > 150_000
    assert result.recall == 1.0, result.to_dict()["incidents"]
    assert all(delay <= 20.0 for delay in result.detected)
    assert result.false_alarms_per_hour <= 1.0


@pytest.mark.slow
def test_evaluate_stream_recorded_background_command():
    out = StringIO()
    call_command("evaluate_stream", "--background", "recorded", "--kinds", "namespace_shift",
                 "--hours", "1.5", "--incidents", "1", "--json", stdout=out)
    (report,) = json.loads(out.getvalue())
    assert report["kind"] == "namespace_shift" and len(report["incidents"]) == 1
    assert set(report) >= {"recall", "false_alarms_per_hour", "delay_seconds", "incidents"}
    text = StringIO()
    call_command("evaluate_stream", "--background", "recorded", "--kinds", "outage", "--hours", "1",
                 "--incidents", "1", stdout=text)
    assert "outage" in text.getvalue() and "false alarms/h" in text.getvalue()
    with pytest.raises(CommandError, match="--kinds: unknown kind"):
        call_command("evaluate_stream", "--background", "recorded", "--kinds", "meteor")
    assert set(INCIDENT_KINDS) == {"outage", "slow_ramp", "wiki_mix_shift", "namespace_shift", "hidden_wiki_burst"}
