"""detect --split-by: one detector, checkpoint and set of rows per series; eviction and the cap."""
import json
import logging
import math
import random

import pytest
from django.core.management import call_command

from anomalies.models import AnomalyLog, DetectorCheckpoint, Series
from streams.features import WindowAggregator
from streams.pipeline import dedup_key, detector_config
from streams.series import series_name
from streams.sources.ndjson import FieldMapping
from tda import Detector

pytestmark = pytest.mark.django_db(transaction=True)

START = 1_704_067_200  # 2024-01-01T00:00:00Z
BUCKET = 60


def iso(moment):
    from streams.sources.event_time import iso as to_iso
    return to_iso(moment)


def metric_events(hosts, minutes, *, gaps=None, seed=3):
    """Events of ``hosts``, one every 20 s each; ``gaps[host] = (from, to)`` minutes without events."""
    rng = random.Random(seed)
    events = []
    for second in range(0, minutes * 60, 20):
        for number, host in enumerate(hosts):
            gap = (gaps or {}).get(host)
            if gap and gap[0] * 60 <= second < gap[1] * 60:
                continue
            value = 10 * (number + 1) + math.sin(second / 600) + rng.gauss(0, 0.3)
            events.append({"timestamp": iso(START + second), "value": round(value, 4), "key": host})
    return events


