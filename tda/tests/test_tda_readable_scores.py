"""What a detection says: the row's rarity as its score, the gate's decision apart from it."""
import numpy as np

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

