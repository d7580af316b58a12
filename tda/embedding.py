"""Takens delay embedding of a scalar window, and the automatic choice of the delay.

A periodic signal traces a closed curve (a 1-manifold) in state space; by Whitney's and Takens'
embedding theorems ``2m + 1 = 3`` delay coordinates embed a 1-manifold without self-crossings, so
the default dimension is 3. The delay is the first lag at which the autocorrelation of the
warm-up data falls below ``1/e`` (the classical decorrelation-time rule): coordinates are then
neither redundant (delay too short: points on the diagonal) nor unrelated (too long), capped so
the embedding spans at most half the window and the cloud keeps enough points.

A stream driven by the clock (traffic, load, a business day) is a non-autonomous system: its
state includes the time of day, the phase of its forcing. :func:`daily_phase` gives that phase as
a point on a circle, the coordinates added to the point a scalar stream inserts into the recent
past (docs/DETECTION.md, "Daily phase").
"""
from __future__ import annotations

import math

import numpy as np

_DECORRELATION_LEVEL = float(np.exp(-1.0))
DAY_SECONDS = 86400.0


def daily_phase(timestamp: float, radius: float) -> np.ndarray:
    """The time of day of ``timestamp`` (epoch seconds) as a point on a circle of ``radius``.

    Midnight UTC is angle 0; a stream's own time zone only rotates the circle, which changes no
    distance.
    """
    angle = 2.0 * math.pi * (float(timestamp) % DAY_SECONDS) / DAY_SECONDS
    return np.array([radius * math.cos(angle), radius * math.sin(angle)])


def delay_embed(window: np.ndarray, dim: int, delay: int) -> np.ndarray:
    """Rows ``(x[i], x[i+delay], ..., x[i+(dim-1)*delay])`` for every i the window allows."""
    n_points = len(window) - (dim - 1) * delay
    if n_points < 1:
        raise ValueError("window too short for this embedding dimension and delay")
    return np.stack([window[k * delay : k * delay + n_points] for k in range(dim)], axis=1)


def max_delay_for(window: int, dim: int) -> int:
    """The longest delay whose embedding spans at most half of the window."""
    if dim <= 1:
        return 1
    return max(1, (window // 2) // (dim - 1))


def choose_delay(history: np.ndarray, max_delay: int) -> int:
    """First lag whose autocorrelation drops below 1/e, within ``[1, max_delay]``."""
    x = np.asarray(history, dtype=float)
    x = x - x.mean()
    denominator = float(np.dot(x, x))
    if denominator <= 0.0 or len(x) < 3:
        return 1
    for lag in range(1, min(max_delay, len(x) - 2) + 1):
        if float(np.dot(x[:-lag], x[lag:])) / denominator < _DECORRELATION_LEVEL:
            return lag
    return max_delay
