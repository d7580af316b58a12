"""Vector streams: the newest vector against the recent past, recurring incidents, exact restore."""
import json

import numpy as np

from tda import Detector, DetectorConfig

ROWS = 900
FIRST_INCIDENT, EVERY, LASTS = 300, 60, 8


def feature_stream(seed=3):
    """Twelve noisy features; every EVERY rows one of them jumps by ten deviations for LASTS rows."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(ROWS, 12))
    incidents = list(range(FIRST_INCIDENT, ROWS - LASTS, EVERY))
    for number, start in enumerate(incidents):
        vectors[start : start + LASTS, number % 12] += 10.0
    return vectors, incidents


def config():
    return DetectorConfig(threshold=0.999)


def test_recurring_incidents_each_alarm_on_their_first_rows():
    vectors, incidents = feature_stream()
    detector = Detector(config())
    alarms = [i for i, v in enumerate(vectors) if detector.update(float(i), v).is_anomaly]
    for start in incidents:
        # Nine incidents in ten minutes of rows: a past that learned them would stop noticing.
        assert any(start <= i < start + 3 for i in alarms), (start, alarms)
    unexplained = [i for i in alarms if not any(start <= i < start + LASTS for start in incidents)]
    assert len(unexplained) <= 2, unexplained


def test_vector_score_ranks_only_the_newest_vector_and_reports_its_deviation():
    vectors, incidents = feature_stream()
    detector = Detector(config())
    detections = [detector.update(float(i), v) for i, v in enumerate(vectors)]
    first = detections[incidents[0]]
    assert first.summaries["max_robust_deviation"] > 6.0
    assert detections[incidents[0] - 1].summaries["max_robust_deviation"] < 5.0
    assert all(d.score is None and d.warming_up for d in detections[:64])


def test_restore_in_the_middle_of_an_incident_continues_identically():
    vectors, incidents = feature_stream()
    original = Detector(config())
    cut = incidents[2] + 3  # the incident's rows are being kept out of the past
    for i, v in enumerate(vectors[:cut]):
        original.update(float(i), v)
    assert original.censored > 0
    restored = Detector.from_state(json.loads(json.dumps(original.get_state())))
    later = list(enumerate(vectors[cut:], start=cut))
    assert [restored.update(float(i), v).to_dict() for i, v in later] == [
        original.update(float(i), v).to_dict() for i, v in later
    ]
