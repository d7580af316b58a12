"""The detector on synthetic series with one injected anomaly each, causality, and restarts."""
import json

import numpy as np
import pytest

from tda.nab.corpus import Series
from tda.nab.runner import detect_series
from tda import Detector, DetectorConfig

ONSET = 1500
LENGTH = 2200


def seasonal(seed, period=40):
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH)
    return 10 + np.sin(2 * np.pi * t / period) + rng.normal(scale=0.15, size=LENGTH)


def with_spike(seed):
    x = seasonal(seed)
    x[ONSET] += 4.0
    return x


def with_level_shift(seed):
    x = seasonal(seed)
    x[ONSET:] += 2.5
    return x


def with_frequency_change(seed):
    # A clean rhythm (noise 2% of the amplitude) that triples its frequency. In a noisy series
    # (noise 15%) the same change is seen (tail ~3e-3) but no higher than the noisiest ordinary
    # rows: docs/DETECTION.md, "Limits".
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH)
    phase = np.where(t < ONSET, 2 * np.pi * t / 40, 2 * np.pi * ONSET / 40 + 2 * np.pi * (t - ONSET) / 13)
    return 10 + np.sin(phase) + rng.normal(scale=0.02, size=LENGTH)


def scores_of(series, config=None):
    detector = Detector(config or DetectorConfig())
    return np.array([detector.update(60.0 * i, float(v)).gated_score for i, v in enumerate(series)])


