"""The score's two building blocks: tail probabilities of features, and the one-alarm-per-incident gate."""
import numpy as np

from tda.scoring import AlarmGate, EmpiricalTails


def history_of(values, upper_only):
    tails = EmpiricalTails(n_features=2, span=500, upper_only=upper_only)
    for value in values:
        tails.add(np.array([value, value]))
    return tails


def test_a_value_far_below_the_past_is_rare_on_a_two_sided_feature_and_ordinary_on_a_distance():
    rng = np.random.default_rng(0)
    tails = history_of(rng.normal(0.0, 1.0, 400), upper_only=[False, True])
    two_sided, distance = tails.tails(np.array([-8.0, -8.0]), learn=False)
    assert two_sided < 0.01
    assert distance >= 2 * EmpiricalTails.TAIL_FRACTION  # as ordinary as any central value


def test_a_value_far_above_the_past_is_rare_on_both_kinds():
    rng = np.random.default_rng(1)
    tails = history_of(rng.normal(0.0, 1.0, 400), upper_only=[False, True])
    p = tails.tails(np.array([8.0, 8.0]), learn=False)
    assert np.all(p < 0.01)
    assert p[0] == p[1]  # both kinds share one scale


def test_tail_state_round_trip_keeps_the_per_feature_kinds():
    rng = np.random.default_rng(2)
    tails = history_of(rng.normal(0.0, 1.0, 100), upper_only=[False, True])
    restored = EmpiricalTails.from_state(tails.get_state(), span=500, upper_only=[False, True])
    probe = np.array([-6.0, -6.0])
    assert np.array_equal(restored.tails(probe, learn=False), tails.tails(probe, learn=False))


def gate():
    return AlarmGate(threshold=0.99, calm_rows=4, quiet_period=50, damping=0.5)


def test_an_incident_alarms_once_and_the_gate_rearms_after_calm_rows():
    g = gate()
    assert g.apply(0.995) == 0.995  # the alarm
    assert g.apply(0.995) == 0.995 * 0.5  # the same incident, unfolding
    for _ in range(3):
        assert g.apply(0.2) == 0.2 * 0.5  # calm, but still inside the quiet period
    assert g.apply(0.2) == 0.2  # the calm_rows-th calm row ends the quiet period
    assert g.apply(0.995) == 0.995  # the next alarm is news


def test_a_row_that_is_not_calm_restarts_the_count_of_calm_rows():
    g = gate()
    g.apply(0.995)
    for score in (0.2, 0.2, 0.95, 0.2, 0.2, 0.2):
        g.apply(score)
    assert g.apply(0.995) == 0.995 * 0.5  # only three calm rows since the 0.95


def test_a_far_rarer_row_breaks_through_the_quiet_period():
    g = gate()
    g.apply(0.99)  # tail probability 0.01
    assert g.apply(0.9995) == 0.9995 * 0.5  # 20x rarer: still the same incident
    assert g.apply(0.99995) == 0.99995  # 200x rarer: a new incident
    assert g.apply(0.9999) == 0.9999 * 0.5  # measured against the new alarm now


def test_an_alarm_beyond_the_measurable_tail_admits_no_breakthrough():
    g = AlarmGate(threshold=0.99, calm_rows=4, quiet_period=50, damping=0.5, measurable_tail=1e-3)
    g.apply(1 - 1e-4)  # rarer than one row in the past: an extrapolated tail
    assert g.apply(1 - 1e-7) == (1 - 1e-7) * 0.5  # "1000x rarer" is the same incident deepening
    for _ in range(4):
        g.apply(0.2)
    g.apply(1 - 2e-3)  # a new incident, within the measured range
    assert g.apply(1 - 1e-6) == 1 - 1e-6  # a far rarer row breaks through again


def test_the_quiet_period_ends_after_quiet_period_rows_even_without_calm():
    g = gate()
    g.apply(0.995)
    for _ in range(50):
        assert g.apply(0.95) == 0.95 * 0.5
    assert g.apply(0.995) == 0.995  # a state that lasts is the new normal


def test_a_state_saved_by_the_fixed_length_gate_restores_its_quiet_period():
    g = gate()
    g.set_state({"remaining": 10})
    assert g.quiet and g.since == 40
    g.set_state({"remaining": 0})
    assert not g.quiet
    assert g.apply(0.995) == 0.995
