"""Takens embedding, the automatic delay, and the daily phase."""
import numpy as np
import pytest

from tda.embedding import DAY_SECONDS, choose_delay, daily_phase, delay_embed, max_delay_for


def test_delay_embedding_rows_are_lagged_values():
    points = delay_embed(np.arange(10.0), dim=3, delay=2)
    assert points.shape == (6, 3)
    assert points[0].tolist() == [0.0, 2.0, 4.0] and points[-1].tolist() == [5.0, 7.0, 9.0]
    with pytest.raises(ValueError):
        delay_embed(np.arange(4.0), dim=3, delay=2)


def test_delay_is_the_decorrelation_time_capped_at_half_the_window():
    period = 40
    sine = np.sin(2 * np.pi * np.arange(400) / period)
    # cos(2*pi*lag/40) < 1/e first at lag 8 (a fifth of the period).
    assert choose_delay(sine, max_delay=30) == 8
    assert choose_delay(sine, max_delay=max_delay_for(window=16, dim=3)) == 4
    assert choose_delay(np.ones(50), max_delay=10) == 1  # no variance: the shortest delay


@pytest.mark.parametrize("radius", [1.0, 2.5])
def test_daily_phase_is_a_circle_of_one_day(radius):
    noon, midnight = 12 * 3600.0, 0.0
    assert np.linalg.norm(daily_phase(noon, radius)) == pytest.approx(radius)
    # Twelve hours apart: opposite ends of a diameter; a day apart: the same point.
    assert np.linalg.norm(daily_phase(noon, radius) - daily_phase(midnight, radius)) == pytest.approx(2 * radius)
    assert daily_phase(noon + 3 * DAY_SECONDS, radius) == pytest.approx(daily_phase(noon, radius))
    six_hours = np.linalg.norm(daily_phase(6 * 3600.0, radius) - daily_phase(midnight, radius))
    assert six_hours == pytest.approx(np.sqrt(2) * radius)
