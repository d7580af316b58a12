"""Re-score the NAB subset offline with transformed tails: the second round of issue #14.

One run of the engine records, for every scored row, its per-feature tail probabilities, its
range-rule tail and its feature-history count (``--dump``, about 35 CPU-s). The alarm gate and
the young-history correction are then re-run on transformed tails and cross-validated (leave one
category out), without rerunning the topology. The untransformed replay reproduces the engine's
gated scores exactly (to 1e-12, float rounding; checked on every run), so a transform's figures are the figures the same
rule would give inside the detector. Figures: docs/DETECTION.md, "Every attempt, CV first".

    .venv/bin/python scripts/nab_offline_attempts.py --data-dir ../shared/nab/data \\
        --labels ../shared/nab/labels/combined_windows.json --dump var/exp/dump.pkl
"""
import argparse
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tda import Detector, DetectorConfig  # noqa: E402
from tda.nab.corpus import load_corpus  # noqa: E402
from tda.nab.crossval import cross_validate  # noqa: E402
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

        def spy_range(excess, _inner=range_tail):
            row["range"] = _inner(excess)
            return row["range"]

        detector._feature_tails, detector._range_tail = spy_tails, spy_range
        n = len(series)
        tails, ranges, counts = np.full((n, 8), np.nan), np.ones(n), np.zeros(n, int)
        gated, warm = np.zeros(n), np.zeros(n, bool)
        for i, (timestamp, value) in enumerate(zip(series.epoch_seconds(), series.numbers())):
            row.clear()
            detection = detector.update(timestamp, value)
            gated[i] = detection.gated_score
            if detection.score is None or row.get("tails") is None:
                warm[i] = True
                continue
            tails[i, : len(row["tails"])], ranges[i], counts[i] = row["tails"], row["range"], row["count"]
        out[series.key] = dict(T=tails, R=ranges, C=counts, G=gated, W=warm, windows=series.windows)
    return out


def combined(d) -> np.ndarray:
    """The engine's tail: Bonferroni over the row's features, then the range rule."""
    t = np.where(np.isnan(d["T"]), np.inf, d["T"])
    n = np.sum(np.isfinite(t), axis=1)
    comb = np.where(n == 0, 1.0, np.minimum(1.0, n * np.min(t, axis=1)))
    return np.minimum(comb, d["R"])


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
    def baseline(d):
        t = combined(d)
        return gated(t, young(d, t), d["W"])

    yield "kept engine (replayed)", baseline
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
    for name, fn in attempts():
        scores = {key: fn(d) for key, d in data.items()}
        if name.startswith("kept"):
            same = all(np.allclose(scores[k], d["G"], rtol=0, atol=1e-12) for k, d in data.items())
            assert same, "replay differs from the engine"
        cv = cross_validate({"x": {k: scorable_rows(s, data[k]["windows"]) for k, s in scores.items()}})
        print(f"{name:45s} CV {_figures(cv.pooled)}   in-sample {_figures(cv.in_sample)}", flush=True)


if __name__ == "__main__":
    main()
