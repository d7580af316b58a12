"""The Detector API other parts of TopoForge build on (docs: notes/INTERFACES.md)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tda import Detection, Detector, DetectorConfig
from tda.severity import SEVERITIES

TDA_DIR = Path(__file__).resolve().parents[1] / "tda"


def sine_with_noise(n, seed=0, period=40):
    rng = np.random.default_rng(seed)
    return np.sin(np.arange(n) * 2 * np.pi / period) + rng.normal(scale=0.1, size=n)


def test_scalar_stream_yields_json_serialisable_detections():
    detector = Detector(DetectorConfig())
    detections = [detector.update(1_700_000_000.0 + 60 * i, v) for i, v in enumerate(sine_with_noise(400))]

    last = detections[-1]
    assert isinstance(last, Detection)
    assert not last.warming_up and detections[0].warming_up
    assert 0.0 <= last.score <= 1.0
    assert last.severity in SEVERITIES
    assert last.timestamp == 1_700_000_000.0 + 60 * 399
    assert last.betti_h0 >= 1
    assert set(last.diagram) == {"h0", "h1", "h2"}
    assert all(len(pair) == 2 and np.isfinite(pair).all() for pair in last.diagram["h0"])
    assert {"h0_total_persistence", "h1_entropy", "h1_landscape_l2"} <= set(last.summaries)
    payload = json.loads(json.dumps(last.to_dict()))
    assert payload["score"] == last.score and payload["betti_h1"] == last.betti_h1


def test_warming_up_detections_have_no_score_and_never_alarm():
    detector = Detector(DetectorConfig())
    for i in range(20):
        detection = detector.update(float(i), 1.0 if i % 2 else 100.0)
        assert detection.warming_up and detection.score is None and not detection.is_anomaly
        assert detection.gated_score == 0.0 and not detection.suppressed


def test_vector_stream_uses_the_cloud_of_recent_vectors():
    rng = np.random.default_rng(3)
    detector = Detector(DetectorConfig(window=32))
    angles = np.arange(300) * 2 * np.pi / 32
    for i, a in enumerate(angles):
        detection = detector.update(float(i), [np.cos(a), np.sin(a), 0.01 * rng.normal()])
    # The last 32 vectors trace one full turn of a circle: one component, one loop.
    assert (detection.betti_h0, detection.betti_h1) == (1, 1)
    assert len(detection.diagram["h1"]) >= 1


def test_vector_length_must_not_change():
    detector = Detector()
    detector.update(0.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="this stream has 2"):
        detector.update(1.0, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, float("nan")], [], "abc"])
def test_non_finite_or_malformed_values_are_rejected(value):
    with pytest.raises(ValueError):
        Detector().update(0.0, value)


def test_config_round_trips_and_rejects_unknown_or_invalid_settings():
    config = DetectorConfig(window=48, maxdim=2, threshold=0.99)
    assert DetectorConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown detector setting"):
        DetectorConfig.from_dict({"windw": 3})
    with pytest.raises(ValueError, match="maxdim"):
        DetectorConfig(maxdim=3)
    with pytest.raises(ValueError, match="threshold"):
        DetectorConfig(threshold=1.5)
    with pytest.raises(ValueError, match="daily_phase_radius"):
        DetectorConfig(daily_phase_radius=-1.0)
    with pytest.raises(ValueError, match="analogues"):
        DetectorConfig(analogues=-1)


def test_state_is_json_and_restored_detector_continues_identically():
    series = sine_with_noise(700, seed=5)
    series[600] += 4.0
    original = Detector()
    for i, v in enumerate(series[:350]):
        original.update(float(i), v)
    restored = Detector.from_state(json.loads(json.dumps(original.get_state())))

    tail_original = [original.update(float(i), v).to_dict() for i, v in enumerate(series[350:], 350)]
    tail_restored = [restored.update(float(i), v).to_dict() for i, v in enumerate(series[350:], 350)]
    assert tail_restored == tail_original
    assert max(d["score"] for d in tail_original) > 0.99


def test_same_input_gives_same_output():
    series = sine_with_noise(500, seed=9)
    runs = [[Detector().update(float(i), v).to_dict() for i, v in enumerate(series)] for _ in range(2)]
    assert runs[0] == runs[1]


def test_engine_sources_import_nothing_from_django():
    for path in TDA_DIR.glob("*.py"):
        source = path.read_text()
        assert "import django" not in source and "from django" not in source, path.name


def test_engine_imports_without_django_installed():
    # A fresh interpreter in which importing django fails: the engine must not need it.
    code = (
        "import sys; sys.modules['django'] = None\n"
        "from tda import Detector\n"
        "d = Detector()\n"
        "[d.update(float(i), float(i % 7)) for i in range(200)]\n"
        "assert not any(m == 'django' or m.startswith('django.') for m, v in sys.modules.items() if v)\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
