"""evaluate_nab end to end on a tiny NAB-layout folder, and our scorer on the shared subset."""
import csv
import functools
import json
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tda.nab.corpus import load_corpus
from tda.nab.scoring import PROFILES, score_corpus, scorable_rows

SHARED_NAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "nab"
START = datetime(2024, 3, 1)


def stamp(i, fraction=False):
    text = (START + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
    return text + ".000000" if fraction else text


def write_series(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for i, value in enumerate(values):
            writer.writerow([stamp(i), f"{value:.4f}"])


@pytest.fixture
def nab_folder(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(700)
    base = 50 + 5 * np.sin(2 * np.pi * t / 48)
    spiky = base + rng.normal(scale=0.5, size=700)
    spiky[500] += 40
    shifted = base + rng.normal(scale=0.5, size=700)
    shifted[450:] += 25
    calm = base + rng.normal(scale=0.5, size=700)
    write_series(tmp_path / "data" / "alpha" / "spiky.csv", spiky)
    write_series(tmp_path / "data" / "alpha" / "calm.csv", calm)
    write_series(tmp_path / "data" / "beta" / "shifted.csv", shifted)
    write_series(tmp_path / "data" / "beta" / "unlabelled.csv", calm)
    windows = {
        "alpha/spiky.csv": [[stamp(470, True), stamp(530, True)]],
        "alpha/calm.csv": [],
        "beta/shifted.csv": [[stamp(420, True), stamp(480, True)]],
    }
    labels = tmp_path / "labels" / "combined_windows.json"
    labels.parent.mkdir()
    labels.write_text(json.dumps(windows))
    return tmp_path


def run(nab_folder, *extra):
    out, err = StringIO(), StringIO()
    call_command(
        "evaluate_nab",
        "--data-dir", str(nab_folder / "data"),
        "--labels", str(nab_folder / "labels" / "combined_windows.json"),
        "--out", str(nab_folder / "results"),
        *extra,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def test_evaluate_nab_writes_nab_results_and_prints_three_profiles(nab_folder):
    out, err = run(nab_folder)

    result = nab_folder / "results" / "topoforge" / "alpha" / "topoforge_spiky.csv"
    with result.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(rows) == 700
    assert rows[0]["timestamp"] == stamp(0) and rows[0]["value"] == "{:.4f}".format(float(rows[0]["value"]))
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    assert [i for i, r in enumerate(rows) if r["label"] == "1"] == list(range(470, 531))
    assert (nab_folder / "results" / "topoforge" / "beta" / "topoforge_shifted.csv").is_file()
    assert (nab_folder / "results" / "topoforge" / "alpha" / "topoforge_calm.csv").is_file()
    assert not (nab_folder / "results" / "topoforge" / "beta" / "topoforge_unlabelled.csv").exists()

    assert "3 files, 2100 rows" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        threshold, raw, null, perfect, score = map(float, lines[profile][1:])
        assert perfect == 2.0 and 0.0 <= threshold <= 1.1
        assert null == (-4.0 if profile == "reward_low_FN_rate" else -2.0)
        assert score == pytest.approx(100 * (raw - null) / (perfect - null), abs=0.02)  # printed rounded
    # A 40-sigma spike in a calm series: its window holds the file's highest score, at or
    # above the optimised threshold, so the corpus scores better than the null detector.
    scores = [float(r["anomaly_score"]) for r in rows]
    assert max(scores[470:531]) == max(scores) >= float(lines["standard"][1])
    assert float(lines["standard"][5]) > 0
    assert "skipped (not in the labels file): beta/unlabelled.csv" in err
    assert "files" in err and "rows" in err  # the progress bars


def test_evaluate_nab_results_rescore_to_the_printed_figures(nab_folder):
    out, _ = run(nab_folder, "--no-progress")
    corpus, _ = load_corpus(nab_folder / "data", nab_folder / "labels" / "combined_windows.json")
    files = {}
    for series in corpus:
        path = nab_folder / "results" / "topoforge" / series.category / f"topoforge_{series.name}.csv"
        with path.open() as handle:
            scores = [float(r["anomaly_score"]) for r in csv.DictReader(handle)]
        files[series.key] = scorable_rows(scores, series.windows)
    standard = score_corpus(files, PROFILES[:1])[0]
    assert f"{standard.score:.2f}" in out


def test_evaluate_nab_reports_bad_arguments(nab_folder, tmp_path):
    with pytest.raises(CommandError, match="--data-dir"):
        call_command("evaluate_nab", "--data-dir", str(tmp_path / "nope"), "--labels", "x", "--out", str(tmp_path))
    bad_config = tmp_path / "config.json"
    bad_config.write_text('{"window": 2}')
    with pytest.raises(CommandError, match="window"):
        run(nab_folder, "--config", str(bad_config))


def test_window_edges_must_be_rows_of_the_data(nab_folder):
    labels = nab_folder / "labels" / "combined_windows.json"
    labels.write_text(json.dumps({"alpha/spiky.csv": [["2030-01-01 00:00:00.000000", stamp(10, True)]]}))
    with pytest.raises(CommandError, match="not a row of the data"):
        run(nab_folder)


@functools.cache  # read once per session: several slow tests each want one or all files
def shared_corpus():
    if not (SHARED_NAB / "data").is_dir():
        pytest.skip(f"the NAB subset is not at {SHARED_NAB.resolve()}")
    return load_corpus(SHARED_NAB / "data", SHARED_NAB / "labels" / "combined_windows.json")[0]


def test_perfect_and_null_detectors_on_the_shared_subset_match_nab():
    # README of the subset: perfect raw 39; null -39 / -39 / -78.
    corpus = shared_corpus()
    perfect, null = {}, {}
    for series in corpus:
        ideal = np.zeros(len(series))
        for left, _ in series.windows:
            ideal[left] = 1.0
        perfect[series.key] = scorable_rows(ideal, series.windows)
        null[series.key] = scorable_rows(np.zeros(len(series)), series.windows)
    for result in score_corpus(perfect):
        assert result.raw == pytest.approx(39.0) and result.score == pytest.approx(100.0)
    assert [r.raw for r in score_corpus(null)] == [-39.0, -39.0, -78.0]
    assert [r.score for r in score_corpus(null)] == [0.0, 0.0, 0.0]


# The standard-profile score the default configuration reaches on the shared 24-file subset
# (docs/DETECTION.md), minus a margin for platform-level floating-point differences.
ACHIEVED_STANDARD = 66.01
MARGIN = 1.5


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_default_configuration_keeps_its_score_on_the_shared_subset(tmp_path):
    corpus = shared_corpus()
    from tda.nab.runner import detect_series
    from tda import DetectorConfig

    files = {s.key: scorable_rows(detect_series(s, DetectorConfig()), s.windows) for s in corpus}
    standard = score_corpus(files, PROFILES[:1])[0]
    assert standard.score >= ACHIEVED_STANDARD - MARGIN


def standard_counts_on_shared_file(name, **settings):
    """Counts of one shared NAB file at the threshold, with these detector settings changed."""
    from tda.nab.runner import detect_series
    from tda.nab.scoring import raw_score_at
    from tda import DetectorConfig

    series = next(s for s in shared_corpus() if s.key.endswith(name))
    config = DetectorConfig(**settings)
    rows = scorable_rows(detect_series(series, config), series.windows)
    return raw_score_at(rows, PROFILES[0], config.threshold)


@pytest.mark.slow
def test_analogues_silence_false_alarms_of_a_changing_rhythm_and_keep_its_window():
    # The CPU series changes its rhythm several times; windows that are extreme against the
    # last week but ordinary among the nearest past states (docs/DETECTION.md, "Analogues").
    with_analogues = standard_counts_on_shared_file("cpu_utilization_asg_misconfiguration.csv")
    without = standard_counts_on_shared_file("cpu_utilization_asg_misconfiguration.csv", analogues=0)
    assert with_analogues["windows_detected"] == without["windows_detected"] == 1
    assert with_analogues["fp"] < without["fp"]


@pytest.mark.slow
def test_range_rule_finds_the_ambient_temperature_peak_no_ranked_feature_finds():
    # The window around the file's highest temperature: a level the stream has never shown,
    # reached slowly (docs/DETECTION.md, "Range rule").
    with_rule = standard_counts_on_shared_file("ambient_temperature_system_failure.csv")
    without = standard_counts_on_shared_file("ambient_temperature_system_failure.csv", range_tolerance=0.0)
    assert (without["windows_detected"], with_rule["windows_detected"]) == (1, 2)


def test_cross_validate_prints_held_out_and_in_sample_scores_and_caches_the_detector(nab_folder):
    cache = nab_folder / "cache"
    out, err = run(nab_folder, "--cross-validate", "--cache", str(cache))
    assert "3 files, 2100 rows, 1 candidate(s), 3 detector run(s)" in out
    assert "files" in err and "rows" in err  # the progress bars
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert f"\n{profile}\n" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("alpha", "beta", "pooled"))]
    assert [r[0] for r in rows] == ["alpha", "beta", "pooled"] * 3
    assert (nab_folder / "results" / "topoforge" / "alpha" / "topoforge_spiky.csv").is_file()

    # The same figures again, read from the cache: the detector does not run.
    again, _ = run(nab_folder, "--cross-validate", "--cache", str(cache), "--no-progress")
    assert "0 detector run(s)" in again
    assert again.split("\n", 1)[1] == out.split("\n", 1)[1]


def test_cross_validate_chooses_among_candidates_and_reports_bad_ones(nab_folder, tmp_path):
    candidates = tmp_path / "candidates.json"
    candidates.write_text(json.dumps({"default": {}, "short": {"history_span": 500}}))
    out, _ = run(nab_folder, "--cross-validate", "--candidates", str(candidates), "--no-progress")
    assert "2 candidate(s), 6 detector run(s)" in out
    assert "(in-sample: default" in out or "(in-sample: short" in out
    candidates.write_text(json.dumps({"bad": {"window": 1}}))
    with pytest.raises(CommandError, match="--candidates: window must be at least 4"):
        run(nab_folder, "--cross-validate", "--candidates", str(candidates))
    with pytest.raises(CommandError, match="--candidates: only with --cross-validate"):
        run(nab_folder, "--candidates", str(candidates))
