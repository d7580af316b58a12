"""Numbers that summarise a persistence diagram, and Betti numbers at a chosen scale.

- total persistence: sum of lifetimes (death - birth);
- maximum persistence: the longest lifetime (for H0: the widest gap between clusters);
- persistence entropy: Shannon entropy (nats) of the lifetimes normalised to sum to 1 — low when
  one feature dominates, high when many features live about as long;
- landscape norms: the L1 and L2 norms of the whole persistence landscape (Bubenik 2015),
  ``(sum_k ||lambda_k||_p^p)^(1/p)``. Both are exact and cheap: at every filtration value the
  landscape values lambda_1 >= lambda_2 >= ... are the pairs' tent functions sorted, and sorting
  changes neither their sum nor their sum of squares, so the norms reduce to integrals of single
  tents: ``lifetime^2 / 4`` (p = 1) and ``lifetime^3 / 12`` (p = 2).
"""
from __future__ import annotations

import numpy as np


def lifetimes(diagram: np.ndarray) -> np.ndarray:
    if len(diagram) == 0:
        return np.zeros(0)
    return np.maximum(diagram[:, 1] - diagram[:, 0], 0.0)


def persistence_entropy(life: np.ndarray) -> float:
    total = float(life.sum())
    if total <= 0.0:
        return 0.0
    p = life[life > 0.0] / total
    return float(-(p * np.log(p)).sum())


def summarise(diagram: np.ndarray, prefix: str) -> dict[str, float]:
    life = lifetimes(diagram)
    return {
        f"{prefix}_total_persistence": float(life.sum()),
        f"{prefix}_max_persistence": float(life.max()) if len(life) else 0.0,
        f"{prefix}_entropy": persistence_entropy(life),
        f"{prefix}_landscape_l1": float((life * life).sum() / 4.0),
        f"{prefix}_landscape_l2": float(np.sqrt((life**3).sum() / 12.0)),
    }


def filtration_scale(h0_deaths: np.ndarray, factor: float, quantile: float) -> float:
    """The scale at which Betti numbers are read: ``factor`` times a high quantile of H0 deaths
    (sorted ascending, as :func:`~tda.persistence.h0_diagram` gives them).

    The H0 deaths are the minimum-spanning-tree edges, i.e. the gaps a neighbour must jump to
    reach the rest of the cloud. Their 95% quantile is the widest gap *inside* the bulk of the
    cloud (the top 5% may be the jumps between separate clusters); twice that closes every
    sampling gap, so noise loops have died, while cluster separations and the holes of loops and
    voids much larger than the sampling density stay open: those are what the Betti numbers count.
    Checked on a noisy circle (H0=1, H1=1), two far clusters (H0=2) and a sphere (H2=1).
    """
    if len(h0_deaths) == 0:
        return 0.0
    position = quantile * (len(h0_deaths) - 1)  # linear interpolation, as numpy's default quantile
    below = int(position)
    above = min(below + 1, len(h0_deaths) - 1)
    value = h0_deaths[below] + (position - below) * (h0_deaths[above] - h0_deaths[below])
    return float(factor * value)


def betti_at(diagram: np.ndarray, scale: float) -> int:
    if len(diagram) == 0:
        return 0
    return int(np.count_nonzero((diagram[:, 0] <= scale) & (diagram[:, 1] > scale)))
