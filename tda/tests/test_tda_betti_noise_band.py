"""Betti numbers above the stream's own noise band vary with the data (issue #17)."""
import sys
from pathlib import Path

import numpy as np

from tda import Detector, DetectorConfig
from tda.betti import NoiseBand, betti_curve_summary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import betti_generator  # noqa: E402


def noisy_circle(rng, n=32, noise=0.05):
    angles = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([np.cos(angles), np.sin(angles)]) + rng.normal(scale=noise, size=(n, 2))


def test_a_loop_above_noise_counts_and_noise_loops_do_not():
    from tda.persistence import h0_diagram, higher_diagrams

    rng = np.random.default_rng(0)
    band = NoiseBand(maxdim=1)
    for _ in range(50):  # the past: blobs, whose loops are all noise
        blob = rng.normal(scale=0.3, size=(32, 2))
        diagrams = [h0_diagram(blob)] + higher_diagrams(blob, 1)
        band.learn(0, diagrams[0])
        band.learn(1, diagrams[1])
    circle = noisy_circle(rng)
    betti, bands = band.betti([h0_diagram(circle)] + higher_diagrams(circle, 1))
    assert betti[1] == 1 and bands[1] > 0


def test_band_state_survives_a_restart():
    rng = np.random.default_rng(1)
    detector = Detector(DetectorConfig())
    values = 10 + np.sin(np.arange(400) / 5) + rng.normal(scale=0.1, size=400)
    for i, v in enumerate(values[:300]):
        detector.update(60.0 * i, float(v))
    restored = Detector.from_state(detector.get_state())
    for i, v in enumerate(values[300:], start=300):
        a, b = detector.update(60.0 * i, float(v)), restored.update(60.0 * i, float(v))
        assert (a.betti_h0, a.betti_h1) == (b.betti_h0, b.betti_h1)


def test_betti_curve_summary_of_three_nested_features():
    summary = betti_curve_summary([[0.0, 2.0], [0.5, 1.0], [0.6, 0.9]], "h1")
    # three alive at 0.6; at least two (half the peak, rounded up) on [0.5, 1.0): a quarter of [0, 2]
    assert summary == {"h1_curve_peak": 3.0, "h1_curve_peak_scale": 0.6, "h1_curve_breadth": 0.25}


def test_betti_curve_summary_counts_as_its_definition_does_with_ties_and_empty_pairs():
    rng = np.random.default_rng(7)
    for _ in range(300):
        births = rng.integers(0, 4, 12) * 0.5
        pairs = np.c_[births, births + rng.integers(0, 3, 12) * 0.5]  # ties and zero lifetimes
        scales = np.sort(pairs.ravel())
        alive = [int(np.sum((pairs[:, 0] <= s) & (pairs[:, 1] > s))) for s in scales]
        summary = betti_curve_summary(pairs, "h0")
        assert summary["h0_curve_peak"] == max(alive)
        assert summary["h0_curve_peak_scale"] == scales[int(np.argmax(alive))]


def test_beta0_and_beta1_change_on_every_injected_incident_of_an_hour_of_the_generator():
    detections, labelled, config = betti_generator.run(hours=1.0)
    scored = [d for d in detections if not d.warming_up]
    assert len({d.betti_h0 for d in scored}) >= 3 and len({d.betti_h1 for d in scored}) >= 3
    for anomaly in labelled:
        before, during = betti_generator.around(detections, anomaly, config.window)
        last = before[-1]
        assert {d.betti_h0 for d in during} != {last.betti_h0}, anomaly.kind
        assert {d.betti_h1 for d in during} != {last.betti_h1}, anomaly.kind
