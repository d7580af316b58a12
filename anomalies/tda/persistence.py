"""Vietoris–Rips persistence of a small point cloud, with a fast path for H0.

H0 of a Rips filtration is exactly single-linkage clustering: every class is born at 0 and the
finite deaths are the edge lengths of a minimum spanning tree of the complete distance graph.
Prim's algorithm on the dense distance matrix gives them in O(n^2) numpy work, several times
cheaper than a full ripser call. H1 (and H2) need ripser.
"""
from __future__ import annotations

import numpy as np
from ripser import ripser

EMPTY = np.zeros((0, 2))


def distance_matrix(points: np.ndarray) -> np.ndarray:
    squared = np.einsum("ij,ij->i", points, points)
    d2 = squared[:, None] + squared[None, :] - 2.0 * (points @ points.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


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


def h0_diagram(points: np.ndarray) -> np.ndarray:
    deaths = mst_edge_lengths(distance_matrix(points))
    return np.column_stack([np.zeros(len(deaths)), deaths])


def higher_diagrams(points: np.ndarray, maxdim: int) -> list[np.ndarray]:
    """Finite H1..H_maxdim pairs from ripser (H0 comes from :func:`h0_diagram`)."""
    if maxdim < 1:
        return []
    if len(points) < 3:
        return [EMPTY] * maxdim
    diagrams = ripser(points, maxdim=maxdim)["dgms"]
    return [_finite(diagrams[k]) for k in range(1, maxdim + 1)]


def _finite(diagram: np.ndarray) -> np.ndarray:
    if len(diagram) == 0:
        return EMPTY
    return diagram[np.isfinite(diagram[:, 1])]
