"""The streaming detector: one observation in, one :class:`Detection` out."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from functools import partial

import numpy as np

from .embedding import choose_delay, daily_phase, delay_embed, max_delay_for
from .normalise import OnlineNormaliser, robust_location_scale
from .ranges import RecentValues, excess_outside
from .persistence import condensed_distances, h0_diagram, higher_diagrams
from .scoring import AlarmGate, EmpiricalTails, combined_tail, log_features
from .severity import severity_for_score
from .betti import NoiseBand, betti_curve_summary
from .explain import TYPICAL_SUMMARIES, explain
from .summaries import filtration_scale, summarise
from .young import young_history_score

STATE_VERSION = 1
# Vector streams: rows at least this unusual stay out of the past (see Detector._censor).
CENSOR_LEVEL = 0.99


SCORE_FEATURE_SETS = ("all", "topology", "residual")


@dataclass
class DetectorConfig:
    """Every parameter of the engine; docs/DETECTION.md explains each choice."""

    window: int = 32  # rows in the sliding window
    embedding_dim: int = 3  # Takens dimension for scalar streams (1 = no embedding)
    embedding_delay: int = 0  # Takens delay in rows; 0 = automatic (autocorrelation < 1/e)
    delay_sample: int = 96  # rows observed before the automatic delay is fixed
    maxdim: int = 1  # highest homology dimension (1, or 2 for voids)
    reference_size: int = 3000  # embedded points of the recent past the newest point is compared with
    daily_phase_radius: float = 1.0  # time-of-day circle added to a scalar stream's inserted point (0 = off)
    analogues: int = 32  # nearest past states whose windows a scalar stream's window summaries must beat (0 = off)
    range_tolerance: float = 0.05  # a scalar value this share of its whole past range outside it is an anomaly (0 = off)
    recent_range_rows: int = 500  # the recent range rule's past: a scalar stream's last values (0 = off)
    recent_range_tolerance: float = 1.0  # ... and how far outside their range, as a share of it, is an anomaly
    young_history: bool = True  # a scalar stream's tail times sqrt(history_span / rows of history) until full
    h1_stride: int = 4  # H1/H2 are recomputed every `h1_stride` rows (H0 on every row)
    normaliser_span: int = 2000  # memory (rows) of the online mean/variance
    history_span: int = 2000  # rows of past features each new one is ranked against
    history_min: int = 64  # rows of features before the score leaves warm-up
    score_features: str = "topology"  # "topology"; "all" adds the residual features; "residual" (ablation)
    threshold: float = 0.99  # score >= threshold -> is_anomaly (and the quiet period starts)
    quiet_period: int = 200  # longest quiet period after an alarm (rows); a longer state is the new normal
    quiet_damping: float = 0.5  # factor applied to the score during the quiet period
    betti_scale_factor: float = 2.0  # Betti numbers read at factor * quantile of H0 deaths
    betti_scale_quantile: float = 0.95

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        need(self.window >= 4, "window must be at least 4")
        need(self.embedding_dim >= 1, "embedding_dim must be at least 1")
        need(self.embedding_delay >= 0, "embedding_delay must be 0 (automatic) or positive")
        need(
            self.window - (self.embedding_dim - 1) * max(self.embedding_delay, 1) >= 4,
            "window too short for embedding_dim and embedding_delay",
        )
        need(self.delay_sample >= self.window, "delay_sample must be at least window")
        need(self.maxdim in (0, 1, 2), "maxdim must be 0, 1 or 2")
        need(self.reference_size >= 16, "reference_size must be at least 16")
        need(self.daily_phase_radius >= 0.0, "daily_phase_radius must be 0 (off) or positive")
        need(self.analogues >= 0, "analogues must be 0 (off) or positive")
        need(self.range_tolerance >= 0.0, "range_tolerance must be 0 (off) or positive")
        need(self.recent_range_rows >= 0, "recent_range_rows must be 0 (off) or positive")
        need(self.recent_range_tolerance > 0.0, "recent_range_tolerance must be positive")
        need(self.h1_stride >= 1, "h1_stride must be at least 1")
        need(self.normaliser_span >= 1, "normaliser_span must be at least 1")
        need(self.history_span >= 16, "history_span must be at least 16")
        need(2 <= self.history_min <= self.history_span, "history_min must be in [2, history_span]")
        need(self.score_features in SCORE_FEATURE_SETS, f"score_features must be one of {SCORE_FEATURE_SETS}")
        need(0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]")
        need(self.quiet_period >= 0, "quiet_period must be 0 or positive")
        need(0.0 <= self.quiet_damping <= 1.0, "quiet_damping must be in [0, 1]")
        need(self.betti_scale_factor > 0.0, "betti_scale_factor must be positive")
        need(0.0 < self.betti_scale_quantile <= 1.0, "betti_scale_quantile must be in (0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def reference_capacity(self) -> int:
        """Ring size of the reference cloud: the reference plus its Theiler window."""
        return self.reference_size + self.window

    @property
    def higher_history_span(self) -> int:
        """Rows of past H1/H2 features kept (they arrive every ``h1_stride`` rows)."""
        return max(16, self.history_span // self.h1_stride)

    def vector_warmup_rows(self) -> int:
        """Rows a vector stream scores 0 for: a window, a window of reference past for the
        newest vector to be compared with, then ``history_min`` rows of that comparison."""
        return 3 * self.window + self.history_min - 1

    @classmethod
    def from_dict(cls, data: dict) -> "DetectorConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown detector setting(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass
class Detection:
    """One row's verdict. ``score`` is the row's rarity (1 - its tail probability), None while
    the detector is ``warming_up`` (it has no past to rank the row against yet); ``suppressed``
    is the alarm gate's decision that the row belongs to the incident an earlier alarm raised
    (its quiet period), so it does not alarm again whatever its rarity. ``gated_score`` is the
    single number NAB's results format ranks: 0 in warm-up, the rarity times ``quiet_damping``
    while suppressed, else the rarity; it is not stored.

    ``explanation`` (why the row scored as it did, ``tda.explain``; ``{}`` in warm-up) is built
    the first time it is read, from facts the detector captured with the row: a consumer that
    only ranks scores (the NAB run) never pays for its dicts and sentence."""

    timestamp: float
    score: float | None
    is_anomaly: bool
    severity: str
    betti_h0: int = 0
    betti_h1: int = 0
    betti_h2: int = 0
    summaries: dict = field(default_factory=dict)
    diagram: dict = field(default_factory=lambda: {"h0": [], "h1": [], "h2": []})
    warming_up: bool = False
    suppressed: bool = False
    gated_score: float = 0.0
    # The explanation's builder (no argument) until it is read, then None; the explanation itself.
    _explain: object = field(default=None, repr=False, compare=False)
    _explanation: dict | None = field(default=None, repr=False, compare=False)

    @property
    def explanation(self) -> dict:
        if self._explanation is None:
            self._explanation = {} if self._explain is None else self._explain()
            self._explain = None
        return self._explanation

    def to_dict(self) -> dict:
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}
        data["explanation"] = copy.deepcopy(self.explanation)
        return data


H0_FEATURES = (
    "h0_total_persistence",
    "h0_max_persistence",
    "h0_entropy",
    "h0_newest_persistence",
    "h0_insertion_death",
)
# The window's own H0 summaries: a scalar stream also judges them against its analogues.
WINDOW_SUMMARY_FEATURES = ("h0_total_persistence", "h0_max_persistence", "h0_entropy")
WINDOW_SUMMARY_COLUMNS = [H0_FEATURES.index(name) for name in WINDOW_SUMMARY_FEATURES]  # in a scalar row
HIGHER_FEATURES = ("total_persistence", "max_persistence", "landscape_l2")
RESIDUAL_FEATURES = ("value_deviation", "step_deviation")
# What a vector stream's score ranks: where its newest vector lies relative to the recent past
# (the H0 death of its insertion into the reference cloud, and its largest robust deviation in
# any one component). The window's own summaries are reported but not scored: an incident stays
# in the window, and in them, for ``window`` rows after it ends.
VECTOR_FEATURES = ("h0_insertion_death", "max_robust_deviation")
# Distances from the past: only a large one is news, so they are ranked on their upper tail alone.
# (The window's own summaries are two-sided: a stream gone flat collapses its persistence.)
DISTANCE_FEATURES = frozenset(
    ("h0_newest_persistence", "h0_insertion_death", "max_robust_deviation") + RESIDUAL_FEATURES
)


@dataclass
class _Higher:
    """The last H1/H2 computation; reused (for display) until the next one."""

    diagrams: list = field(default_factory=list)
    summaries: dict = field(default_factory=dict)


class Detector:
    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        config = self.config
        self.rows = 0
        self.dim: int | None = None  # 1 for a scalar stream, else the feature-vector length
        self.scalar = True
        self.delay = config.embedding_delay or None
        self.delay_history: list[float] = []
        self.buffer: np.ndarray | None = None
        self.head = 0  # next write position in the circular buffer
        self.normaliser: OnlineNormaliser | None = None
        self.previous: np.ndarray | None = None
        self.row_history: EmpiricalTails | None = None  # H0 + residual features, every row
        self.higher_history: EmpiricalTails | None = None  # H1/H2 features, every h1_stride rows
        self.gate = AlarmGate(
            config.threshold, config.window, config.quiet_period, config.quiet_damping,
            measurable_tail=1.0 / config.history_span,
        )
        self.higher = _Higher()
        self.noise_band = NoiseBand(config.maxdim)
        self.reference: np.ndarray | None = None  # ring of past embedded points (raw units)
        self.reference_count = 0
        # Scalar streams: the logged window summaries at each reference point, and this row's
        # analogues (the reference slots of its nearest past states; found and used in one update).
        self.reference_summaries: np.ndarray | None = None
        self._analogues: np.ndarray | None = None
        self.censored = 0  # consecutive alarming rows of a vector stream kept out of its past
        self.value_range: list[float] | None = None  # [min, max] of every value a scalar stream has shown
        self.recent_values: RecentValues | None = None  # a scalar stream's last recent_range_rows values
        self._replaced: tuple | None = None  # this row's reference slot and what it held before
        # This row's facts for its explanation: the value ranges before it, its analogues' distances.
        self._range_before: tuple | None = None
        self._recent_before: tuple | None = None
        self._analogue_distances: np.ndarray | None = None

    # -- the stream -------------------------------------------------------------------------

    def update(self, timestamp: float, value) -> Detection:
        x = self._observation(value)
        config = self.config
        # The past's location and scale: a jump is measured against them, not absorbed by itself.
        mean, scale = self.normaliser.mean.copy(), self.normaliser.scale()
        residual = self._residual(x, mean, scale)
        excesses = self._range_excess(x), self._recent_range_excess(x)
        self.buffer[self.head] = x
        self.head = (self.head + 1) % config.window
        self.normaliser.update(x)
        self.previous = x
        self.rows += 1
        if self.delay is None:
            self.delay_history.append(float(x[0]))
            if len(self.delay_history) >= config.delay_sample:
                self.delay = choose_delay(
                    np.asarray(self.delay_history), max_delay_for(config.window, config.embedding_dim)
                )
                self.delay_history = []
        if self.delay is None or self.rows < config.window:
            return self._detection(timestamp, None, None, {})
        return self._analyse(timestamp, scale, residual, excesses)

    def _observation(self, value) -> np.ndarray:
        x = np.atleast_1d(np.asarray(value, dtype=float))
        if x.ndim != 1 or len(x) == 0:
            raise ValueError("value must be a number or a flat sequence of numbers")
        if not np.all(np.isfinite(x)):
            raise ValueError("value must be finite")
        if self.dim is None:
            self._start(x, scalar=np.ndim(value) == 0)
        elif len(x) != self.dim:
            raise ValueError(f"value has {len(x)} component(s); this stream has {self.dim}")
        return x

    def _start(self, x: np.ndarray, scalar: bool) -> None:
        self.dim = len(x)
        self.scalar = scalar and self.dim == 1
        if not self.scalar:
            self.delay = 1  # vector streams use the raw point cloud, no embedding
        self.buffer = np.zeros((self.config.window, self.dim))
        self.normaliser = OnlineNormaliser(self.dim, self.config.normaliser_span)

    def _range_excess(self, x: np.ndarray) -> float:
        """How far a scalar value lies outside the range of every earlier value, as a share of
        that range (0 inside it, and while the range is still a single value); then the value
        joins the range. Vector streams, and scalar ones with ``range_tolerance`` 0 (off), keep
        no range and report 0."""
        if not self.scalar or self.config.range_tolerance == 0.0:
            return 0.0
        value = float(x[0])
        if self.value_range is None:
            self.value_range = [value, value]
            return 0.0
        low, high = self.value_range
        self._range_before = (low, high)
        self.value_range = [min(low, value), max(high, value)]
        return excess_outside(value, low, high)

    def _recent_range_excess(self, x: np.ndarray) -> float:
        """How far a scalar value lies outside the range of the last ``recent_range_rows``
        values, as a share of that range (``tda/ranges.py``); then the value joins them. 0 for
        vector streams and with the rule off."""
        if not self.scalar or self.config.recent_range_rows == 0:
            return 0.0
        value = float(x[0])
        if self.recent_values is None:
            self.recent_values = RecentValues(self.config.recent_range_rows)
        recent = self.recent_values.range()
        self.recent_values.add(value)
        self._recent_before = recent
        return 0.0 if recent is None else excess_outside(value, *recent)

    def _residual(self, x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> dict[str, float]:
        """Distance of the new observation from the running mean and from the previous one."""
        if self.previous is None:
            return {"value_deviation": 0.0, "step_deviation": 0.0}
        return {
            "value_deviation": float(np.linalg.norm((x - mean) / scale)),
            "step_deviation": float(np.linalg.norm((x - self.previous) / scale)),
        }

    # -- topology and score --------------------------------------------------------------------

    def _window(self) -> np.ndarray:
        return np.concatenate([self.buffer[self.head :], self.buffer[: self.head]])

    def point_cloud(self, scale: np.ndarray) -> np.ndarray:
        """The current window as a point cloud, in units of the stream's standard deviation."""
        window = self._window() / scale
        if self.scalar and self.config.embedding_dim > 1:
            return delay_embed(window[:, 0], self.config.embedding_dim, self.delay)
        return window

    def _analyse(self, timestamp: float, scale: np.ndarray, residual: dict, excesses: tuple) -> Detection:
        config = self.config
        range_excess, recent_excess = excesses
        cloud = self.point_cloud(scale)
        condensed = condensed_distances(cloud)
        h0 = h0_diagram(cloud, condensed)
        summaries = summarise(h0, "h0")
        newest = np.sqrt(((cloud[:-1] - cloud[-1]) ** 2).sum(axis=1)).min() if len(cloud) > 1 else 0.0
        summaries["h0_newest_persistence"] = float(newest)
        if self.scalar:
            summaries["h0_insertion_death"] = self._insertion_death(*self._phase_point(timestamp, scale))
            self._remember_window_summaries(summaries)
        else:
            robust_scale, summaries["max_robust_deviation"] = self._robust_scale(scale)
            summaries["h0_insertion_death"] = self._insertion_death(self._newest_point(), robust_scale)
        fresh_higher = config.maxdim >= 1 and (self.rows - config.window) % config.h1_stride == 0
        if fresh_higher:
            diagrams = higher_diagrams(cloud, config.maxdim, condensed)
            higher_summaries = {}
            for k, diagram in enumerate(diagrams, start=1):
                higher_summaries.update(summarise(diagram, f"h{k}"))
            self.higher = _Higher(diagrams=[d.tolist() for d in diagrams], summaries=higher_summaries)
        summaries.update(self.higher.summaries)
        summaries.update(residual)
        summaries["range_excess"] = range_excess
        summaries["recent_range_excess"] = recent_excess
        summaries["filtration_scale"] = filtration_scale(
            h0[:, 1], config.betti_scale_factor, config.betti_scale_quantile
        )

        tails, pending = self._feature_tails(summaries, fresh_higher)
        score = gated = None
        if tails is not None:
            score = 1.0 - min(combined_tail(tails), self._range_tail(range_excess, config.range_tolerance),
                              self._range_tail(recent_excess, config.recent_range_tolerance))
            if not self.scalar and self.censored == 0:
                self.gate.rearm()  # the last incident is over: the next one is news
            gated = self.gate.apply(score)
            if self.scalar and config.young_history:
                # The gate judges the uncorrected rarity (an incident stays one incident); what
                # the row reports is corrected for its young history (tda/young.py).
                score = young_history_score(score, self.row_history.count, config.history_span)
                gated = score * config.quiet_damping if self.gate.suppressed else score
            if not self.scalar:
                pending = self._censor(score, pending)
        for history, features in pending:
            history.add(features)
        betti, bands = self._betti(h0, summaries, fresh_higher)
        detection = self._detection(timestamp, score, h0, summaries, gated, betti)
        if tails is not None:
            detection._explain = self._explanation_builder(detection, tails, summaries, bands, excesses)
        self.noise_band.learn_typical(summaries, TYPICAL_SUMMARIES)
        return detection

    def _explanation_builder(self, detection: Detection, tails: np.ndarray, summaries: dict, bands,
                             excesses: tuple) -> partial:
        """The row's explanation, to be built when read: the facts it needs are captured now
        (copies of what the detector changes later), the dicts and the sentence are not made."""
        names = self._row_feature_names()
        if len(tails) > len(names):  # this row also ranked its H1/H2 summaries
            names = names + [f"h{k}_{name}" for k in range(1, self.config.maxdim + 1) for name in HIGHER_FEATURES]
        range_before = recent_before = None
        config = self.config
        if self.scalar and self._range_before is not None:
            range_before = (float(self.previous[0]), *self._range_before, float(excesses[0]), config.range_tolerance)
        if self.scalar and self._recent_before is not None:
            rows = min(self.recent_values.count - 1, config.recent_range_rows)
            recent_before = (*self._recent_before, rows, float(excesses[1]), config.recent_range_tolerance)
        return partial(
            explain, score=detection.score, threshold=self.config.threshold, names=names, tails=tails,
            summaries=summaries, betti=[detection.betti_h0, detection.betti_h1, detection.betti_h2],
            bands=bands, typical=dict(self.noise_band.typical), range_before=range_before,
            recent_range_before=recent_before,
            analogue_distances=self._analogue_distances if self.scalar else None,
            suppressed=detection.suppressed,
        )

    def _betti(self, h0: np.ndarray, summaries: dict, fresh_higher: bool) -> list[int]:
        """The window's Betti numbers above the stream's noise band, with the bands and the
        Betti-curve summaries added to ``summaries``; then the band learns this window (H1/H2
        on the rows that computed them). Display only: no scored feature depends on them."""
        diagrams = [h0] + [np.asarray(d, dtype=float).reshape(-1, 2) for d in self.higher.diagrams]
        betti, bands = self.noise_band.betti(diagrams)
        for k, (diagram, band) in enumerate(zip(diagrams, bands)):
            summaries[f"h{k}_noise_band"] = float(band)
            summaries.update(betti_curve_summary(diagram, f"h{k}"))
        self.noise_band.learn(0, h0)
        if fresh_higher:
            for k, diagram in enumerate(diagrams[1:], start=1):
                self.noise_band.learn(k, diagram)
        return betti, bands

    def _range_tail(self, excess: float, tolerance: float) -> float:
        """The tail probability a scalar value gets for lying more than ``tolerance`` of a past
        range outside it (1 otherwise): the stream's whole past (``range_tolerance``, a level
        never shown) or its last ``recent_range_rows`` values (``recent_range_tolerance``, a
        breakout from its recent dynamic range; ``tda/ranges.py``). Either is an anomaly
        whatever the topology says.

        Numenta's NAB detector applies the whole-past rule with the same 5 % ("spatial
        anomaly", ``SPATIAL_TOLERANCE``), for the labelling bias it names: people label a value
        beyond anything seen so far. In topological terms it is the H0 death of the value
        inserted into the one-dimensional cloud of the past values (its distance to the nearest
        of them), measured against that cloud's diameter. The ranked features cannot say this:
        they remember ``history_span`` rows and ``reference_size`` points, so a level not seen
        for longer, or reached by a ramp that stays close to the row before, is no record to
        them.

        The tail is below the gate's certain-alarm tail (the row alarms, and breaks through a
        quiet period that a measurable alarm started), and rarer the farther the value lies
        outside: a spike far beyond the range outranks a young stream's noise that stretches
        it a little. With a rule off its excess is always 0, which is within any tolerance.
        """
        if excess <= tolerance:
            return 1.0
        return self.gate.certain_alarm_tail * tolerance / excess

    def _censor(self, raw: float, pending: list) -> list:
        """SPOT's rule for vector streams: a row whose score reaches ``CENSOR_LEVEL`` (or the
        threshold, if lower) joins neither the past it is ranked against nor the reference
        cloud, so recurring incidents stay rare and a storm like the one ten minutes ago is
        still news. A state that lasts beyond ``quiet_period`` rows is the stream's new normal,
        and is learned again."""
        if raw < min(self.config.threshold, CENSOR_LEVEL):
            self.censored = 0
            return pending
        if self.censored < self.config.quiet_period:
            self.censored += 1
            self._forget_newest_reference_point()
            return []
        return pending

    def _newest_point(self) -> np.ndarray:
        """The newest embedded point, in raw units."""
        config = self.config
        if not (self.scalar and config.embedding_dim > 1):
            return self.buffer[(self.head - 1) % config.window].copy()
        lags = [(self.head - 1 - k * self.delay) % config.window for k in range(config.embedding_dim - 1, -1, -1)]
        return self.buffer[lags, 0].copy()

    def _phase_point(self, timestamp: float, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A scalar stream's point to insert, and the scale of each of its coordinates: the
        Takens point (raw units, measured in the stream's deviation) followed by the time of day
        on a circle of ``daily_phase_radius`` deviations (already in those units).

        Time of day is part of a clock-driven stream's state: a level that is normal at night
        is news at noon (a missing daily jump visits no other new state). A radius of one
        deviation gives the phase circle the variance of one value coordinate, so twelve hours
        out of phase weigh as much as two deviations in value.
        """
        point = self._newest_point()
        radius = self.config.daily_phase_radius
        if radius == 0.0:
            return point, scale
        scales = np.ones(len(point) + 2)
        scales[:-2] = scale
        return np.concatenate([point, daily_phase(timestamp, radius)]), scales

    def _insertion_death(self, point: np.ndarray, scale: np.ndarray) -> float:
        """H0 death of ``point`` (the newest) inserted into the Rips filtration of the reference cloud.

        The reference cloud is the last ``reference_size`` embedded points, except the newest
        ``window`` ones (its own temporal neighbours, which trivially lie close: the Theiler
        window of recurrence analysis). Joining that cloud, the newest point is a component of
        its own until the filtration reaches its nearest neighbour: its death is the distance to
        the nearest similar state of the recent past. Days that repeat yesterday give small
        deaths; a state the stream has not visited (a spike, a shift, a broken pattern) a large one.
        """
        config = self.config
        capacity = config.reference_capacity
        if self.reference is None:
            self.reference = np.zeros((capacity, len(point)))
        filled = min(self.reference_count, capacity)
        slot = self.reference_count % capacity
        death = 0.0
        self._analogues = None
        self._analogue_distances = None
        if filled > config.window:
            offsets = self.reference[:filled] - point
            offsets *= 1.0 / scale
            squared = np.einsum("ij,ij->i", offsets, offsets)  # a third of the time of (x**2).sum(axis=1)
            squared[self._recent_reference_rows()] = np.inf
            death = float(np.sqrt(squared.min()))
            if self._judges_by_analogues():
                self._analogues = self._nearest_slots(squared, filled, slot)
                if self._analogues is not None:
                    self._analogue_distances = np.sqrt(squared[self._analogues])
        self._replaced = (slot, self.reference[slot].copy())
        self.reference[slot] = point
        self.reference_count += 1
        return death

    def _nearest_slots(self, squared: np.ndarray, filled: int, slot: int) -> np.ndarray | None:
        """Reference slots of the ``analogues`` past states nearest to the newest one (None
        when off or while the reference holds too few). The slot about to be overwritten, the
        oldest point, is left out: it is about to hold this row's summaries."""
        k = self.config.analogues
        if filled - self.config.window <= k + 1:
            return None
        if filled == self.config.reference_capacity:
            squared[slot] = np.inf
        return np.argpartition(squared, k)[:k]

    def _judges_by_analogues(self) -> bool:
        """Whether this stream's window summaries are also ranked among its analogues."""
        return self.scalar and self.config.analogues > 0 and self.config.score_features in ("all", "topology")

    def _remember_window_summaries(self, summaries: dict) -> None:
        """Keep this window's logged H0 summaries beside its reference point."""
        if not self._judges_by_analogues():
            return
        if self.reference_summaries is None:
            self.reference_summaries = np.zeros((self.config.reference_capacity, len(WINDOW_SUMMARY_FEATURES)))
        slot = self._replaced[0]
        self.reference_summaries[slot] = log_features(np.array([summaries[n] for n in WINDOW_SUMMARY_FEATURES]))

    def _analogue_shares(self, features: np.ndarray) -> np.ndarray:
        """Per window summary, twice the share of the analogues' windows at least as extreme as
        this one on the same side (capped at 1): a two-sided tail among similar past states.

        The analogue method (Lorenz 1969): the windows that began from the states nearest to
        the newest one, at the same time of day, are what this window is compared with. A
        window that is extreme against the whole recent past but ordinary among its analogues
        (a calm hour that calm states always bring) is not news, so each window summary's tail
        probability is the larger of the two.
        """
        past = self.reference_summaries[self._analogues]
        at_least = (past >= features).mean(axis=0)
        at_most = (past <= features).mean(axis=0)
        return np.minimum(1.0, 2.0 * np.minimum(at_least, at_most))

    def _forget_newest_reference_point(self) -> None:
        """Take the newest point back out of the reference cloud (an alarming row)."""
        slot, previous = self._replaced
        self.reference[slot] = previous
        self.reference_count -= 1

    def _recent_reference_rows(self) -> np.ndarray:
        """Ring positions of the newest ``window`` reference points (the Theiler window)."""
        return (self.reference_count - 1 - np.arange(self.config.window)) % self.config.reference_capacity

    def _robust_scale(self, scale: np.ndarray) -> tuple[np.ndarray, float]:
        """The scale a vector stream's newest vector is measured in, and its largest deviation.

        Both come from the reference cloud (the recent past without the Theiler window): the
        median and the median absolute deviation per component. A running standard deviation
        is inflated for hours by one incident (a deletion wave multiplies the variance of
        ``bytes_removed``), which shrinks every later distance and hides the next incident.
        Until the reference holds more than a window, the running ``scale`` stays.
        """
        filled = min(self.reference_count, self.config.reference_capacity)
        if filled <= self.config.window:
            return scale, 0.0
        past = np.delete(self.reference[:filled], self._recent_reference_rows(), axis=0)
        centre, scale = robust_location_scale(past)
        newest = self.buffer[(self.head - 1) % self.config.window]
        return scale, float(np.abs((newest - centre) / scale).max())

    def _feature_tails(self, summaries: dict, fresh_higher: bool) -> tuple[np.ndarray | None, list]:
        """Tail probabilities of this row's features against their own past (None while that
        past is too short), and the (history, features) pairs the caller adds once it knows
        the score: every row of a scalar stream, the unremarkable rows of a vector stream.

        A vector stream's past excludes the rows that alarmed (the rule of SPOT, Siffer et al.
        2017): a feed whose incidents recur (one an hour is 3% of its 10 s buckets) would
        otherwise learn the incidents as its normal tail and stop noticing them.
        """
        config = self.config
        names = self._row_feature_names()
        row_features = log_features(np.array([summaries[name] for name in names]))
        if not self.scalar and self.reference_count < 2 * config.window + 1:
            return None, []  # the newest vector has less than a window of past to be compared with
        if self.row_history is None:
            self.row_history = EmpiricalTails(len(row_features), config.history_span, upper_only=self._upper_only())
        ready = self.row_history.count >= config.history_min
        pending = [(self.row_history, row_features)]
        tails = [self.row_history.tails(row_features, learn=False)] if ready else []
        if ready and self._analogues is not None:
            where = WINDOW_SUMMARY_COLUMNS
            tails[0][where] = np.maximum(tails[0][where], self._analogue_shares(row_features[where]))

        if fresh_higher and self.scalar and config.score_features in ("all", "topology"):
            higher_names = [f"h{k}_{name}" for k in range(1, config.maxdim + 1) for name in HIGHER_FEATURES]
            features = log_features(np.array([summaries[name] for name in higher_names]))
            if self.higher_history is None:
                self.higher_history = EmpiricalTails(len(features), config.higher_history_span)
            if self.higher_history.count >= max(2, config.history_min // config.h1_stride):
                tails.append(self.higher_history.tails(features, learn=False))
            pending.append((self.higher_history, features))
        return (np.concatenate(tails) if ready else None), pending

    def _row_feature_names(self) -> list[str]:
        """The features scored on every row, in the order their history keeps them."""
        names = []
        if self.config.score_features in ("all", "topology"):
            names += H0_FEATURES if self.scalar else VECTOR_FEATURES
        if self.config.score_features in ("all", "residual"):
            names += RESIDUAL_FEATURES
        return names

    def _upper_only(self) -> list[bool]:
        return [name in DISTANCE_FEATURES for name in self._row_feature_names()]

    def _detection(self, timestamp, score, h0, summaries, gated=None, betti=(0, 0, 0)) -> Detection:
        """The row's detection; ``score`` None is a warm-up row, ``gated`` the gate's score."""
        warming_up = score is None
        higher = self.higher.diagrams if h0 is not None else []
        diagram = {"h0": [], "h1": [], "h2": []}
        if h0 is not None:
            diagram["h0"] = h0.tolist()
            for k, pairs in enumerate(higher, start=1):
                diagram[f"h{k}"] = pairs
        return Detection(
            timestamp=float(timestamp),
            score=None if warming_up else float(score),
            is_anomaly=(not warming_up) and gated >= self.config.threshold,
            severity=severity_for_score(0.0 if warming_up else score),
            betti_h0=betti[0],
            betti_h1=betti[1],
            betti_h2=betti[2],
            summaries=dict(summaries),
            diagram=diagram,
            warming_up=warming_up,
            suppressed=(not warming_up) and self.gate.suppressed,
            gated_score=0.0 if warming_up else float(gated),
        )

    # -- persistence of the detector itself --------------------------------------------------

    def get_state(self) -> dict:
        def history_state(history):
            return None if history is None else history.get_state()

        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "rows": self.rows,
            "dim": self.dim,
            "scalar": self.scalar,
            "delay": self.delay,
            "delay_history": list(self.delay_history),
            "buffer": None if self.buffer is None else self.buffer.tolist(),
            "head": self.head,
            "normaliser": None if self.normaliser is None else self.normaliser.get_state(),
            "previous": None if self.previous is None else self.previous.tolist(),
            "row_history": history_state(self.row_history),
            "higher_history": history_state(self.higher_history),
            "gate": self.gate.get_state(),
            "higher": {"diagrams": self.higher.diagrams, "summaries": dict(self.higher.summaries)},
            "reference": None if self.reference is None else self.reference.tolist(),
            "reference_count": self.reference_count,
            "reference_summaries": None if self.reference_summaries is None else self.reference_summaries.tolist(),
            "censored": self.censored,
            "value_range": self.value_range,
            "recent_values": None if self.recent_values is None else self.recent_values.get_state(),
            "noise_band": self.noise_band.get_state(),
        }

    @classmethod
    def from_state(cls, state: dict) -> "Detector":
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("unsupported detector state (version mismatch)")
        # States saved before the daily phase, the analogues, the range rules and the young-history
        # correction existed continue as they ran.
        older = {"daily_phase_radius": 0.0, "analogues": 0, "range_tolerance": 0.0, "young_history": False,
                 "recent_range_rows": 0}
        detector = cls(DetectorConfig.from_dict({**older, **state["config"]}))
        config = detector.config
        detector.rows = int(state["rows"])
        detector.dim = state["dim"]
        detector.scalar = bool(state["scalar"])
        detector.delay = state["delay"]
        detector.delay_history = [float(v) for v in state["delay_history"]]
        if state["buffer"] is not None:
            detector.buffer = np.asarray(state["buffer"], dtype=float).reshape(config.window, detector.dim)
        detector.head = int(state["head"])
        if state["normaliser"] is not None:
            detector.normaliser = OnlineNormaliser.from_state(state["normaliser"], detector.dim, config.normaliser_span)
        if state["previous"] is not None:
            detector.previous = np.asarray(state["previous"], dtype=float)
        if state["row_history"] is not None:
            detector.row_history = EmpiricalTails.from_state(
                state["row_history"], config.history_span, upper_only=detector._upper_only()
            )
        if state["higher_history"] is not None:
            detector.higher_history = EmpiricalTails.from_state(state["higher_history"], config.higher_history_span)
        detector.gate.set_state(state["gate"])
        if state["reference"] is not None:
            detector.reference = np.asarray(state["reference"], dtype=float)
        detector.reference_count = int(state["reference_count"])
        if state.get("reference_summaries") is not None:
            detector.reference_summaries = np.asarray(state["reference_summaries"], dtype=float)
        detector.censored = int(state.get("censored", 0))  # absent from states saved before it existed
        if state.get("value_range") is not None:
            detector.value_range = [float(v) for v in state["value_range"]]
        if state.get("recent_values") is not None:
            detector.recent_values = RecentValues.from_state(state["recent_values"], config.recent_range_rows)
        if state.get("noise_band") is not None:  # absent from states saved before it: learnt afresh
            detector.noise_band.set_state(state["noise_band"])
        higher = state["higher"]
        detector.higher = _Higher(
            diagrams=higher["diagrams"], summaries={k: float(v) for k, v in higher["summaries"].items()}
        )
        return detector
