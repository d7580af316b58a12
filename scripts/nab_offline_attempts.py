"""Re-score the NAB subset offline with transformed tails: the second and fourth rounds of issue #14.

One run of the engine records, for every scored row, its per-feature tail probabilities, the
tails of its two range rules, its feature-history count and its value (``--dump``, about 50
CPU-s). The alarm gate and the young-history correction are then re-run on transformed tails and
cross-validated (leave one category out), without rerunning the topology. The untransformed
replay reproduces the engine's gated scores exactly (to 1e-12, float rounding; checked on every
run), so a transform's figures are the figures the same rule would give inside the detector. A
scalar stream's range rules feed nothing back into its features, so the engine without the
recent range rule is replayed exactly too: the second round's transforms are measured against it,
as they were. Figures: docs/DETECTION.md, "Every attempt, CV first" and "The recent range rule".

    .venv/bin/python scripts/nab_offline_attempts.py --data-dir ../shared/nab/data \\
        --labels ../shared/nab/labels/combined_windows.json --dump var/exp/dump.pkl
"""
import argparse
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tda import Detector, DetectorConfig  # noqa: E402
from tda.nab.corpus import load_corpus  # noqa: E402
from tda.nab.crossval import category_of, cross_validate  # noqa: E402
from tda.nab.scoring import scorable_rows  # noqa: E402
from tda.scoring import AlarmGate  # noqa: E402
from tda.young import young_history_factor  # noqa: E402

H0_WINDOW, DISTANCES, H1 = [0, 1, 2], [3, 4], [5, 6, 7]  # columns of the recorded tails
CONFIG = DetectorConfig()  # the engine's defaults, replayed


def dump(data_dir: Path, labels: Path) -> dict:
    corpus, _ = load_corpus(data_dir, labels)
    out = {}
    for series in corpus:
        detector, row = Detector(CONFIG), {}
        feature_tails, range_tail = detector._feature_tails, detector._range_tail

        def spy_tails(summaries, fresh, _inner=feature_tails, _det=detector):
            tails, pending = _inner(summaries, fresh)
            row["tails"] = None if tails is None else tails.copy()
            row["count"] = _det.row_history.count if _det.row_history is not None else 0
            return tails, pending

        def spy_range(excess, tolerance, _inner=range_tail):
            tail = _inner(excess, tolerance)
            row.setdefault("ranges", []).append(tail)  # the whole past's rule, then the recent one
            return tail

        detector._feature_tails, detector._range_tail = spy_tails, spy_range
        n = len(series)
        tails, ranges, recent, counts = np.full((n, 8), np.nan), np.ones(n), np.ones(n), np.zeros(n, int)
        gated, warm = np.zeros(n), np.zeros(n, bool)
        for i, (timestamp, value) in enumerate(zip(series.epoch_seconds(), series.numbers())):
            row.clear()
            detection = detector.update(timestamp, value)
            gated[i] = detection.gated_score
            if detection.score is None or row.get("tails") is None:
                warm[i] = True
                continue
            tails[i, : len(row["tails"])], counts[i] = row["tails"], row["count"]
            ranges[i], recent[i] = row["ranges"]
        out[series.key] = dict(T=tails, R=ranges, RR=recent, C=counts, G=gated, W=warm,
                               X=series.numbers().reshape(-1), windows=series.windows)
    return out


def _bonferroni(tails: np.ndarray) -> np.ndarray:
    """Each row's smallest feature tail times the number of features it ranked (NaN = not ranked)."""
    t = np.where(np.isnan(tails), np.inf, tails)
    n = np.sum(np.isfinite(t), axis=1)
    return np.where(n == 0, 1.0, np.minimum(1.0, n * np.min(t, axis=1)))


def combined(d) -> np.ndarray:
    """The engine's tail before the recent range rule: Bonferroni over the row's features, then
    the whole past's range rule."""
    return np.minimum(_bonferroni(d["T"]), d["R"])


