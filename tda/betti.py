"""Betti numbers of a point cloud at a scale chosen from the cloud itself."""
from __future__ import annotations

import numpy as np

from .persistence import h0_diagram, higher_diagrams
from .summaries import betti_at, filtration_scale

DEFAULT_SCALE_FACTOR = 2.0
DEFAULT_SCALE_QUANTILE = 0.95


def betti_from_diagrams(
    h0: np.ndarray, higher: list, factor: float, quantile: float, scale: float | None = None
) -> tuple[list[int], float]:
    """(Betti numbers [b0, b1, b2], scale): H0 counts the one infinite class plus the finite ones
    still alive at the scale; higher dimensions count the pairs alive at the scale."""
    if scale is None:
        scale = filtration_scale(h0[:, 1], factor, quantile)
    betti = [1 + int(np.count_nonzero(h0[:, 1] > scale))]
    betti += [betti_at(np.asarray(d).reshape(-1, 2), scale) for d in higher]
    return (betti + [0, 0, 0])[:3], scale


def betti_numbers(
    points, maxdim: int = 1, factor: float = DEFAULT_SCALE_FACTOR, quantile: float = DEFAULT_SCALE_QUANTILE
) -> list[int]:
    """[b0, b1, b2] of the Vietoris–Rips complex of ``points`` at the data-chosen scale."""
    points = np.asarray(points, dtype=float)
    betti, _ = betti_from_diagrams(h0_diagram(points), higher_diagrams(points, maxdim), factor, quantile)
    return betti
