"""Two places where our scorer parted from NAB's own (nab/sweeper.py, runner.normalize), found by
scripts/nab_crosscheck.py on label files NAB accepts; fixtures small enough to score by hand.

    scaledSigmoid(y) = 2 / (1 + exp(5y)) - 1,  MAX_TP = scaledSigmoid(-1) = 0.98661429815
    in a window: scaledSigmoid(-(right - i + 1) / width) / MAX_TP * tp

The files are long enough (tens of rows before the first window, each a -0.11 false positive if
everything fires) that the null detector's best is "never fire": null raw = -fn per window.
"""
import numpy as np
import pytest

from tda.nab.scoring import PROFILES, raw_score_at, score_corpus, scorable_rows

STANDARD = PROFILES[0]


def test_a_window_inside_the_probationary_period_still_counts_towards_perfect():
    # 200 rows: probation = floor(0.15 * 200) = 30 rows, so window (0, 20) is never scored and the
    # null detector is not charged for it (null = -1); NAB's normalize still counts every window
    # of the label file: perfect = 2 * tp = 2. We used to count the scorable one only (1).
    scores = np.zeros(200)
    scores[100] = 1.0  # left edge of window (100, 119): +1.0
    result = score_corpus({"f.csv": scorable_rows(scores, [(0, 20), (100, 119)])}, [STANDARD])[0]
    assert result.threshold == 1.0
    assert result.raw == pytest.approx(1.0)
    assert result.null_raw == pytest.approx(-1.0)
    assert result.perfect == 2.0
    assert result.score == pytest.approx(100 * (1.0 + 1.0) / (2.0 + 1.0))  # 66.67, was 100


def test_a_window_starting_inside_another_takes_over_as_in_nab():
    # 300 rows: probation = floor(45.0) = 45. Windows A = (100, 130), B = (120, 150), C = (250, 270).
    # NAB enters B at row 120 although A has not ended: rows 100-119 belong to A (right 130,
    # width 31), rows 120-150 to B; C is entered at 250. We used to wait for A to end, which lost
    # B and, with B stuck first in the queue, C too: one window instead of three.
    windows = [(100, 130), (120, 150), (250, 270)]
    rows = scorable_rows(np.zeros(300), windows)
    assert rows.n_windows == 3
    # row 110 in A: scaledSigmoid(-(130 - 110 + 1) / 31) / MAX_TP = 0.94727764598
    assert rows.values[110 - 45] == pytest.approx(0.94727764598)
    assert rows.values[120 - 45] == pytest.approx(1.0)  # B's left edge

    scores = np.zeros(300)
    scores[250] = 1.0  # C's left edge: +1; A and B missed: -1 each
    at_one = raw_score_at(scorable_rows(scores, windows), STANDARD, 1.0)
    assert at_one["raw"] == pytest.approx(-1.0)  # was -1.11: A missed, row 250 a false positive
    assert at_one["windows_detected"] == 1
    result = score_corpus({"f.csv": scorable_rows(scores, windows)}, [STANDARD])[0]
    assert (result.threshold, result.null_raw, result.perfect) == (1.0, pytest.approx(-3.0), 3.0)
    assert result.score == pytest.approx(100 * (-1.0 + 3.0) / (3.0 + 3.0))  # 33.33, was 0