def engine(d) -> np.ndarray:
    """The engine's tail: the above, then the recent range rule."""
    return np.minimum(combined(d), d["RR"])


def range_rule_tail(values: np.ndarray, low: np.ndarray, high: np.ndarray, tolerance: float) -> np.ndarray:
    """``Detector._range_tail`` on every row: the certain-alarm tail x tolerance / excess where a
    value lies outside its row's [low, high] by more than ``tolerance`` of its width, else 1."""
    width = high - low
    excess = np.maximum(np.maximum(values - high, low - values), 0.0) / np.where(width > 0, width, np.inf)
    certain = AlarmGate.BREAKTHROUGH / CONFIG.history_span
    return np.where(excess > tolerance, certain * tolerance / np.maximum(excess, 1e-300), 1.0)


def recent_range_tail(values: np.ndarray, rows: int, tolerance: float) -> np.ndarray:
    """The recent range rule's tail on every row, from the values, as the detector computes it
    (``tda/ranges.py``, ``Detector._range_tail``): the range of the last ``rows`` values before
    the row (all of them while fewer have been seen)."""
    padded = np.concatenate([np.full(rows, np.nan), values[:-1]])
    recent = sliding_window_view(padded, rows)[: len(values)]
    low, high = np.nanmin(recent, axis=1), np.nanmax(recent, axis=1)
    low[0] = high[0] = values[0]
    return range_rule_tail(values, low, high, tolerance)


def window_mean_range_tail(values: np.ndarray, rows: int, tolerance: float = 0.05) -> np.ndarray:
    """The range rule on the mean of the last ``rows`` values (the first window's mean before
    that): beyond the range of every earlier such mean by ``tolerance`` of it."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    means = np.empty(len(values))
    means[rows - 1:] = (sums[rows:] - sums[:-rows]) / rows
    means[: rows - 1] = means[rows - 1]
    low = np.minimum.accumulate(np.concatenate([[means[0]], means[:-1]]))
    high = np.maximum.accumulate(np.concatenate([[means[0]], means[:-1]]))
    return range_rule_tail(means, low, high, tolerance)


def simes(tails: np.ndarray) -> np.ndarray:
    """Simes' combination of each row's tails (min over i of m × p_(i) / i), NaN = not ranked."""
    t = np.sort(np.where(np.isnan(tails), np.inf, tails), axis=1)
    m = np.sum(np.isfinite(t), axis=1)
    bound = np.where(np.isfinite(t), m[:, None] * t / np.arange(1, t.shape[1] + 1), np.inf)
    return np.where(m == 0, 1.0, np.minimum(1.0, np.min(bound, axis=1)))


def group_minima(tails: np.ndarray) -> np.ndarray:
    """Each feature group's Bonferroni tail (window summaries H0, distances, H1), NaN if unranked."""
    columns = []
    for group in (H0_WINDOW, DISTANCES, H1):
        part = np.where(np.isnan(tails[:, group]), np.inf, tails[:, group])
        n = np.sum(np.isfinite(part), axis=1)
        columns.append(np.where(n > 0, n * np.min(part, axis=1), np.nan))
    return np.stack(columns, axis=1)


WINDOW_MEAN_ROWS = (4, 8, 16, 24, 32, 48, 64)
RECENT_RANGE_GRID = [(rows, tolerance) for rows in (100, 200, 300, 500, 750, 1000) for tolerance in (0.1, 0.2, 0.5, 1.0)]


def grid_name(rows: int, tolerance: float) -> str:
    return f"recent range rule, {rows} rows, tolerance {tolerance}"


def young(d, tail):
    return np.minimum(1.0, tail * np.array([young_history_factor(c, CONFIG.history_span) for c in d["C"]]))


