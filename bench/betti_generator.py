"""Betti numbers over an hour of the generator with labelled anomalies (docs/DETECTION.md).

    python bench/betti_generator.py [--hours 1] [--seed 0] [--png docs/img/betti_generator.png]

Runs the stream evaluation's generator, features and detector (no database), prints per injected
anomaly β0 and β1 in the minute before it and while it is in the window, and, with matplotlib
installed, draws β0, β1 and the score over time with the anomalies shaded.
"""
import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.evaluation import EVALUATION_START  # noqa: E402
from streams.features import WindowAggregator  # noqa: E402
from streams.pipeline import detector_config  # noqa: E402
from streams.sources.generator import GeneratorSource, schedule  # noqa: E402
from tda import Detector  # noqa: E402

BUCKET = 10.0


def run(hours=1.0, anomalies=4, seed=0):
    """(detections, labelled anomalies) of ``hours`` of the generator."""
    config = detector_config(None)
    duration = hours * 3600.0
    labelled = schedule(EVALUATION_START, duration, anomalies, seed=seed,
                        warmup=(config.vector_warmup_rows() + 1) * BUCKET, anomaly_duration=90.0)
    source = GeneratorSource(start=EVALUATION_START, seed=seed, speed=0, duration=duration, anomalies=labelled)
    aggregator = WindowAggregator(source.kind, BUCKET, 5.0)
    detector = Detector(config)
    detections = [detector.update(w.end, w.vector) for event in source for w in aggregator.add(event)]
    return detections, labelled, config


def around(detections, anomaly, window_rows):
    """β of the rows of the minute before ``anomaly``, and of the rows whose window holds it."""
    before = [d for d in detections if anomaly.start - 60 <= d.timestamp < anomaly.start]
    during = [d for d in detections if anomaly.start <= d.timestamp < anomaly.end + window_rows * BUCKET]
    return before, during


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    detections, labelled, config = run(args.hours, seed=args.seed)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {len(detections)} windows of {BUCKET:.0f} s")
    for name in ("betti_h0", "betti_h1"):
        values = sorted({getattr(d, name) for d in detections if not d.warming_up})
        print(f"{name}: values {values}")
    for anomaly in labelled:
        before, during = around(detections, anomaly, config.window)
        print(f"{anomaly.kind:>20} at {anomaly.start - EVALUATION_START:6.0f} s: "
              f"β0 before {sorted({d.betti_h0 for d in before})} during {sorted({d.betti_h0 for d in during})}; "
              f"β1 before {sorted({d.betti_h1 for d in before})} during {sorted({d.betti_h1 for d in during})}")
    if args.png:
        draw(detections, labelled, args.png)
        print(f"wrote {args.png}")


def draw(detections, labelled, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [(d.timestamp - EVALUATION_START) / 60 for d in detections]
    fig, axes = plt.subplots(3, 1, figsize=(10, 6.5), sharex=True)
    series = [("β0 (components above the noise band)", "betti_h0", "#0891b2"),
              ("β1 (loops above the noise band)", "betti_h1", "#d97706")]
    for axis, (title, name, colour) in zip(axes, series):
        axis.step(minutes, [getattr(d, name) for d in detections], where="post", color=colour, lw=1.2)
        axis.set_ylabel(name.replace("betti_", "β").replace("h", ""))
        axis.set_title(title, fontsize=9, loc="left")
    scored = [(m, d.score) for m, d in zip(minutes, detections) if d.score is not None]
    axes[2].plot([m for m, _ in scored], [s for _, s in scored], color="#4f46e5", lw=1)
    axes[2].scatter([m for m, d in zip(minutes, detections) if d.is_anomaly],
                    [d.score for d in detections if d.is_anomaly], color="#dc2626", s=14, zorder=3)
    axes[2].set_ylabel("rarity")
    axes[2].set_title("anomaly_score (rarity; red: alarms; gap: warm-up)", fontsize=9, loc="left")
    axes[2].set_xlabel("minutes of generator stream")
    for axis in axes:
        for anomaly in labelled:
            axis.axvspan((anomaly.start - EVALUATION_START) / 60, (anomaly.end - EVALUATION_START) / 60,
                         color="#fecaca", alpha=0.6, lw=0)
    for anomaly in labelled:
        axes[0].annotate(anomaly.kind, ((anomaly.start - EVALUATION_START) / 60, axes[0].get_ylim()[1]),
                         fontsize=7, va="top")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
