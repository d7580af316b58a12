"""The generator as a labelled benchmark: the pipeline finds the anomalies it injects."""
import json
from io import StringIO

import pytest
from django.core.management import call_command

from streams.evaluation import evaluate_stream


@pytest.mark.slow
def test_injected_anomalies_are_found_quickly_with_few_false_alarms():
    result = evaluate_stream(hours=1.0, anomalies=4, seed=1)
    found = {a.kind: d for a, d in zip(result.anomalies, result.detected)}
    assert result.windows == 360
    assert result.recall >= 0.75, found
    assert result.false_alarms_per_hour <= 2.0
    assert all(delay <= 30.0 for delay in result.delays()), found  # within three buckets


@pytest.mark.slow
def test_evaluate_stream_command_reports_recall_false_alarms_and_delay():
    out = StringIO()
    call_command("evaluate_stream", "--hours", "0.5", "--anomalies", "2", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report) >= {"recall", "false_alarms_per_hour", "delay_seconds", "anomalies", "windows"}
    assert report["windows"] == 180
    assert [a["kind"] for a in report["anomalies"]] == ["edit_burst", "bot_storm"]
    assert 0.0 <= report["recall"] <= 1.0
