"""Throughput and latency of the topology engine: rows/s and p50/p99 of one update.

    .venv/bin/python bench/detector.py [--rows 3000] [--rows-h2 600]

For window sizes 32, 64 and 128 and maxdim 1 and 2, a fresh detector is fed a noisy seasonal
series (scalar, Takens-embedded) and every update after warm-up is timed; rows/s is over those
timed updates. Prints the machine and the input size; asserts nothing (timings depend on the
machine and its load).
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tda import Detector, DetectorConfig  # noqa: E402


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} CPU(s), load {load:.1f}, Python {platform.python_version()}, numpy {np.__version__}"


def series(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return 100 + 10 * np.sin(2 * np.pi * t / 48) + rng.normal(scale=1.0, size=rows)


def run(window: int, maxdim: int, rows: int) -> dict:
    detector = Detector(DetectorConfig(window=window, maxdim=maxdim, delay_sample=max(96, window)))
    durations = []
    for i, value in enumerate(series(rows)):
        t0 = time.perf_counter()
        detection = detector.update(60.0 * i, float(value))
        elapsed = time.perf_counter() - t0
        if not detection.warming_up:
            durations.append(elapsed)
    durations.sort()
    return {
        "rows_per_s": len(durations) / sum(durations),
        "p50_ms": 1000 * statistics.median(durations),
        "p99_ms": 1000 * durations[int(0.99 * (len(durations) - 1))],
        "timed": len(durations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows per run with maxdim 1")
    parser.add_argument("--rows-h2", type=int, default=500, help="rows per run with maxdim 2 (H2 is costly)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: noisy seasonal scalar series; defaults otherwise ({DetectorConfig().h1_stride=})")
    print(f"{'window':>6} {'maxdim':>6} {'timed':>6} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for maxdim in (1, 2):
        for window in (32, 64, 128):
            rows = args.rows if maxdim == 1 else args.rows_h2
            r = run(window, maxdim, rows)
            print(f"{window:>6} {maxdim:>6} {r['timed']:>6} {r['rows_per_s']:>9.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f}")


if __name__ == "__main__":
    main()
