"""NAB's scoring, re-implemented from its published rules (``nab/sweeper.py``, ``optimizer.py``,
``runner.normalize``).

Per row, NAB computes an *unweighted* value: inside a window, the scaled sigmoid of the row's
relative position (the earliest row of a window is worth the most); outside, a negative value that
is ~0 just after a window and -1 far from one (or before any). Rows of the probationary period are
dropped. For a threshold, every row with ``anomaly_score >= threshold`` is a detection: each window
adds its best detection (times ``tp / scaledSigmoid(-1)``) or ``-fn`` if it has none, and every
detection outside the windows adds its value times ``fp``. The threshold is the one that
maximises the sum over the corpus; the result is normalised so the null detector (never fires)
scores 0 and a perfect one 100.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 5000  # the cap is PROBATION_PERCENT of this: 750 rows
START_THRESHOLD = 1.1  # NAB's sweep starts above any valid score: nothing detected


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)


def scaled_sigmoid(y: float) -> float:
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probationary_length(rows: int) -> float:
    return min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * PROBATION_CAP_ROWS)


@dataclass
class ScoredRows:
    """The scorable rows of one or more files: score, unweighted value, window id (-1 outside).

    ``n_windows`` counts the windows that have scorable rows (an undetected one costs ``-fn``);
    ``n_labelled`` counts every window the label file lists, also one lying wholly in the
    probationary period: NAB's ``runner.normalize`` takes "perfect" as that count times ``tp``.
    """

    scores: np.ndarray
    values: np.ndarray
    window_ids: np.ndarray
    n_windows: int
    n_labelled: int | None = None  # None: the same as n_windows

    @property
    def labelled(self) -> int:
        return self.n_windows if self.n_labelled is None else self.n_labelled

    @classmethod
    def concatenate(cls, parts: list["ScoredRows"]) -> "ScoredRows":
        offset, ids = 0, []
        for part in parts:
            ids.append(np.where(part.window_ids >= 0, part.window_ids + offset, -1))
            offset += part.n_windows
        return cls(
            scores=np.concatenate([p.scores for p in parts]) if parts else np.zeros(0),
            values=np.concatenate([p.values for p in parts]) if parts else np.zeros(0),
            window_ids=np.concatenate(ids) if ids else np.zeros(0, dtype=int),
            n_windows=offset,
            n_labelled=sum(p.labelled for p in parts),
        )


def scorable_rows(anomaly_scores, windows: list[tuple[int, int]]) -> ScoredRows:
    """NAB's ``calcSweepScore``: the unweighted value of every row past the probationary period."""
    anomaly_scores = np.asarray(anomaly_scores, dtype=float)
    n = len(anomaly_scores)
    values = np.empty(n)
    window_ids = np.full(n, -1)
    pending = sorted(windows)
    current = None  # (window id, left, right)
    prev_right = prev_width = None
    next_id = 0
    for i in range(n):
        # As NAB's calcSweepScore: the next window is entered at its first row even from inside
        # another (overlapping windows): the new one takes over, and the old one's right edge is
        # forgotten. Waiting for the current window to end instead lost the next window and,
        # since it stays first in the queue, every later window of the file.
        if pending and i == pending[0][0]:
            left, right = pending.pop(0)
            current = (next_id, left, right)
            next_id += 1
        if current is not None:
            window_id, left, right = current
            width = float(right - left + 1)
            values[i] = scaled_sigmoid(-(right - i + 1) / width) / MAX_TP
            window_ids[i] = window_id
            if i == right:
                prev_right, prev_width = right, width
                current = None
        elif prev_right is None:
            values[i] = -1.0
        else:
            values[i] = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1.0))
    keep = np.arange(n) >= probationary_length(n)
    kept_ids = window_ids[keep]
    # Windows are numbered by what survives the probationary period (NAB drops the rest).
    surviving = np.unique(kept_ids[kept_ids >= 0])
    remap = {int(old): new for new, old in enumerate(surviving)}
    kept_ids = np.array([remap.get(int(w), -1) for w in kept_ids], dtype=int)
    return ScoredRows(anomaly_scores[keep], values[keep], kept_ids, len(surviving), n_labelled=len(windows))