def gated(judged, reported, warm, factor=None):
    """The engine's gate on ``judged`` tails, reporting ``reported`` tails (as the detector does),
    each times ``factor(gate)`` when given (called after the gate has seen the row)."""
    gate = AlarmGate(CONFIG.threshold, CONFIG.window, CONFIG.quiet_period, CONFIG.quiet_damping,
                     measurable_tail=1.0 / CONFIG.history_span)
    out = np.zeros(len(warm))
    for i in np.nonzero(~warm)[0]:
        gate.apply(1.0 - judged[i])
        score = 1.0 - min(1.0, reported[i] * (factor(gate) if factor else 1.0))
        out[i] = score * CONFIG.quiet_damping if gate.suppressed else score
    return out


def likelihood(tail, warm, k, span=2000, min_history=100):
    """HTM's anomaly likelihood on −log10 tail: the Gaussian upper tail of the mean of the last
    ``k`` rows against the last ``span`` such means."""
    s = -np.log10(np.clip(tail, 1e-300, 1.0))
    result, means, recent = np.ones(len(s)), [], []
    for i in np.nonzero(~warm)[0]:
        recent.append(s[i])
        if len(recent) < k:
            continue
        m = float(np.mean(recent[-k:]))
        if len(means) >= min_history:
            past = np.array(means[-span:])
            result[i] = norm.sf((m - past.mean()) / max(past.std(), 1e-6))
        means.append(m)
    return result


def attempts():
    def replay(d):
        t = engine(d)
        return gated(t, young(d, t), d["W"])

    def baseline(d):
        t = combined(d)
        return gated(t, young(d, t), d["W"])

    yield "kept engine (replayed)", replay
    yield "before the recent range rule", baseline
    for k in (10, 5, 3):
        for mode in ("alone", "min", "max", "bonferroni", "geometric"):
            def fn(d, k=k, mode=mode):
                t = young(d, combined(d))
                lik = likelihood(t, d["W"], k)
                c = {"alone": lik, "min": np.minimum(t, lik), "max": np.maximum(t, lik),
                     "bonferroni": np.minimum(1.0, 2 * np.minimum(t, lik)), "geometric": np.sqrt(t * lik)}[mode]
                return gated(c, c, d["W"])
            yield f"likelihood k={k} {mode}", fn
    for K in (3, 10, 30, 100):
        def consecutive(d, K=K):
            t = combined(d)
            c = np.minimum(np.minimum(K * t, np.maximum(t, np.concatenate([[1.0], t[:-1]]))), d["R"])
            return gated(c, young(d, c), d["W"])
        yield f"two consecutive rows or {K}x rarer", consecutive

        def groups(d, K=K):
            t = np.where(np.isnan(d["T"]), np.inf, d["T"])
            n = np.sum(np.isfinite(t), axis=1)
            window, distance = np.min(t[:, H0_WINDOW + H1], axis=1), np.min(t[:, DISTANCES], axis=1)
            c = np.minimum(1.0, n * np.minimum(K * np.minimum(window, distance), np.maximum(window, distance)))
            c = np.minimum(np.where(n == 0, 1.0, c), d["R"])
            return gated(c, young(d, c), d["W"])
        yield f"two feature groups or {K}x rarer", groups

    for a in (0.5, 0.25):
        for floor in (200, 1000):
            def since_alarm(d, a=a, floor=floor):
                """The reported tail x (2000 / rows since the stream's last alarm, at least
                ``floor``, at most 2000) ** a; the gate judges the plain tail."""
                since = None  # rows since the last alarm, before this row

                def factor(gate):
                    nonlocal since
                    result = 1.0 if since is None else (2000 / max(min(since, 2000), floor)) ** a
                    since = 0 if (gate.quiet and gate.since == 0) else (None if since is None else since + 1)
                    return result

                t = combined(d)
                return gated(t, young(d, t), d["W"], factor)
            yield f"tail x (2000/since alarm >= {floor})^{a}", since_alarm

    for rows in WINDOW_MEAN_ROWS:
        def window_mean(d, rows=rows):
            t = np.minimum(combined(d), window_mean_range_tail(d["X"], rows))
            return gated(t, young(d, t), d["W"])
        yield f"window mean of {rows} rows beyond its range", window_mean

    for name, combine in (("features", lambda T: simes(T)), ("feature groups", lambda T: simes(group_minima(T)))):
        def simes_over(d, combine=combine):
            t = np.minimum(combine(d["T"]), d["R"])
            return gated(t, young(d, t), d["W"])
        yield f"Simes over the {name}", simes_over

    for rows, tolerance in RECENT_RANGE_GRID:
        def recent(d, rows=rows, tolerance=tolerance):
            t = np.minimum(combined(d), recent_range_tail(d["X"], rows, tolerance))
            return gated(t, young(d, t), d["W"])
        yield grid_name(rows, tolerance), recent

    variants = {
        "recent range rule alone (no whole-past rule)": lambda d: np.minimum(
            _bonferroni(d["T"]), recent_range_tail(d["X"], 500, 1.0)),
        "recent range rule alone, tolerance 0.05": lambda d: np.minimum(
            _bonferroni(d["T"]), recent_range_tail(d["X"], 500, 0.05)),
        "recent range rule, its tail measurable (1/history_span)": lambda d: np.minimum(
            combined(d), np.where(d["RR"] < 1.0, d["RR"] / AlarmGate.BREAKTHROUGH, 1.0)),
        "recent range rule, 400 rows, tolerance 1.0": lambda d: np.minimum(
            combined(d), recent_range_tail(d["X"], 400, 1.0)),
        "recent range rule, 600 rows, tolerance 1.0": lambda d: np.minimum(
            combined(d), recent_range_tail(d["X"], 600, 1.0)),
        "recent range rule, 500 rows, tolerance 2.0": lambda d: np.minimum(
            combined(d), recent_range_tail(d["X"], 500, 2.0)),
    }
    for name, tail_of in variants.items():
        def variant(d, tail_of=tail_of):
            t = tail_of(d)
            return gated(t, young(d, t), d["W"])
        yield name, variant


