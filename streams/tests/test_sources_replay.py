"""Replaying recorded files: JSON lines or NAB CSV, fast, sped up or resumed."""
import time

import pytest

from streams.sources.base import GENERIC, RECENTCHANGE
from streams.sources.generator import ENWIKI_EDITS_SAMPLE, SAMPLES_DIR
from streams.sources.replay import ReplaySource

SAMPLE = SAMPLES_DIR / ENWIKI_EDITS_SAMPLE


def test_jsonl_of_recentchange_events_is_replayed_in_file_order(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:20]
    path.write_text("\n".join(lines[:10] + ["{not json", ""] + lines[10:]) + "\n", encoding="utf-8")
    source = ReplaySource(path)
    events = list(source)
    assert source.kind == RECENTCHANGE
    assert len(events) == 20 and source.stats["malformed"] == 1
    assert source.last_event_id == "22"  # lines consumed, blank and malformed included


def test_resume_continues_after_the_saved_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:20]) + "\n")
    first = list(ReplaySource(path))
    rest = list(ReplaySource(path, resume_from="12"))
    assert rest == first[12:]


def test_nab_csv_is_read_as_generic_metric_events(tmp_path):
    path = tmp_path / "Twitter_volume_X.csv"
    path.write_text("timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26 21:47:53,oops\n2015-02-26 21:52:53,100\n")
    source = ReplaySource(path)
    events = list(source)
    assert source.kind == GENERIC
    assert [e["value"] for e in events] == [104.0, 100.0]
    assert events[0]["timestamp"] == "2015-02-26 21:42:53"
    assert source.stats["malformed"] == 1


def test_a_csv_without_nab_columns_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("when,count\n1,2\n")
    with pytest.raises(ValueError, match="timestamp,value"):
        list(ReplaySource(path))


def test_speed_paces_events_by_their_timestamps(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"timestamp": {1_700_000_000 + 10 * i}, "value": {i}}}\n' for i in range(4)))
    started = time.monotonic()
    events = list(ReplaySource(path, speed=30))  # 30 s of recording in 1 s
    elapsed = time.monotonic() - started
    assert len(events) == 4
    assert 0.9 <= elapsed < 2.0
    started = time.monotonic()
    list(ReplaySource(path, speed=0))
    assert time.monotonic() - started < 0.5
