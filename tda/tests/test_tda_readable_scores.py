"""What a detection says: the row's rarity as its score, the gate's decision apart from it."""
import numpy as np
import pytest

from tda import Detector, DetectorConfig


def run(values):
    detector = Detector(DetectorConfig())
    return [detector.update(60.0 * i, float(v)) for i, v in enumerate(values)]


def incident_series(seed=4):
    rng = np.random.default_rng(seed)
    t = np.arange(1400)
    x = 10 + np.sin(2 * np.pi * t / 40) + rng.normal(scale=0.15, size=len(t))
    x[1000:1012] += 5.0  # an incident of a dozen rows: one alarm, then the gate's quiet period
    return x


def test_warm_up_rows_have_no_score_and_scored_rows_a_rarity():
    detections = run(incident_series())
    warm = [d for d in detections if d.warming_up]
    assert warm and all(d.score is None and not d.is_anomaly and not d.suppressed for d in warm)
    assert all(0.0 <= d.score <= 1.0 for d in detections if not d.warming_up)


def test_suppressed_rows_keep_their_rarity_and_the_gate_keeps_its_damping_to_itself():
    config = DetectorConfig()
    detections = run(incident_series())
    suppressed = [d for d in detections if d.suppressed]
    assert suppressed, "the incident's later rows fall in the gate's quiet period"
    assert any(d.score >= config.threshold for d in suppressed)  # rare, yet not a new alarm
    assert not any(d.is_anomaly for d in suppressed)
    for d in detections:
        if d.warming_up:
            assert d.gated_score == 0.0
        elif d.suppressed:
            assert d.gated_score == d.score * config.quiet_damping
        else:
            assert d.gated_score == d.score
            assert d.is_anomaly == (d.score >= config.threshold)



def test_every_scored_row_explains_itself_and_an_alarm_names_its_rare_features():
    detections = run(incident_series())
    assert all(d.explanation == {} for d in detections if d.warming_up)
    scored = [d for d in detections if not d.warming_up and d.explanation]
    assert len(scored) > 0.9 * sum(not d.warming_up for d in detections)
    alarm = next(d for d in detections if d.is_anomaly)
    explanation = alarm.explanation
    assert explanation["tail_probability"] == 1.0 - alarm.score
    rare = explanation["rare_features"]
    assert rare and rare[0]["tail"] <= explanation["threshold_tail"]  # the feature that set the score
    assert rare[0]["feature"] in alarm.summaries and rare[0]["value"] == alarm.summaries[rare[0]["feature"]]
    assert explanation["diagram"]["betti"][:2] == [alarm.betti_h0, alarm.betti_h1]
    assert set(explanation["diagram"]["noise_band"]) == {"h0", "h1"}
    assert explanation["analogues"]["count"] == DetectorConfig().analogues
    assert explanation["range"]["past_min"] <= explanation["range"]["past_max"]
    assert "alarmed" in explanation["text"] and rare[0]["feature"] not in explanation["text"]  # in words


def test_the_range_rule_says_the_value_and_its_past_range():
    values = incident_series()
    values[1200] = 40.0  # far outside every past value
    detection = run(values[:1201])[-1]
    value_range = detection.explanation["range"]
    assert value_range["fired"] and value_range["value"] == 40.0
    assert value_range["past_max"] < 40.0 and "Range rule: value 40" in detection.explanation["text"]


def test_the_recent_range_rule_says_the_recent_range_it_left():
    values = incident_series()
    values[1200] = 40.0  # also far outside the last 500 values
    explanation = run(values[:1201])[-1].explanation
    recent = explanation["recent_range"]
    assert recent["fired"] and recent["rows"] == DetectorConfig().recent_range_rows
    assert recent["recent_min"] == min(values[700:1200]) and recent["recent_max"] == max(values[700:1200])
    assert recent["excess_share"] == pytest.approx((40.0 - recent["recent_max"]) / (recent["recent_max"] - recent["recent_min"]))
    assert "Recent range rule: the value lies outside the range of the last 500 values" in explanation["text"]
    calm = run(values[:1200])[-1].explanation
    assert not calm["recent_range"]["fired"] and "Recent range rule" not in calm["text"]


def test_an_explanation_read_later_says_what_it_said_when_its_row_was_scored():
    """The explanation is built when read, from facts captured with the row: reading it after
    the detector has moved on (and learnt from later rows) gives the same explanation."""
    values = incident_series()
    now, later = Detector(DetectorConfig()), Detector(DetectorConfig())
    read_at_once = [now.update(60.0 * i, float(v)).explanation for i, v in enumerate(values)]
    detections = [later.update(60.0 * i, float(v)) for i, v in enumerate(values)]
    assert [d.explanation for d in detections] == read_at_once
    assert detections[-1].to_dict()["explanation"] == read_at_once[-1]