def write(tmp_path, events, name="metrics.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def detect(path, key, *extra):
    call_command("detect", "--source", "replay", "--file", str(path), "--source-key", key, "--bucket", str(BUCKET),
                 "--lateness", "0", "--status-interval", "0", "--checkpoint-seconds", "0", *extra)


def scores(key):
    """{dedup key without the stream key: (series, score)} of the rows of stream ``key``."""
    return {row.dedup_key[len(key):]: (row.series, row.anomaly_score)
            for row in AnomalyLog.objects.filter(dedup_key__startswith=key + "#")}


def alone(events, host):
    """{window start iso: score} of ``host``'s events through a detector of its own."""
    aggregator = WindowAggregator("generic", BUCKET, 0)
    detector = Detector(detector_config())
    mine = [event for event in events if event["key"] == host]
    mapping = FieldMapping("")
    windows = [w for event in mine for w in aggregator.add(mapping.apply(event))] + aggregator.flush()
    return {dedup_key("", w.start)[1:]: detector.update(w.end, w.vector).score for w in windows}


@pytest.fixture(autouse=True)
def journal_dir(tmp_path, settings):
    settings.TOPOFORGE_JOURNAL_DIR = tmp_path / "journal"


def test_a_split_stream_has_a_detector_checkpoint_and_rows_per_series(tmp_path):
    hosts = ["web-1", "web-2", "db-1"]
    events = metric_events(hosts, 90)
    detect(write(tmp_path, events), "m", "--split-by", "key")

    for host in hosts:
        rows = AnomalyLog.objects.filter(source_type="replay", series=host).order_by("timestamp")
        expected = alone(events, host)
        assert [row.dedup_key for row in rows] == [f"m#{host}:{start}" for start in expected]
        assert [row.anomaly_score for row in rows] == list(expected.values())  # its own detector
        assert DetectorCheckpoint.objects.get(source_key=f"m#{host}").state["windows"] == len(expected)
    assert not AnomalyLog.objects.filter(series="").exists()
    assert DetectorCheckpoint.objects.get(source_key="m").state["split_by"] == "key"


def test_without_split_by_the_stream_stays_one_series(tmp_path):
    detect(write(tmp_path, metric_events(["a", "b"], 20)), "one")
    assert set(AnomalyLog.objects.values_list("series", flat=True)) == {""}
    assert list(DetectorCheckpoint.objects.values_list("source_key", flat=True)) == ["one"]


def test_an_idle_series_is_evicted_and_restored_bit_for_bit(tmp_path):
    hosts = ["web-1", "web-2"]
    events = metric_events(hosts, 100, gaps={"web-2": (30, 60)})
    path = write(tmp_path, events)
    detect(path, "kept", "--split-by", "key")
    detect(path, "evicted", "--split-by", "key", "--series-idle", "300")

    kept, evicted = scores("kept"), scores("evicted")
    assert kept and evicted == kept  # every score the same to the last bit
    assert DetectorCheckpoint.objects.get(source_key="evicted#web-2").state["windows"] > 0


def test_the_cap_evicts_the_least_recently_seen_series_and_says_so(tmp_path, caplog):
    events = metric_events(["a", "b", "c"], 40)
    path = write(tmp_path, events)
    detect(path, "free", "--split-by", "key")
    with caplog.at_level(logging.WARNING, logger="streams.series"):
        detect(path, "capped", "--split-by", "key", "--max-series", "2")

    assert scores("capped") == scores("free")  # every event of a series evicts another: same scores
    reached = [r.getMessage() for r in caplog.records if "the cap (--max-series 2) is reached" in r.getMessage()]
    assert len(reached) == 1


def test_a_restart_resumes_every_series_from_its_checkpoint(tmp_path):
    events = metric_events(["a", "b"], 60)
    whole = write(tmp_path, events, "whole.jsonl")
    detect(whole, "once", "--split-by", "key")
    half = 30 * 3 * 2  # the first event of minute 30: the first run ends on a whole bucket
    part = write(tmp_path, events[:half], "part.jsonl")
    detect(part, "twice", "--split-by", "key", "--series-idle", "120")
    (tmp_path / "part.jsonl").write_text(whole.read_text())  # the file grew: resume after line `half`
    detect(part, "twice", "--split-by", "key", "--series-idle", "120")
    assert scores("twice") == scores("once")


def test_series_name_reads_the_field_or_the_raw_event():
    assert series_name({"key": "h1"}, "key") == "h1"
    assert series_name({"key": None, "raw": {"host": 7}}, "host") == "7"
    assert series_name({"value": 1}, "host") == ""


@pytest.mark.parametrize("args, message", [
    (["--series-idle", "60"], "need --split-by"),
    (["--split-by", "key", "--series-idle", "0"], "--series-idle must be"),
    (["--split-by", "key", "--max-series", "0"], "--max-series must be"),
])
def test_bad_series_options_are_refused(tmp_path, args, message):
    from django.core.management import CommandError
    with pytest.raises(CommandError, match=message):
        detect(write(tmp_path, metric_events(["a"], 2)), "bad", *args)


class ListSource:
    source_type, kind, live, last_event_id = "bench", "generic", False, ""

    def __init__(self, events):
        self.events = events

    def __iter__(self):
        for number, event in enumerate(self.events, start=1):
            self.last_event_id = str(number)
            yield event

    def stop(self):
        pass

    def describe(self):
        return {}


def test_the_status_line_counts_series_live_and_evicted(tmp_path):
    from streams.journal import Journal
    from streams.series import SeriesSet
    from streams.series_pipeline import SeriesPipeline
    from streams.store import DetectionStore

    events = [{"timestamp": START + second, "value": 1.0, "key": host}
              for second in range(0, 40 * 60, 20) for host in ("web-1", "web-2", "db-1")
              if host == "web-1" or second < 10 * 60]  # web-2 and db-1 go quiet after 10 minutes
    store = DetectionStore("status", Journal(tmp_path / "journal", "status"), owner="worker-7").start()
    series = SeriesSet("status", kind="generic", bucket_seconds=BUCKET, allowed_lateness=0, idle_seconds=300, fresh=True)
    pipeline = SeriesPipeline(ListSource(events), source_key="status", split_by="key", series=series, store=store)
    pipeline.run()
    store.close(final_checkpoint=pipeline.final_checkpoint())

    assert "| series 1 live, 2 evicted |" in pipeline.status_line(0, 1.0)
    assert set(Series.objects.values_list("series", "owner")) == {("web-1", "worker-7"), ("web-2", "worker-7"),
                                                                   ("db-1", "worker-7")}
