"""Vietoris–Rips persistence of a small point cloud, with a fast path for H0.

H0 of a Rips filtration is exactly single-linkage clustering: every class is born at 0 and the
finite deaths are the edge lengths of a minimum spanning tree of the complete distance graph.
scipy's compiled MST single linkage gives them from the condensed distances in a few tens of
microseconds for the clouds used here, an order of magnitude cheaper than a ripser call, so H0 is
recomputed on every row. H1 (and H2) need ripser and are recomputed less often.
"""
from __future__ import annotations

import numpy as np
from ripser import ripser

try:  # ripser's compiled core, called on the condensed distances we already have
    from pyRipser import doRipsFiltrationDM as _rips_condensed
except ImportError:  # pragma: no cover - a ripser that moved it: the public wrapper
    _rips_condensed = None

try:  # scipy's C minimum-spanning-tree single linkage, without linkage()'s input checks
    from scipy.cluster._hierarchy import mst_single_linkage as _mst_single_linkage
except ImportError:  # pragma: no cover - a scipy that moved it: the public, slower path
    _mst_single_linkage = None

EMPTY = np.zeros((0, 2))
_UPPER_TRIANGLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def condensed_distances(points: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances in ``pdist``'s condensed order (row-major upper triangle).

    Same numbers as ``scipy.spatial.distance.pdist`` up to rounding, without its per-call
    dispatch overhead, which dominates on clouds of a few dozen points.
    """
    n = len(points)
    if n not in _UPPER_TRIANGLES:
        _UPPER_TRIANGLES[n] = np.triu_indices(n, k=1)
    rows, cols = _UPPER_TRIANGLES[n]
    differences = points[rows] - points[cols]
    return np.sqrt(np.einsum("ij,ij->i", differences, differences))


def mst_edge_lengths(distances: np.ndarray) -> np.ndarray:
    """Edge lengths of a minimum spanning tree (Prim), sorted ascending: the H0 deaths."""
    n = len(distances)
    if n < 2:
        return np.zeros(0)
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = distances[0].copy()
    best[0] = np.inf
    edges = np.empty(n - 1)
    for k in range(n - 1):
        j = int(np.argmin(best))
        edges[k] = best[j]
        in_tree[j] = True
        best[j] = np.inf
        np.minimum(best, np.where(in_tree, np.inf, distances[j]), out=best)
    edges.sort()
    return edges


def h0_deaths(condensed: np.ndarray, n: int) -> np.ndarray:
    """Sorted H0 deaths from condensed pairwise distances (``scipy.spatial.distance.pdist``)."""
    if n < 2:
        return np.zeros(0)
    if _mst_single_linkage is not None:
        deaths = np.asarray(_mst_single_linkage(condensed, n))[:, 2]
    else:  # pragma: no cover
        from scipy.spatial.distance import squareform

        deaths = mst_edge_lengths(squareform(condensed))
    return np.sort(deaths)


def h0_diagram(points: np.ndarray, condensed: np.ndarray | None = None) -> np.ndarray:
    if condensed is None:
        condensed = condensed_distances(points)
    deaths = h0_deaths(condensed, len(points))
    return np.column_stack([np.zeros(len(deaths)), deaths])


def higher_diagrams(points: np.ndarray, maxdim: int, condensed: np.ndarray | None = None) -> list[np.ndarray]:
    """Finite H1..H_maxdim pairs from ripser (H0 comes from :func:`h0_diagram`).

    ``ripser()`` recomputes the distance matrix with scikit-learn and converts it; its compiled
    core takes the condensed distances (pdist order) directly, which halves the cost on the
    small clouds used here.
    """
    if maxdim < 1:
        return []
    if len(points) < 3:
        return [EMPTY] * maxdim
    if _rips_condensed is None:  # pragma: no cover
        diagrams = ripser(points, maxdim=maxdim)["dgms"]
    else:
        if condensed is None:
            condensed = condensed_distances(points)
        result = _rips_condensed(np.asarray(condensed, dtype=np.float32), maxdim, np.inf, 2, False)
        diagrams = [np.reshape(np.asarray(d, dtype=float), (-1, 2)) for d in result["births_and_deaths_by_dim"]]
    return [_finite(diagrams[k]) if k < len(diagrams) else EMPTY for k in range(1, maxdim + 1)]


def _finite(diagram: np.ndarray) -> np.ndarray:
    if len(diagram) == 0:
        return EMPTY
    return diagram[np.isfinite(diagram[:, 1])]
