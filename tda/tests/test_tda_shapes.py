"""Persistence and Betti numbers of shapes whose topology is known."""
import numpy as np
import pytest
from ripser import ripser

from tda.betti import betti_numbers
from tda.persistence import h0_diagram, higher_diagrams
from tda.summaries import persistence_entropy, summarise


def circle(n=60, noise=0.03, seed=0):
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(angles), np.sin(angles)] + rng.normal(scale=noise, size=(n, 2))


def fibonacci_sphere(n=120):
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * i / n)
    azimuth = np.pi * (1 + 5**0.5) * i
    return np.c_[np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)]


def test_points_on_a_circle_have_one_component_and_one_loop():
    assert betti_numbers(circle(), maxdim=1) == [1, 1, 0]


def test_two_far_clusters_have_two_components_and_no_loop():
    rng = np.random.default_rng(1)
    clusters = np.r_[rng.normal(size=(30, 2)) * 0.1, rng.normal(size=(30, 2)) * 0.1 + 10.0]
    assert betti_numbers(clusters, maxdim=1) == [2, 0, 0]


def test_points_on_a_sphere_enclose_one_void():
    assert betti_numbers(fibonacci_sphere(), maxdim=2) == [1, 0, 1]


def test_h0_from_the_spanning_tree_equals_ripser():
    points = np.random.default_rng(2).normal(size=(40, 3))
    expected = ripser(points, maxdim=0)["dgms"][0]
    expected = np.sort(expected[np.isfinite(expected[:, 1]), 1])
    assert np.allclose(h0_diagram(points)[:, 1], expected, atol=1e-6)


def test_higher_diagrams_equal_ripser():
    points = circle(40, seed=3)
    h1 = higher_diagrams(points, maxdim=1)[0]
    expected = ripser(points, maxdim=1)["dgms"][1]
    assert np.allclose(np.sort(h1, axis=0), np.sort(expected, axis=0), atol=1e-6)


def test_summaries_of_a_hand_made_diagram():
    diagram = np.array([[0.0, 1.0], [0.5, 1.0], [0.0, 2.0]])  # lifetimes 1, 0.5, 2
    s = summarise(diagram, "h1")
    assert s["h1_total_persistence"] == pytest.approx(3.5)
    assert s["h1_max_persistence"] == pytest.approx(2.0)
    # entropy of (1, 0.5, 2) / 3.5
    p = np.array([1, 0.5, 2]) / 3.5
    assert s["h1_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert s["h1_landscape_l1"] == pytest.approx((1 + 0.25 + 4) / 4)  # sum of lifetime^2 / 4
    assert s["h1_landscape_l2"] == pytest.approx(np.sqrt((1 + 0.125 + 8) / 12))  # sqrt(sum l^3 / 12)


def test_landscape_l2_equals_the_numerical_integral_of_the_sorted_landscapes():
    diagram = np.array([[0.0, 1.0], [0.2, 1.5], [0.9, 1.2]])
    grid = np.linspace(0.0, 1.5, 150001)
    tents = np.maximum(0, np.minimum(grid - diagram[:, :1], diagram[:, 1:] - grid))
    landscapes = -np.sort(-tents, axis=0)  # lambda_1 >= lambda_2 >= lambda_3 at every point
    numeric = np.sqrt((landscapes**2).sum() * (grid[1] - grid[0]))
    assert summarise(diagram, "h1")["h1_landscape_l2"] == pytest.approx(numeric, rel=1e-4)


def test_entropy_of_an_empty_diagram_is_zero():
    assert persistence_entropy(np.zeros(0)) == 0.0


def test_prims_fallback_gives_the_same_h0_deaths():
    from scipy.spatial.distance import squareform

    from tda.persistence import condensed_distances, h0_deaths, mst_edge_lengths

    points = np.random.default_rng(4).normal(size=(25, 3))
    condensed = condensed_distances(points)
    assert np.allclose(mst_edge_lengths(squareform(condensed)), h0_deaths(condensed, 25))
