"""Run the detector causally over a NAB-layout folder, write results, and score them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tda import Detector, DetectorConfig

from .cache import ScoreCache
from .corpus import Series, load_corpus
from .crossval import Candidates, CrossValidation, cross_validate
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


@dataclass
class CrossValidatedEvaluation:
    cross_validation: CrossValidation
    unlabelled: list[str]
    rows: int
    files: int
    detector_runs: int  # files scored by the detector (the others came from the cache)


def evaluate_cross_validated(
    data_dir: Path, labels_file: Path, out_dir: Path, candidates: dict[str, DetectorConfig],
    progress=None, cache_dir: Path | None = None,
) -> CrossValidatedEvaluation:
    """Score every file once per candidate (or read it from ``cache_dir``), then cross-validate
    the choices over the cached scores. The first candidate's results are written to ``out_dir``
    in NAB's format, as ``evaluate`` writes them."""
    corpus, unlabelled = load_corpus(data_dir, labels_file)
    cache = ScoreCache(cache_dir)
    tracker = progress(corpus, len(candidates)) if progress else None
    scored: Candidates = {}
    runs = 0
    for number, (name, config) in enumerate(candidates.items()):
        scored[name] = {}
        for series in corpus:
            scores = cache.get(series, config)
            if scores is None:
                scores = detect_series(series, config, on_row=tracker.row_done if tracker else None)
                cache.put(series, config, scores)
                runs += 1
            elif tracker:
                tracker.rows_skipped(len(series))
            if number == 0:
                write_results(out_dir, series, scores)
            scored[name][series.key] = scorable_rows(scores, series.windows)
            if tracker:
                tracker.file_done(series)
    if tracker:
        tracker.close()
    return CrossValidatedEvaluation(
        cross_validate(scored, PROFILES), unlabelled, sum(len(s) for s in corpus), len(corpus), runs,
    )
