"""Our NAB scorer on fixtures small enough to score by hand (rules: shared/nab/SCORING.md).

Every fixture is a 20-row file: the probationary period is min(floor(0.15 * 20), 750) = 3 rows
(rows 0-2 are never scored), and one window covers rows 10..14 (width 5).

    scaledSigmoid(y) = 2 / (1 + exp(5y)) - 1
    MAX_TP = scaledSigmoid(-1) = 2 / (1 + e^-5) - 1 = 0.98661429815
"""
import math

import numpy as np
import pytest

from tda.nab.scoring import (
    PROFILES,
    ScoredRows,
    probationary_length,
    raw_score_at,
    scaled_sigmoid,
    score_corpus,
    scorable_rows,
    sweep,
)

STANDARD, LOW_FP, LOW_FN = PROFILES
WINDOW = [(10, 14)]


def scores_with_detections(*rows, n=20):
    scores = np.zeros(n)
    scores[list(rows)] = 1.0
    return scores


def raw(scores, profile=STANDARD, windows=WINDOW, threshold=0.5):
    return raw_score_at(scorable_rows(scores, windows), profile, threshold)["raw"]


def test_probationary_length_is_15_percent_capped_at_750_rows():
    assert probationary_length(20) == 3  # floor(3.0)
    assert probationary_length(1624) == 243  # floor(243.6)
    assert probationary_length(22695) == 750  # 0.15 * 5000


def test_scaled_sigmoid_matches_nab():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661429815)  # 2/(1+e^-5) - 1
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0  # beyond 3: a plain false positive


def test_detection_at_the_left_edge_earns_the_full_tp_weight():
    # row 10: y = -(14 - 10 + 1) / 5 = -1 -> scaledSigmoid(-1) / MAX_TP * tpWeight = 1.0
    assert raw(scores_with_detections(10)) == pytest.approx(1.0)


def test_late_detection_earns_less():
    # row 14: y = -(14 - 14 + 1) / 5 = -0.2 -> (2/(1+e^-1) - 1) / MAX_TP
    #       = 0.46211715726 / 0.98661429815 = 0.46838684390
    assert raw(scores_with_detections(14)) == pytest.approx(0.46838684390)


def test_only_the_earliest_detection_in_a_window_counts():
    # rows 12 and 14: the best is row 12, y = -(14 - 12 + 1)/5 = -0.6 ->
    # (2/(1+e^-3) - 1) / MAX_TP = 0.90514825364 / 0.98661429815 = 0.91742868043; no FP added.
    assert raw(scores_with_detections(12, 14)) == pytest.approx(0.91742868043)


def test_false_positive_before_any_window_costs_the_fp_weight_and_the_missed_window():
    # row 5: no window before it -> -1 * fpWeight; the window is missed -> -fnWeight.
    assert raw(scores_with_detections(5)) == pytest.approx(-0.11 - 1.0)  # standard: -1.11
    assert raw(scores_with_detections(5), LOW_FP) == pytest.approx(-0.22 - 1.0)  # -1.22
    assert raw(scores_with_detections(5), LOW_FN) == pytest.approx(-0.11 - 2.0)  # -2.11


def test_false_positive_just_after_a_window_costs_less():
    # rows 10 (TP, +1.0) and 17: |14 - 17| / (5 - 1) = 0.75 ->
    # scaledSigmoid(0.75) = 2/(1+e^3.75) - 1 = -0.95404526018; times 0.11 = -0.10494497862
    assert raw(scores_with_detections(10, 17)) == pytest.approx(1.0 - 0.10494497862)


def test_every_false_positive_row_is_counted():
    # rows 5, 6, 7: three FPs before any window, -0.11 each, plus the missed window.
    assert raw(scores_with_detections(5, 6, 7)) == pytest.approx(-3 * 0.11 - 1.0)  # -1.33


def test_missed_window_costs_the_fn_weight():
    assert raw(np.zeros(20)) == pytest.approx(-1.0)
    assert raw(np.zeros(20), LOW_FN) == pytest.approx(-2.0)


def test_detections_in_the_probationary_period_are_ignored():
    # row 1 is in the probationary period (rows 0-2): no FP, only the missed window.
    assert raw(scores_with_detections(1)) == pytest.approx(-1.0)


def test_counts_at_a_threshold():
    counts = raw_score_at(scorable_rows(scores_with_detections(5, 10, 11), WINDOW), STANDARD, 0.5)
    # 17 scorable rows (3..19): 5 inside the window, 12 outside.
    assert counts == {
        "raw": pytest.approx(1.0 - 0.11),
        "tp": 2, "fp": 1, "fn": 3, "tn": 11, "windows": 1, "windows_detected": 1,
    }


def test_threshold_sweep_picks_the_corpus_optimum():
    # File A: window rows 10..14; row 10 scores 0.8, row 5 (an FP before it) 0.9.
    # File B: no window; row 8 scores 0.7 (an FP).
    a = np.zeros(20)
    a[10], a[5] = 0.8, 0.9
    b = np.zeros(20)
    b[8] = 0.7
    files = {"a.csv": scorable_rows(a, WINDOW), "b.csv": scorable_rows(b, [])}
    # thresholds: 1.1 -> -1 (window missed); 0.9 -> -1.11; 0.8 -> -0.11 + 1 = 0.89;
    # 0.7 -> 0.89 - 0.11 = 0.78; 0.0 -> everything fires (many FPs). Best: 0.8 with 0.89.
    result = score_corpus(files, [STANDARD])[0]
    assert result.threshold == 0.8
    assert result.raw == pytest.approx(0.89)
    assert result.null_raw == pytest.approx(-1.0)
    assert result.perfect == 1.0
    assert result.score == pytest.approx(100 * (0.89 + 1.0) / (1.0 + 1.0))  # 94.5
    assert result.per_file["a.csv"]["raw"] == pytest.approx(0.89)
    assert result.per_file["b.csv"]["raw"] == 0.0


def test_sweep_treats_tied_scores_as_one_threshold():
    scores = np.zeros(20)
    scores[[10, 5]] = 0.5
    result = sweep(scorable_rows(scores, WINDOW), STANDARD)
    assert result.thresholds.tolist() == [1.1, 0.5, 0.0]
    assert result.raw[:2] == pytest.approx([-1.0, 1.0 - 0.11])


def test_windows_in_the_probationary_period_are_dropped():
    rows = scorable_rows(np.zeros(20), [(0, 2), (10, 14)])
    assert rows.n_windows == 1


def test_concatenated_files_keep_their_windows_apart():
    one = scorable_rows(scores_with_detections(10), WINDOW)
    both = ScoredRows.concatenate([one, one])
    assert both.n_windows == 2
    assert raw_score_at(both, STANDARD, 0.5)["raw"] == pytest.approx(2.0)
    assert math.isclose(sweep(both, STANDARD).best()[1], 2.0)
