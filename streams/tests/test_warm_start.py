"""Warm-up shortened honestly: `detect --warm-start FILE` and the live generator's `--history` feed
recorded events through the detector, storing no row, so the live stream is scored sooner; every
row says how far its detector's warm-up has come (metadata.warm_up)."""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from anomalies.models import AnomalyLog
from realtime.tests.live import shared_database
from streams.pipeline import detector_config
from topoforge.tests.processes import REPO, child_env

pytestmark = pytest.mark.django_db(transaction=True)

START = 1_704_067_200  # 2024-01-01T00:00:00Z
BUCKET = 60
WARM_UP = detector_config().vector_warmup_rows()  # 159


def iso(moment):
    from streams.sources.event_time import iso as to_iso
    return to_iso(moment)


def metric_file(tmp_path, name, minutes, offset_minutes=0, seed=3):
    """One metric event every 20 s for ``minutes`` (3 per 60 s bucket), from START + offset."""
    rng = random.Random(seed)
    path = tmp_path / name
    with path.open("w") as out:
        for second in range(0, minutes * 60, 20):
            moment = START + offset_minutes * 60 + second
            out.write(json.dumps({"timestamp": iso(moment), "value": round(10 + math.sin(second / 600) + rng.gauss(0, 0.3), 4)}) + "\n")
    return path


@pytest.fixture(autouse=True)
def journal_dir(tmp_path, settings):
    settings.TOPOFORGE_JOURNAL_DIR = str(tmp_path / "journal")


def detect(path, key, *extra):
    call_command("detect", "--source", "replay", "--file", str(path), "--source-key", key, "--bucket", str(BUCKET),
                 "--lateness", "0", "--status-interval", "0", "--checkpoint-seconds", "0", *extra)


def rows(key):
    return list(AnomalyLog.objects.filter(metadata__source_key=key).order_by("timestamp"))


def test_without_a_warm_start_the_first_159_windows_are_warm_up_and_say_how_far_they_are(tmp_path):
    live = metric_file(tmp_path, "live.jsonl", minutes=200, offset_minutes=1000)
    detect(live, "cold")
    stored = rows("cold")
    assert [r.warming_up for r in stored[:WARM_UP + 1]] == [True] * WARM_UP + [False]
    assert stored[0].metadata["warm_up"] == {"windows": 1, "needed": WARM_UP}
    assert stored[WARM_UP - 1].metadata["warm_up"] == {"windows": WARM_UP, "needed": WARM_UP}
    assert stored[WARM_UP].anomaly_score is not None


def test_a_warm_start_file_is_fed_through_the_detector_and_stored_nowhere(tmp_path):
    recorded = metric_file(tmp_path, "recorded.jsonl", minutes=WARM_UP + 10, seed=4)
    live = metric_file(tmp_path, "live.jsonl", minutes=30, offset_minutes=1000)
    detect(live, "warm", "--warm-start", str(recorded))
    stored = rows("warm")
    assert len(stored) == 30  # the recorded file's windows are not rows
    assert all(iso(START + 1000 * 60) <= r.event_data["window"]["start"] for r in stored)
    assert not any(r.warming_up for r in stored)  # scored from the first live window
    assert stored[0].metadata["warm_up"] == {"windows": WARM_UP + 10 + 1, "needed": WARM_UP}


def test_a_short_warm_start_shortens_the_warm_up_by_its_windows(tmp_path):
    recorded = metric_file(tmp_path, "recorded.jsonl", minutes=100, seed=4)
    live = metric_file(tmp_path, "live.jsonl", minutes=100, offset_minutes=1000)
    detect(live, "part", "--warm-start", str(recorded))
    assert sum(r.warming_up for r in rows("part")) == WARM_UP - 100


def test_a_resumed_detector_is_not_warmed_again(tmp_path):
    recorded = metric_file(tmp_path, "recorded.jsonl", minutes=50, seed=4)
    first = metric_file(tmp_path, "first.jsonl", minutes=20, offset_minutes=1000)
    second = metric_file(tmp_path, "second.jsonl", minutes=40, offset_minutes=1000)  # the same, grown
    detect(first, "again", "--warm-start", str(recorded))
    assert rows("again")[-1].metadata["warm_up"]["windows"] == 70
    detect(second, "again", "--warm-start", str(recorded))  # resumes from the checkpoint, after event 60
    assert rows("again")[-1].metadata["warm_up"]["windows"] == 90


def test_warm_start_refuses_a_file_of_another_kind_and_split_streams(tmp_path):
    live = metric_file(tmp_path, "live.jsonl", minutes=5)
    wiki = REPO / "streams" / "sources" / "samples" / "wikimedia_recentchange_enwiki_2023-07-29.jsonl"
    with pytest.raises(CommandError, match="holds recentchange events"):
        detect(live, "kind", "--warm-start", str(wiki))
    with pytest.raises(CommandError, match="--warm-start: "):
        detect(live, "missing", "--warm-start", str(tmp_path / "nowhere.jsonl"))
    with pytest.raises(CommandError, match="do not combine with --split-by"):
        detect(live, "split", "--warm-start", str(live), "--split-by", "key")
    with pytest.raises(CommandError, match="--history is the live generator's"):
        detect(live, "history", "--history", "60")


@pytest.mark.slow
def test_the_live_generator_is_scored_from_its_first_window(tmp_path):
    """`detect --source generator` as `make run` starts it: its history warms the detector up."""
    bucket = 1.0
    with shared_database(tmp_path) as database_url:
        env = child_env(DATABASE_URL=database_url, TOPOFORGE_BUCKET_SECONDS=str(bucket),
                        TOPOFORGE_ALLOWED_LATENESS_SECONDS="0.5", TOPOFORGE_JOURNAL_DIR=str(tmp_path / "j"),
                        REDIS_URL=None, TOPOFORGE_GENERATOR_HISTORY=None)
        detector = subprocess.Popen(
            [sys.executable, "manage.py", "detect", "--source", "generator", "--status-interval", "0"],
            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while not AnomalyLog.objects.filter(source_type="generator").exists():
                assert detector.poll() is None, detector.stderr.read()
                assert time.monotonic() < deadline, "no row stored in 90 s"
                time.sleep(0.2)
        finally:
            os.killpg(detector.pid, signal.SIGTERM)
            _, stderr = detector.communicate(timeout=30)
        first = AnomalyLog.objects.filter(source_type="generator").order_by("timestamp").first()
        assert not first.warming_up and first.anomaly_score is not None
        assert first.metadata["warm_up"] == {"windows": WARM_UP + 1, "needed": WARM_UP}
    assert f"warm start: {WARM_UP} windows of {WARM_UP * bucket:g} s of generator history" in stderr
