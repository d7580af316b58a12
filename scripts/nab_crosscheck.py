#!/usr/bin/env python3
"""Score the same NAB results files with our scorer and with NAB's own code, side by side.

    .venv/bin/python scripts/nab_crosscheck.py --nab-repo ~/src/NAB \
        --results var/nab-results --labels ../shared/nab/labels/combined_windows.json \
        --nab-python ~/src/NAB/venv/bin/python

``--results`` is what ``manage.py evaluate_nab --out`` wrote (``<results>/topoforge/...``);
``--labels`` must be the windows file the results were scored with. NAB's code is never copied
or imported here: this script runs ``run.py --optimize --score --normalize`` of the checkout you
give (numenta/NAB, any Python 3 version) as a subprocess, in a scratch copy of the results
(NAB's score step rewrites results files), next to a ``null`` detector (every score 0) that
NAB's normalisation needs. ``--nab-python`` is an interpreter with pandas, numpy and
python-dateutil; with pandas >= 3 NAB's ``labeler.py`` fails writing into
``Series.values`` (read-only under copy-on-write), so use pandas < 3 there (see docs/DETECTION.md,
"Cross-check with NAB's own scorer").

Prints threshold, raw score, null raw score and normalised score per profile for both scorers and
exits 1 if any normalised score differs by more than ``--tolerance`` (0.5 points, issue #5),
2 if NAB's run fails.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tda.nab.corpus import Series, load_windows, window_indices  # noqa: E402
from tda.nab.results import read_scores  # noqa: E402
from tda.nab.scoring import PROFILES, score_corpus, scorable_rows  # noqa: E402


def result_files(results_dir: Path, detector: str) -> dict[str, Path]:
    """``{"<category>/<name>.csv": path}`` for every results file of ``detector``."""
    root = results_dir / detector
    prefix = detector + "_"
    files = {}
    for path in sorted(root.rglob(prefix + "*.csv")):
        if path.name.endswith("_scores.csv"):
            continue
        key = path.relative_to(root).parent / path.name[len(prefix):]
        files[key.as_posix()] = path
    if not files:
        raise SystemExit(f"no {prefix}*.csv results under {root}")
    return files


def ours(files: dict[str, Path], labels: Path) -> dict[str, dict]:
    """Our scorer on the results files (timestamps from the files, windows from ``labels``)."""
    windows = load_windows(labels)
    scored = {}
    for key, path in files.items():
        if key not in windows:
            raise SystemExit(f"{key} is not in {labels}")
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle)][1:]
        series = Series(key=key, timestamps=[r[0] for r in rows if r], values=[r[1] for r in rows if r])
        scored[key] = scorable_rows(read_scores(path), window_indices(series, windows[key]))
    return {
        r.profile.name: {"threshold": r.threshold, "raw": r.raw, "null": r.null_raw, "score": r.score}
        for r in score_corpus(scored, PROFILES)
    }


def write_null(files: dict[str, Path], results_dir: Path, detector: str) -> None:
    """NAB's null baseline: the same rows with every anomaly score 0."""
    for key, path in files.items():
        out = results_dir / "null" / Path(key).parent / ("null_" + Path(key).name)
        out.parent.mkdir(parents=True, exist_ok=True)
        with path.open(newline="") as src, out.open("w", newline="") as dst:
            reader, writer = csv.DictReader(src), csv.writer(dst)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for row in reader:
                writer.writerow([row["timestamp"], row["value"], 0.0, row.get("label", 0)])


def nab(args, files: dict[str, Path], scratch: Path) -> dict[str, dict]:
    """Run NAB's own optimise + score + normalise on a scratch copy of the results."""
    results = scratch / "results"
    shutil.copytree(args.results / args.detector, results / args.detector)
    write_null(files, results, args.detector)
    thresholds = scratch / "thresholds.json"
    command = [
        str(args.nab_python), "run.py", "--optimize", "--score", "--normalize", "--skipConfirmation",
        "-d", f"{args.detector},null", "-n", "1",
        "--dataDir", str(args.data_dir.resolve()), "--windowsFile", str(args.labels.resolve()),
        "--resultsDir", str(results), "-t", str(thresholds),
    ]
    run = subprocess.run(command, cwd=args.nab_repo, capture_output=True, text=True)
    (scratch / "nab.log").write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-2000:] + run.stderr[-4000:])
        sys.stderr.write(f"NAB's run.py failed (exit {run.returncode}): {' '.join(command)}\n")
        raise SystemExit(2)
    tuned = json.loads(thresholds.read_text())
    final = json.loads((results / "final_results.json").read_text())

    def totals(detector, profile):
        with (results / detector / f"{detector}_{profile}_scores.csv").open(newline="") as handle:
            return float(list(csv.DictReader(handle))[-1]["Score"])

    return {
        p.name: {
            "threshold": tuned[args.detector][p.name]["threshold"],
            "raw": totals(args.detector, p.name),
            "null": totals("null", p.name),
            "score": final[args.detector][p.name],
        }
        for p in PROFILES
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab-repo", required=True, type=Path, help="a checkout of numenta/NAB")
    parser.add_argument("--results", required=True, type=Path, help="evaluate_nab's --out folder")
    parser.add_argument("--labels", required=True, type=Path, help="the windows file the results were scored with")
    parser.add_argument("--data-dir", type=Path, help="NAB data folder (default: <nab-repo>/data)")
    parser.add_argument("--detector", default="topoforge", help="detector folder in --results (default topoforge)")
    parser.add_argument("--nab-python", type=Path, default=Path(sys.executable),
                        help="Python with pandas<3, numpy, python-dateutil to run NAB (default: this one)")
    parser.add_argument("--tolerance", type=float, default=0.5, help="allowed difference in points (default 0.5)")
    parser.add_argument("--keep", type=Path, help="run NAB in this (new) folder and keep its files")
    args = parser.parse_args(argv)
    if not (args.nab_repo / "run.py").is_file():
        parser.error(f"--nab-repo: no run.py in {args.nab_repo}")
    args.data_dir = args.data_dir or args.nab_repo / "data"
    args.results = args.results.resolve()

    files = result_files(args.results, args.detector)
    mine = ours(files, args.labels)
    if args.keep:
        args.keep.mkdir(parents=True)
        theirs = nab(args, files, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="nab-crosscheck-") as scratch:
            theirs = nab(args, files, Path(scratch))

    print(f"{len(files)} files of '{args.detector}' in {args.results}; labels {args.labels}")
    print(f"{'profile':<19} {'threshold ours/NAB':>27} {'raw ours/NAB':>19} {'null ours/NAB':>15}"
          f" {'score ours':>10} {'NAB':>7} {'diff':>6}")
    worst = 0.0
    for p in PROFILES:
        a, b = mine[p.name], theirs[p.name]
        diff = a["score"] - b["score"]
        worst = max(worst, abs(diff))
        print(f"{p.name:<19} {a['threshold']:>13.10f}/{b['threshold']:<13.10f} {a['raw']:>9.4f}/{b['raw']:<9.4f}"
              f" {a['null']:>7.2f}/{b['null']:<7.2f} {a['score']:>10.2f} {b['score']:>7.2f} {diff:>+6.2f}")
    verdict = "agree" if worst <= args.tolerance else "DISAGREE"
    print(f"largest difference {worst:.4f} points: scorers {verdict} (tolerance {args.tolerance})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