@dataclass(frozen=True)
class Sweep:
    thresholds: np.ndarray  # descending, START_THRESHOLD first
    raw: np.ndarray  # raw score at each threshold

    def best(self) -> tuple[float, float]:
        """(threshold, raw score) of the maximum; ties go to the highest threshold, as in NAB."""
        i = int(np.argmax(self.raw))
        return float(self.thresholds[i]), float(self.raw[i])


def sweep(rows: ScoredRows, profile: Profile) -> Sweep:
    """Raw score at every distinct threshold (NAB's ``calcScoreByThreshold``)."""
    order = np.argsort(-rows.scores, kind="stable")
    scores = rows.scores[order]
    values = rows.values[order]
    ids = rows.window_ids[order]
    gains = np.where(ids < 0, values * profile.fp, 0.0)
    tp_values = values * profile.tp
    for window in range(rows.n_windows):
        where = np.nonzero(ids == window)[0]
        best = np.maximum.accumulate(tp_values[where])
        previous = np.concatenate([[-profile.fn], best[:-1]])
        gains[where] = best - previous
    base = -profile.fn * rows.n_windows
    totals = base + np.cumsum(gains)
    last_of_tie = np.nonzero(np.append(scores[1:] != scores[:-1], True))[0] if len(scores) else np.zeros(0, int)
    thresholds = np.concatenate([[START_THRESHOLD], scores[last_of_tie]])
    raw = np.concatenate([[base], totals[last_of_tie]])
    return Sweep(thresholds, raw)


def raw_score_at(rows: ScoredRows, profile: Profile, threshold: float) -> dict:
    """Raw score and counts of one file (or corpus) at a fixed threshold."""
    detected = rows.scores >= threshold
    inside = rows.window_ids >= 0
    fp_rows = detected & ~inside
    total = float((rows.values[fp_rows] * profile.fp).sum())
    windows_detected = 0
    for window in range(rows.n_windows):
        hits = detected & (rows.window_ids == window)
        if hits.any():
            windows_detected += 1
            total += float(rows.values[hits].max() * profile.tp)
        else:
            total -= profile.fn
    return {
        "raw": total,
        "tp": int((detected & inside).sum()),
        "fp": int(fp_rows.sum()),
        "fn": int((~detected & inside).sum()),
        "tn": int((~detected & ~inside).sum()),
        "windows": rows.n_windows,
        "windows_detected": windows_detected,
    }


def normalised(raw: float, null_raw: float, perfect: float) -> float:
    if perfect == null_raw:
        return 0.0
    return 100.0 * (raw - null_raw) / (perfect - null_raw)


@dataclass(frozen=True)
class ProfileResult:
    profile: Profile
    threshold: float
    raw: float
    null_raw: float
    perfect: float
    score: float
    per_file: dict


def score_corpus(files: dict[str, ScoredRows], profiles=PROFILES) -> list[ProfileResult]:
    """Optimise the threshold over the corpus for each profile, then score and normalise."""
    corpus = ScoredRows.concatenate(list(files.values()))
    null_rows = ScoredRows(np.zeros_like(corpus.scores), corpus.values, corpus.window_ids, corpus.n_windows)
    # NAB: perfect = (windows in the label file) * tp, also those wholly inside a probationary
    # period, which no detector can score and which the null detector is never charged for.
    results = []
    for profile in profiles:
        threshold, raw = sweep(corpus, profile).best()
        null_raw = sweep(null_rows, profile).best()[1]
        perfect = corpus.labelled * profile.tp
        per_file = {key: raw_score_at(rows, profile, threshold) for key, rows in files.items()}
        results.append(
            ProfileResult(profile, threshold, raw, null_raw, perfect, normalised(raw, null_raw, perfect), per_file)
        )
    return results
