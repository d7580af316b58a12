"""Online normalisation of the incoming stream.

Vietoris–Rips persistence depends only on pairwise distances, so the location of a window
does not matter; its *scale* does. We keep an exponentially weighted mean and variance per
component (exact running averages until ``span`` rows have been seen, then a forgetting factor of
``1/span``) and divide each window by the standard deviation known *before* the newest row
arrived, so a sudden jump is measured in units of the past, not absorbed by it.
"""
from __future__ import annotations

import numpy as np

# A constant stream has zero variance; distances are then measured against this floor, relative
# to the magnitude of the values, so a later change still registers as huge but finite.
_RELATIVE_SCALE_FLOOR = 1e-6
_ABSOLUTE_SCALE_FLOOR = 1e-9
# Robust scales of feature vectors (logarithms of counts, ratios): below this a component is
# treated as constant, and a change of one unit of it counts as 100 deviations.
_ROBUST_SCALE_FLOOR = 1e-2


class OnlineNormaliser:
    def __init__(self, dim: int, span: int):
        if span < 1:
            raise ValueError("span must be at least 1")
        self.dim = dim
        self.span = span
        self.count = 0
        self.mean = np.zeros(dim)
        self.var = np.zeros(dim)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        alpha = 1.0 / min(self.count, self.span)
        delta = x - self.mean
        self.mean = self.mean + alpha * delta
        self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)

    def scale(self) -> np.ndarray:
        floor = np.maximum(_RELATIVE_SCALE_FLOOR * np.abs(self.mean), _ABSOLUTE_SCALE_FLOOR)
        return np.maximum(np.sqrt(self.var), floor)

    def get_state(self) -> dict:
        return {"count": self.count, "mean": self.mean.tolist(), "var": self.var.tolist()}

    @classmethod
    def from_state(cls, state: dict, dim: int, span: int) -> "OnlineNormaliser":
        normaliser = cls(dim, span)
        normaliser.count = int(state["count"])
        normaliser.mean = np.asarray(state["mean"], dtype=float)
        normaliser.var = np.asarray(state["var"], dtype=float)
        return normaliser


# Consistency constants: for normal data both estimates below equal the standard deviation.
_MAD_TO_SD = 1.4826
_MEAN_AD_TO_SD = 1.2533


def robust_location_scale(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-component median and robust scale of a cloud of past vectors.

    Unlike a running standard deviation, the median absolute deviation is not inflated by the
    few anomalous rows the past already holds (one deletion wave multiplies the variance of
    ``bytes_removed`` for hours), so the next anomaly still stands out. A component that is
    constant in more than half of the past (MAD 0) falls back to the mean absolute deviation,
    and one constant in all of it to the floor, measured in the component's own units.
    """
    centre = np.median(points, axis=0)
    absolute = np.abs(points - centre)
    scale = _MAD_TO_SD * np.median(absolute, axis=0)
    fallback = _MEAN_AD_TO_SD * absolute.mean(axis=0)
    scale = np.where(scale > 0.0, scale, fallback)
    floor = np.maximum(_RELATIVE_SCALE_FLOOR * np.abs(centre), _ROBUST_SCALE_FLOOR)
    return centre, np.maximum(scale, floor)
