"""Results files in NAB's format, readable by NAB's own scorer.

``<out>/<detector>/<category>/<detector>_<name>.csv`` with ``timestamp,value,anomaly_score,label``,
one row per data row in order. Scores are written with ``repr`` so the ranking the threshold sweep
sees is exactly the detector's (a rounded score would merge distinct thresholds).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .corpus import Series

DETECTOR_NAME = "topoforge"


def results_path(out_dir: Path, series: Series, detector: str = DETECTOR_NAME) -> Path:
    if "_" in detector:
        raise ValueError("NAB splits result file names at '_': the detector name must not contain one")
    return Path(out_dir) / detector / series.category / f"{detector}_{series.name}.csv"


def window_labels(series: Series) -> np.ndarray:
    labels = np.zeros(len(series), dtype=int)
    for left, right in series.windows:
        labels[left : right + 1] = 1
    return labels


def write_results(out_dir: Path, series: Series, scores, detector: str = DETECTOR_NAME) -> Path:
    if len(scores) != len(series):
        raise ValueError(f"{series.key}: {len(scores)} scores for {len(series)} rows")
    path = results_path(out_dir, series, detector)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = window_labels(series)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for timestamp, value, score, label in zip(series.timestamps, series.values, scores, labels):
            writer.writerow([timestamp, value, repr(float(score)), int(label)])
    return path


def read_scores(path: Path) -> np.ndarray:
    with Path(path).open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        column = header.index("anomaly_score")
        return np.asarray([float(row[column]) for row in reader if row], dtype=float)