@pytest.mark.parametrize(
    "make, rows_to_notice",
    [
        (with_spike, 10),
        (with_level_shift, 10),
        # A new rhythm must fill part of the window before its shape differs: about 1.5 periods.
        (with_frequency_change, 60),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_injected_anomaly_scores_above_everything_else(make, rows_to_notice, seed):
    scores = scores_of(make(seed))
    # Flagged soon after its onset, higher than any other row of the series after warm-up.
    near = scores[ONSET : ONSET + rows_to_notice]
    elsewhere = np.r_[scores[300:ONSET], scores[ONSET + rows_to_notice :]]
    assert near.max() > elsewhere.max()
    assert near.max() >= DetectorConfig().threshold


def test_appending_future_rows_does_not_change_past_scores():
    values = with_spike(3)
    timestamps = [f"2024-01-{1 + i // 1440:02d} {i // 60 % 24:02d}:{i % 60:02d}:00" for i in range(LENGTH)]
    full = Series("cat/x.csv", timestamps, [repr(float(v)) for v in values])
    prefix = Series("cat/x.csv", timestamps[:1200], [repr(float(v)) for v in values[:1200]])
    assert detect_series(prefix, DetectorConfig()) == detect_series(full, DetectorConfig())[:1200]


def assert_restored_state_continues_identically(original, values, edit_state=lambda state: None):
    """Feed ``original`` 1,300 rows, restore its JSON state (after ``edit_state``), and compare
    the next 400 detections of both."""
    for i, v in enumerate(values[:1300]):
        original.update(60.0 * i, v)
    state = json.loads(json.dumps(original.get_state()))
    edit_state(state)
    restored = Detector.from_state(state)
    later = [(60.0 * i, v) for i, v in enumerate(values[1300:1700], start=1300)]
    assert [restored.update(t, v).to_dict() for t, v in later] == [original.update(t, v).to_dict() for t, v in later]


@pytest.mark.parametrize(
    "config",
    [
        DetectorConfig(),
        # Small rings, so every circular buffer wraps before the save; H2 on.
        DetectorConfig(window=24, maxdim=2, history_span=100, history_min=20, reference_size=50, h1_stride=3),
    ],
)
def test_save_and_restore_through_json_gives_identical_later_detections(config):
    assert_restored_state_continues_identically(Detector(config), with_level_shift(4))


def test_state_saved_before_the_daily_phase_analogues_and_range_rules_existed_continues_without_them():
    def as_an_older_topoforge_saved_it(state):
        del state["config"]["daily_phase_radius"], state["config"]["analogues"], state["reference_summaries"]
        del state["config"]["range_tolerance"], state["value_range"], state["config"]["young_history"]
        del state["config"]["recent_range_rows"], state["recent_values"]

    older = DetectorConfig(daily_phase_radius=0.0, analogues=0, range_tolerance=0.0, young_history=False,
                           recent_range_rows=0)
    assert_restored_state_continues_identically(Detector(older), with_level_shift(5), as_an_older_topoforge_saved_it)


def test_a_young_stream_needs_rarer_rows_to_alarm_until_its_history_is_full():
    """The gate sees the same rows with and without the correction; the reported tail is the
    plain one times sqrt(history_span / rows of history), and the same once the history is full."""
    from tda.young import young_history_factor

    assert young_history_factor(64, 2000) == pytest.approx((2000 / 64) ** 0.5)
    assert young_history_factor(2000, 2000) == young_history_factor(5000, 2000) == 1.0
    config = {"history_span": 400}
    on, off = Detector(DetectorConfig(**config)), Detector(DetectorConfig(young_history=False, **config))
    young = full = 0
    for t, value in enumerate(with_spike(2)):
        a, b = on.update(1_700_000_000.0 + 300 * t, value), off.update(1_700_000_000.0 + 300 * t, value)
        assert a.warming_up == b.warming_up
        if b.warming_up:
            continue
        count = min(off.row_history.count - 1, 400)
        if count < 400:
            factor = young_history_factor(count, 400)
            assert 1.0 - a.score == pytest.approx(min(1.0, (1.0 - b.score) * factor), rel=1e-9, abs=1e-12)
            young += 1
        else:
            assert a.score == b.score and a.is_anomaly == b.is_anomaly
            full += 1
    assert young > 300 and full > 100


def with_slow_rise(seed):
    """The seasonal series whose level climbs by one unit over 600 rows from ``ONSET``: every
    row lies close to the row before, and to the peaks of the last cycles."""
    return seasonal(seed) + np.clip((np.arange(LENGTH) - ONSET) / 600, 0, 1)


@pytest.mark.parametrize("seed", [0, 3])
def test_a_value_beyond_the_whole_past_range_alarms_where_the_ranked_features_do_not(seed):
    values = with_slow_rise(seed)
    past_high, past_low = np.maximum.accumulate(values)[:-1], np.minimum.accumulate(values)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):  # the first rows' range is one value
        excess = np.maximum(values[1:] - past_high, past_low - values[1:]) / (past_high - past_low)
    beyond = 1 + np.nonzero(excess > DetectorConfig().range_tolerance)[0]
    first = int(beyond[beyond >= 300][0])  # after warm-up
    assert first > ONSET  # the rise, not the noise of the young stream, leaves the range first

    def detection_at_first(range_tolerance):
        detector = Detector(DetectorConfig(range_tolerance=range_tolerance))
        return [detector.update(60.0 * i, float(v)) for i, v in enumerate(values[: first + 1])][-1]

    detection = detection_at_first(DetectorConfig().range_tolerance)
    assert detection.is_anomaly and detection.severity == "critical"
    assert detection.summaries["range_excess"] == pytest.approx(excess[first - 1])
    assert not detection_at_first(0.0).is_anomaly


def bursts_then_calm(seed, burst_at=2000):
    """Calm noise with a burst (5-10 units) every 100 rows up to row 1,300, then 700 calm rows
    and one burst of 2 units at ``burst_at``: within the whole past's range, and a burst like
    the ones in the feature history, but far above everything of the last 500 rows (the
    pattern of NAB's rogue-agent key series)."""
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(scale=0.1, size=LENGTH))
    for start in range(300, 1300, 100):
        x[start:start + 3] += rng.uniform(5, 10, size=3)
    x[burst_at:burst_at + 3] += 2.0
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_a_burst_far_above_the_recent_range_alarms_after_bigger_bursts_widened_the_whole_range(seed):
    values = bursts_then_calm(seed)

    def run(recent_range_rows):
        detector = Detector(DetectorConfig(recent_range_rows=recent_range_rows))
        return [detector.update(300.0 * i, float(v)) for i, v in enumerate(values)]

    on, off = run(DetectorConfig().recent_range_rows), run(0)
    recent = values[2000 - DetectorConfig().recent_range_rows : 2000]
    expected = (values[2000] - recent.max()) / (recent.max() - recent.min())
    assert expected > DetectorConfig().recent_range_tolerance
    assert on[2000].summaries["recent_range_excess"] == pytest.approx(expected)
    assert on[2000].summaries["range_excess"] == 0.0  # the whole past's rule does not fire
    assert on[2000].is_anomaly and on[2000].severity == "critical"
    assert not off[2000].is_anomaly and off[2000].summaries["recent_range_excess"] == 0.0
    alarms = {rows: {i for i, d in enumerate(detections) if d.is_anomaly} for rows, detections in (("on", on), ("off", off))}
    assert alarms["on"] - alarms["off"] == {2000}  # the only alarm the rule adds