def _figures(results):
    return " / ".join(f"{r.score:.2f}" for r in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--dump", type=Path, default=Path("var/exp/dump.pkl"), help="recorded tails (made if absent)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.dump.is_file():
        data = pickle.loads(args.dump.read_bytes())
    else:
        data = dump(args.data_dir, args.labels)
        args.dump.parent.mkdir(parents=True, exist_ok=True)
        args.dump.write_bytes(pickle.dumps(data))
    grid, window_means = {}, {}
    for name, fn in attempts():
        scores = {key: fn(d) for key, d in data.items()}
        if name == "kept engine (replayed)":
            same = all(np.allclose(scores[k], d["G"], rtol=0, atol=1e-12) for k, d in data.items())
            assert same, "replay differs from the engine"
        rows = {k: scorable_rows(s, data[k]["windows"]) for k, s in scores.items()}
        if name.startswith("before") or name in {grid_name(*setting) for setting in RECENT_RANGE_GRID}:
            grid[name] = rows
        if name.startswith("before") or name in {f"window mean of {m} rows beyond its range" for m in WINDOW_MEAN_ROWS[1:]}:
            window_means[name] = rows
        cv = cross_validate({"x": rows})
        print(f"{name:55s} CV {_figures(cv.pooled)}   in-sample {_figures(cv.in_sample)}", flush=True)
    # The window mean's length and the recent range rule's rows and tolerance as learnt
    # settings: each fold picks them (or no rule) on the other three categories, with its threshold.
    for name, candidates in (("window mean, rows chosen per fold", window_means),
                             ("recent range rule, grid chosen per fold", grid)):
        cv = cross_validate(candidates)
        print(f"{name:55s} CV {_figures(cv.pooled)}   in-sample {_figures(cv.in_sample)}", flush=True)
        for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
            chosen = {category: cv.fold(category, profile).choice.candidate for category in sorted({category_of(k) for k in data})}
            print(f"  {profile}: {chosen}", flush=True)


if __name__ == "__main__":
    main()
