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


class NoiseBand:
    """Betti numbers of a stream's windows that count the features standing out of the stream's
    own noise, learnt causally (each window is read against the windows before it).

    A window's diagram always holds many short-lived features: the sampling gaps of H0, the
    small loops of H1 that noise opens and closes. The noise band of dimension k is a robust
    upper edge of the lifetimes that dimension has shown so far,
    ``median + BAND_WIDTH × MAD`` (2 MADs; at least half the median) of the lifetimes of the past
    windows, each without its longest one (exponentially weighted, memory ``span`` windows), and β_k is the number of features of this window that live longer
    than it; β0 also counts the one infinite component. So β0 − 1 is the number of points or
    groups of points that lie farther from the rest of the window than the stream's sampling
    gaps usually are (a burst, a level that jumped), and β1 the number of loops larger than
    noise (a rhythm, a cycle of states). Until a dimension has a past, its band is read from the
    window itself. The band learns from the window after the window's Betti numbers are read.

    The Betti curve β_k(ε) (features alive at filtration value ε) is summarised by its peak, the
    scale of the peak, and the share of the filtration range where it stands above half its
    peak (broad: features of many sizes; narrow: one size).
    """

    BAND_WIDTH = 2.0
    # A regular sampling (evenly spaced points) has a MAD near 0: the band stands at least this
    # share of the typical lifetime above it, so equal gaps do not count as separate components.
    MIN_RELATIVE_WIDTH = 0.5

    def __init__(self, maxdim: int, span: int = 200):
        self.maxdim = maxdim
        self.span = span
        self.location = [None] * (maxdim + 1)  # per dimension: weighted median of past lifetimes
        self.spread = [None] * (maxdim + 1)  # per dimension: weighted MAD of past lifetimes
        self.typical: dict[str, float] = {}  # weighted means of window summaries: the typical diagram

    def learn_typical(self, summaries: dict, names) -> None:
        """Fold a window's summaries ``names`` into the series' typical ones (same memory)."""
        weight = 1.0 / self.span
        for name in names:
            if name in summaries:
                value = float(summaries[name])
                old = self.typical.get(name)
                self.typical[name] = value if old is None else old + weight * (value - old)

    def bands(self, diagrams: list) -> list[float]:
        """The band of each dimension: from the past, or the window's own while there is none."""
        out = []
        for k, diagram in enumerate(diagrams):
            if self.location[k] is None:
                location, spread = _median_mad(_noise_lifetimes(diagram))
            else:
                location, spread = self.location[k], self.spread[k]
            out.append(location + max(self.BAND_WIDTH * spread, self.MIN_RELATIVE_WIDTH * location))
        return out

    def betti(self, diagrams: list) -> tuple[list[int], list[float]]:
        """([β0, β1, β2], bands) of a window whose diagrams are ``[h0, h1, ...]``."""
        bands = self.bands(diagrams)
        betti = [int(np.count_nonzero(_lifetimes(d) > band)) for d, band in zip(diagrams, bands)]
        betti[0] += 1  # the infinite component
        return (betti + [0, 0, 0])[:3], bands

    def learn(self, k: int, diagram) -> None:
        """Fold a window's dimension-k lifetimes into that dimension's past."""
        life = _noise_lifetimes(diagram)
        if len(life) == 0:
            return
        location, spread = _median_mad(life)
        if self.location[k] is None:
            self.location[k], self.spread[k] = location, spread
            return
        weight = 1.0 / self.span
        self.location[k] += weight * (location - self.location[k])
        self.spread[k] += weight * (spread - self.spread[k])

    def get_state(self) -> dict:
        return {"location": list(self.location), "spread": list(self.spread), "typical": dict(self.typical)}

    def set_state(self, state: dict) -> None:
        self.location = list(state["location"])
        self.spread = list(state["spread"])
        self.typical = {name: float(value) for name, value in state.get("typical", {}).items()}


def betti_curve_summary(diagram, prefix: str) -> dict[str, float]:
    """Peak, scale of the peak and half-peak breadth of the Betti curve of one diagram."""
    pairs = np.asarray(diagram, dtype=float).reshape(-1, 2)
    if len(pairs) == 0:
        return {f"{prefix}_curve_peak": 0.0, f"{prefix}_curve_peak_scale": 0.0, f"{prefix}_curve_breadth": 0.0}
    scales = np.sort(pairs.ravel())
    # Alive at s: born at or before s and dying after it. A pair never dies before it is born,
    # so that count is (births <= s) - (deaths <= s): two sorted searches instead of a
    # pairs-by-scales comparison.
    births, deaths = np.sort(pairs[:, 0]), np.sort(pairs[:, 1])
    alive = np.searchsorted(births, scales, side="right") - np.searchsorted(deaths, scales, side="right")
    peak = int(alive.max())
    span = float(scales[-1] - scales[0])
    # breadth: the length of the filtration over which the curve is at least half its peak
    widths = np.diff(scales)
    above = alive[:-1] >= max(1, peak / 2.0)
    breadth = float(widths[above].sum() / span) if span > 0 else 0.0
    return {
        f"{prefix}_curve_peak": float(peak),
        f"{prefix}_curve_peak_scale": float(scales[int(alive.argmax())]),
        f"{prefix}_curve_breadth": breadth,
    }


def _lifetimes(diagram) -> np.ndarray:
    pairs = np.asarray(diagram, dtype=float).reshape(-1, 2)
    return np.maximum(pairs[:, 1] - pairs[:, 0], 0.0) if len(pairs) else np.zeros(0)


def _noise_lifetimes(diagram) -> np.ndarray:
    """A window's lifetimes without its longest one: the candidate for structure (the widest
    gap between groups, the dominant loop) must not set the band it is measured against, or a
    stream whose every window holds one loop would learn that loop as its noise."""
    return np.sort(_lifetimes(diagram))[:-1]


def _median_mad(life: np.ndarray) -> tuple[float, float]:
    """Median and median absolute deviation of a few dozen values (``np.median``'s generality
    costs more than the sorting here)."""
    if len(life) == 0:
        return 0.0, 0.0
    median = _sorted_median(np.sort(life))
    return median, _sorted_median(np.sort(np.abs(life - median)))


def _sorted_median(values: np.ndarray) -> float:
    middle = len(values) // 2
    return float(values[middle]) if len(values) % 2 else float(0.5 * (values[middle - 1] + values[middle]))
