"""The range rules of a scalar stream: a value outside the range of the values before it.

Two horizons, one rule (docs/DETECTION.md, "Range rule" and "Recent range rule"):

- the whole past, beyond its range by Numenta's 5 % of it: a level the stream has never shown;
- the last ``recent_range_rows`` values, beyond their range by ``recent_range_tolerance`` of it
  (its full width by default): a breakout from the stream's recent dynamic range. The whole
  past's range never forgets, so once one huge spike has widened it, later spikes far above
  everything the stream has done for days are left to the ranked features; the recent range
  sees them.

Both only measure; :meth:`tda.detector.Detector._range_tail` turns an excess into a tail.
"""
from __future__ import annotations

import numpy as np


def excess_outside(value: float, low: float, high: float) -> float:
    """How far ``value`` lies outside ``[low, high]``, as a share of its width (0 inside it, and
    while the range is a single value)."""
    width = high - low
    return max(value - high, low - value, 0.0) / width if width > 0.0 else 0.0


class RecentValues:
    """The last ``size`` values of a scalar stream, in a ring, and their range."""

    def __init__(self, size: int):
        self.values = np.zeros(size)
        self.count = 0  # values seen; the ring holds the last min(count, size)

    def range(self) -> tuple[float, float] | None:
        """(min, max) of the values held, None before the first."""
        held = self.values[: min(self.count, len(self.values))]
        return (float(held.min()), float(held.max())) if len(held) else None

    def add(self, value: float) -> None:
        self.values[self.count % len(self.values)] = value
        self.count += 1

    def get_state(self) -> dict:
        return {"values": self.values.tolist(), "count": self.count}

    @classmethod
    def from_state(cls, state: dict, size: int) -> "RecentValues":
        recent = cls(size)
        recent.values = np.asarray(state["values"], dtype=float).reshape(size)
        recent.count = int(state["count"])
        return recent