def test_recent_values_keep_the_range_of_the_last_rows_only():
    from tda.ranges import RecentValues, excess_outside

    recent = RecentValues(3)
    assert recent.range() is None
    for value in (9.0, 1.0, 2.0, 3.0):
        recent.add(value)
    assert recent.range() == (1.0, 3.0)  # 9 has left the ring
    assert RecentValues.from_state(json.loads(json.dumps(recent.get_state())), 3).range() == (1.0, 3.0)
    assert excess_outside(5.0, 1.0, 3.0) == 1.0 and excess_outside(2.0, 1.0, 3.0) == 0.0
    assert excess_outside(5.0, 3.0, 3.0) == 0.0  # a range of one value measures nothing


def test_vector_streams_keep_no_range():
    detector = Detector()
    detections = [detector.update(float(i), [float(i), 1.0]) for i in range(200)]
    assert detector.value_range is None and detector.recent_values is None
    assert {d.summaries["range_excess"] for d in detections if not d.warming_up} == {0.0}
    assert {d.summaries["recent_range_excess"] for d in detections if not d.warming_up} == {0.0}


FIVE_MINUTES, DAY_ROWS, MISSING_DAY = 300.0, 288, 14


def office_hours_without_one_jump(seed):
    """Five-minute rows, high from 09:00 to 17:00 every day except ``MISSING_DAY`` (NAB's
    art_daily_nojump): that day's low level at noon is only ever seen at night."""
    rng = np.random.default_rng(seed)
    row = np.arange(DAY_ROWS * 16)
    hour = (row % DAY_ROWS) / 12
    values = np.where((hour >= 9) & (hour < 17) & (row // DAY_ROWS != MISSING_DAY), 1.0, 0.0)
    return row * FIVE_MINUTES, values + rng.normal(scale=0.05, size=len(row))


@pytest.mark.parametrize("seed", [0, 1])
def test_daily_phase_finds_a_missing_daily_jump(seed):
    timestamps, values = office_hours_without_one_jump(seed)
    missed = slice(MISSING_DAY * DAY_ROWS + 9 * 12, MISSING_DAY * DAY_ROWS + 12 * 12)  # 09:00-12:00
    ordinary = slice(3 * DAY_ROWS, MISSING_DAY * DAY_ROWS)

    def run(radius):
        detector = Detector(DetectorConfig(daily_phase_radius=radius))
        detections = [detector.update(t, v) for t, v in zip(timestamps, values)]
        deaths = np.array([d.summaries.get("h0_insertion_death", 0.0) for d in detections])
        return detections, deaths

    detections, deaths = run(DetectorConfig().daily_phase_radius)
    assert deaths[missed].max() > 2 * deaths[ordinary].max()
    assert any(d.is_anomaly for d in detections[missed])
    # Without the phase the same rows are states the stream visits every night.
    detections, deaths = run(0.0)
    assert deaths[missed].max() < deaths[ordinary].max()
    assert not any(d.is_anomaly for d in detections[missed])


def test_vector_stream_alarms_when_its_loop_breaks():
    rng = np.random.default_rng(5)
    angles = 2 * np.pi * np.arange(LENGTH) / 32
    vectors = np.c_[np.cos(angles), np.sin(angles)] + rng.normal(scale=0.05, size=(LENGTH, 2))
    vectors[ONSET:, 1] = 0.0  # the orbit collapses onto a line: the loop disappears
    detector = Detector()
    detections = [detector.update(float(i), v) for i, v in enumerate(vectors)]
    assert any(d.is_anomaly for d in detections[ONSET : ONSET + 10])
    assert detections[ONSET - 1].betti_h1 == 1 and detections[ONSET + 40].betti_h1 == 0
