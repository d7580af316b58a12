"""Leave-one-category-out cross-validation of every choice made from NAB's labels.

NAB's own protocol tunes each profile's alarm threshold on the whole corpus and scores the same
corpus with it: an in-sample figure. Here every choice made from labelled data is made on three
categories and the fourth is scored with it:

- the alarm threshold of each profile (NAB's sweep, run on the training categories only);
- which of several *candidates* (detector configurations, or any other setting learnt from
  data) is used: the one whose best training threshold gives the highest training raw score.

The detector runs once per file and candidate (its scores do not depend on labels, and a causal
detector's score of a file does not depend on other files); every fold only re-selects from
those cached scores. Per category the held-out raw score is normalised with that category's own
null and perfect scores; pooled, the four held-out raw scores are summed and normalised with the
corpus's, as NAB normalises a corpus.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from .scoring import PROFILES, Profile, ScoredRows, normalised, raw_score_at, sweep

Candidates = dict[str, dict[str, ScoredRows]]  # candidate name -> NAB key -> scorable rows


def category_of(key: str) -> str:
    return str(PurePosixPath(key).parent)


def null_raw(rows: ScoredRows, profile: Profile) -> float:
    """The null detector's raw score (every score 0, threshold optimised like any detector's)."""
    zeros = ScoredRows(np.zeros_like(rows.scores), rows.values, rows.window_ids, rows.n_windows)
    return sweep(zeros, profile).best()[1]


@dataclass(frozen=True)
class Choice:
    candidate: str
    threshold: float
    training_raw: float


def choose(candidates: Candidates, keys: list[str], profile: Profile) -> Choice:
    """The candidate and threshold with the highest raw score on ``keys``, and nothing else.

    Ties go to the first candidate (in the order given) and, within it, to the highest threshold
    (NAB's rule)."""
    best = None
    for name, files in candidates.items():
        threshold, raw = sweep(ScoredRows.concatenate([files[key] for key in keys]), profile).best()
        if best is None or raw > best.training_raw:
            best = Choice(name, threshold, raw)
    return best


@dataclass(frozen=True)
class FoldResult:
    category: str
    profile: Profile
    choice: Choice
    raw: float
    null_raw: float
    perfect: float
    windows: int
    windows_detected: int
    false_positives: int

    @property
    def score(self) -> float | None:
        """Normalised score of the held-out category; None when it has no window to score."""
        return None if self.perfect == self.null_raw else normalised(self.raw, self.null_raw, self.perfect)


@dataclass(frozen=True)
class PooledResult:
    profile: Profile
    raw: float
    null_raw: float
    perfect: float

    @property
    def score(self) -> float:
        return normalised(self.raw, self.null_raw, self.perfect)


@dataclass
class CrossValidation:
    categories: list[str]
    folds: list[FoldResult]  # one per (held-out category, profile): choices made without it
    in_sample_folds: list[FoldResult]  # the same categories scored with the whole-corpus choices
    pooled: list[PooledResult]  # one per profile, held-out scores
    in_sample: list[PooledResult]  # one per profile, choices made on the whole corpus
    in_sample_choices: list[Choice]

    def fold(self, category: str, profile_name: str, in_sample: bool = False) -> FoldResult:
        folds = self.in_sample_folds if in_sample else self.folds
        return next(f for f in folds if f.category == category and f.profile.name == profile_name)


def _score_category(candidates: Candidates, keys: list[str], category: str, profile: Profile,
                    choice: Choice) -> FoldResult:
    rows = ScoredRows.concatenate([candidates[choice.candidate][key] for key in keys])
    counts = raw_score_at(rows, profile, choice.threshold)
    return FoldResult(
        category, profile, choice, counts["raw"], null_raw(rows, profile), rows.labelled * profile.tp,
        counts["windows"], counts["windows_detected"], counts["fp"],
    )


def cross_validate(candidates: Candidates, profiles=PROFILES, select=choose) -> CrossValidation:
    """Leave one category out; ``select(candidates, training_keys, profile)`` makes the choices
    (injectable so a test can watch what it is shown)."""
    if not candidates:
        raise ValueError("no candidates to cross-validate")
    keys = sorted(next(iter(candidates.values())))
    if any(sorted(files) != keys for files in candidates.values()):
        raise ValueError("every candidate must score the same files")
    categories = sorted({category_of(key) for key in keys})
    if len(categories) < 2:
        raise ValueError("leave-one-category-out needs at least two categories")
    members = {c: [key for key in keys if category_of(key) == c] for c in categories}
    folds, in_sample_folds, pooled, in_sample, in_sample_choices = [], [], [], [], []
    for profile in profiles:
        whole = select(candidates, keys, profile)
        in_sample_choices.append(whole)
        for held_out in categories:
            training = [key for key in keys if category_of(key) != held_out]
            choice = select(candidates, training, profile)
            folds.append(_score_category(candidates, members[held_out], held_out, profile, choice))
            in_sample_folds.append(_score_category(candidates, members[held_out], held_out, profile, whole))
        corpus = _score_category(candidates, keys, "all", profile, whole)
        own = [f for f in folds if f.profile == profile]
        pooled.append(PooledResult(profile, sum(f.raw for f in own), corpus.null_raw, corpus.perfect))
        in_sample.append(PooledResult(profile, corpus.raw, corpus.null_raw, corpus.perfect))
    return CrossValidation(categories, folds, in_sample_folds, pooled, in_sample, in_sample_choices)
