"""Run the detector causally over a NAB-layout folder, write results, and score them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tda import Detector, DetectorConfig

from .corpus import Series, load_corpus
from .results import write_results
from .scoring import PROFILES, ProfileResult, score_corpus, scorable_rows


def detect_series(series: Series, config: DetectorConfig, on_row=None) -> list[float]:
    """One fresh detector per file, fed row by row: the score of row t sees rows <= t only.

    NAB ranks one number per row: the gated score (see :class:`tda.detector.Detection`).
    """
    detector = Detector(config)
    scores = []
    for timestamp, value in zip(series.epoch_seconds(), series.numbers()):
        scores.append(detector.update(timestamp, value).gated_score)
        if on_row is not None:
            on_row()
    return scores


@dataclass
class Evaluation:
    results: list[ProfileResult]
    unlabelled: list[str]
    rows: int
    files: int


def evaluate(data_dir: Path, labels_file: Path, out_dir: Path, config: DetectorConfig, progress=None) -> Evaluation:
    """``progress(series_list)`` may return an object with ``file_done()`` / ``row_done()``."""
    corpus, unlabelled = load_corpus(data_dir, labels_file)
    tracker = progress(corpus) if progress else None
    scored = {}
    for series in corpus:
        scores = detect_series(series, config, on_row=tracker.row_done if tracker else None)
        write_results(out_dir, series, scores)
        scored[series.key] = scorable_rows(scores, series.windows)
        if tracker:
            tracker.file_done(series)
    if tracker:
        tracker.close()
    return Evaluation(score_corpus(scored, PROFILES), unlabelled, sum(len(s) for s in corpus), len(corpus))
