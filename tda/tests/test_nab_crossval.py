"""Leave-one-category-out cross-validation (tda/nab/crossval.py): the held-out category must
never reach the choices it is scored with.

Fake corpus, 100-row files (probationary period: 15 rows), one window at rows 50..59 per
labelled file. Categories A, B and C detect their window at score 0.9 and hold a few
ordinary rows at 0.5; category D's windows are only reached at 0.4. Seen alone, A-C want the
threshold 0.9 (lowering it buys false positives and no window); with D's five windows in view the
whole corpus wants 0.4. So a fold that saw D would pick 0.4 for it.
"""
import numpy as np
import pytest

from tda import DetectorConfig
from tda.nab.cache import ScoreCache
from tda.nab.corpus import Series
from tda.nab.crossval import choose, cross_validate
from tda.nab.scoring import PROFILES, ScoredRows, normalised, raw_score_at, scorable_rows, sweep

STANDARD = PROFILES[0]
WINDOW = [(50, 59)]


def file_rows(detect_at=None, noise_rows=(), noise=0.5, windows=WINDOW):
    scores = np.full(100, 0.1)
    scores[list(noise_rows)] = noise
    if detect_at is not None:
        scores[52] = detect_at
    return scorable_rows(scores, windows)


def corpus(d_detect_at=0.4):
    files = {}
    for category in "ABC":
        files[f"{category}/one.csv"] = file_rows(0.9, noise_rows=(20, 80))
        files[f"{category}/two.csv"] = file_rows(0.9, noise_rows=(30,))
    for number in range(5):
        files[f"D/d{number}.csv"] = file_rows(d_detect_at)
    return files


def test_the_held_out_category_does_not_move_its_own_threshold():
    cv = cross_validate({"only": corpus()})
    assert cv.in_sample_choices[0].threshold == pytest.approx(0.4)  # D seen: its windows win
    held_out = cv.fold("D", "standard")
    assert held_out.choice.threshold == pytest.approx(0.9)  # chosen on A, B, C alone
    assert held_out.windows_detected == 0 and held_out.windows == 5
    assert cv.fold("D", "standard", in_sample=True).windows_detected == 5
    for category in "ABC":
        assert cv.fold(category, "standard").choice.threshold == pytest.approx(0.4)


@pytest.mark.parametrize("category", "ABCD")
def test_changing_the_held_out_category_changes_nothing_it_is_scored_with(category):
    """Whatever a category's scores and labels are, its own fold's choices stay the same."""
    base = {"x": corpus(), "y": {k: file_rows(0.95, noise_rows=(25,)) for k in corpus()}}
    changed = {name: dict(files) for name, files in base.items()}
    rng = np.random.default_rng(7)
    for files in changed.values():
        for key in files:
            if key.startswith(category + "/"):
                files[key] = scorable_rows(rng.uniform(size=100), [(20, 40), (70, 75)])
    before, after = cross_validate(base), cross_validate(changed)
    for profile in PROFILES:
        assert after.fold(category, profile.name).choice == before.fold(category, profile.name).choice
    assert any(  # the perturbation is visible where it is allowed to be: in the other folds
        after.fold(other, p.name).choice != before.fold(other, p.name).choice
        for other in "ABCD" if other != category for p in PROFILES
    ) or after.in_sample_choices != before.in_sample_choices


def test_the_choosing_function_is_never_shown_the_held_out_files():
    shown = []

    def spy(candidates, keys, profile):
        shown.append(sorted(keys))
        return choose(candidates, keys, profile)

    files = corpus()
    cv = cross_validate({"only": files}, select=spy)
    every_key = sorted(files)
    # Per profile: one whole-corpus choice (in-sample) and one per held-out category, shown
    # exactly the other three categories' files.
    assert shown.count(every_key) == len(PROFILES)
    for category in cv.categories:
        training = [k for k in every_key if not k.startswith(category + "/")]
        assert shown.count(training) == len(PROFILES)
    assert len(shown) == len(PROFILES) * (1 + len(cv.categories))


def test_candidates_are_chosen_on_the_training_categories_too():
    files = corpus()
    # "sharp" finds D's windows at 0.95 and is worse elsewhere; "plain" is the fake corpus.
    sharp = {key: (file_rows(0.95) if key.startswith("D/") else file_rows(0.9, noise_rows=range(16, 48)))
             for key in files}
    cv = cross_validate({"plain": files, "sharp": sharp})
    assert cv.in_sample_choices[0].candidate == "sharp"
    assert cv.fold("D", "standard").choice.candidate == "plain"


def test_pooled_is_the_sum_of_held_out_raw_scores_normalised_on_the_corpus():
    files = corpus()
    files["E/quiet.csv"] = file_rows(None, noise_rows=(60,), windows=[])  # a category without windows
    cv = cross_validate({"only": files})
    for profile, pooled in zip(PROFILES, cv.pooled):
        folds = [cv.fold(c, profile.name) for c in cv.categories]
        assert pooled.raw == pytest.approx(sum(f.raw for f in folds))
        whole = ScoredRows.concatenate(list(files.values()))
        assert pooled.perfect == whole.labelled * profile.tp == 11 * profile.tp
        assert pooled.null_raw == pytest.approx(-profile.fn * 11)
        assert pooled.score == pytest.approx(normalised(pooled.raw, pooled.null_raw, pooled.perfect))
    held_out = cv.fold("D", "standard")
    rows = ScoredRows.concatenate([files[k] for k in files if k.startswith("D/")])
    assert held_out.raw == pytest.approx(raw_score_at(rows, STANDARD, held_out.choice.threshold)["raw"])
    assert held_out.score == pytest.approx(normalised(held_out.raw, -5.0, 5.0))
    assert cv.fold("E", "standard").score is None  # nothing to find: raw only
    in_sample = sweep(ScoredRows.concatenate(list(files.values())), STANDARD).best()[1]
    assert cv.in_sample[0].raw == pytest.approx(in_sample)


def test_cross_validation_needs_two_categories_and_matching_candidates():
    with pytest.raises(ValueError, match="two categories"):
        cross_validate({"only": {"A/x.csv": file_rows(0.9)}})
    with pytest.raises(ValueError, match="same files"):
        cross_validate({"a": corpus(), "b": {"A/one.csv": file_rows(0.9)}})


def test_score_cache_is_keyed_by_config_and_rows(tmp_path):
    series = Series("A/x.csv", ["2024-01-01 00:00:00", "2024-01-01 00:05:00"], ["1", "2"])
    cache = ScoreCache(tmp_path)
    config = DetectorConfig()
    assert cache.get(series, config) is None
    cache.put(series, config, [0.25, 0.5])
    assert cache.get(series, config).tolist() == [0.25, 0.5]
    assert cache.get(series, DetectorConfig(window=48)) is None
    assert cache.get(Series("A/x.csv", series.timestamps, ["1", "3"]), config) is None
    assert ScoreCache(None).get(series, config) is None
