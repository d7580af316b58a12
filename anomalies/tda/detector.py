"""The streaming detector: one observation in, one :class:`Detection` out."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .embedding import choose_delay, delay_embed, max_delay_for
from .normalise import OnlineNormaliser
from .persistence import h0_diagram, higher_diagrams
from .scoring import AlarmGate, FeatureBaseline, combined_tail, log_features, two_sided_tail
from .severity import severity_for_score
from .summaries import betti_at, filtration_scale, summarise

STATE_VERSION = 1


@dataclass
class DetectorConfig:
    """Every parameter of the engine; docs/DETECTION.md explains each choice."""

    window: int = 32  # rows in the sliding window
    embedding_dim: int = 3  # Takens dimension for scalar streams (1 = no embedding)
    embedding_delay: int = 0  # Takens delay in rows; 0 = automatic (autocorrelation < 1/e)
    delay_sample: int = 96  # rows observed before the automatic delay is fixed
    maxdim: int = 1  # highest homology dimension (1, or 2 for voids)
    stride: int = 4  # persistence is recomputed every `stride` rows
    normaliser_span: int = 2000  # memory (rows) of the online mean/variance
    baseline_span: int = 500  # memory (persistence computations) of the feature baseline
    baseline_min: int = 16  # persistence computations before the score is trusted
    threshold: float = 0.999  # score >= threshold -> is_anomaly
    quiet_period: int = 64  # rows after an alarm during which weaker alarms are damped
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
        need(self.stride >= 1, "stride must be at least 1")
        need(self.normaliser_span >= 1, "normaliser_span must be at least 1")
        need(self.baseline_span >= 2, "baseline_span must be at least 2")
        need(self.baseline_min >= 2, "baseline_min must be at least 2")
        need(0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]")
        need(self.quiet_period >= 0, "quiet_period must be 0 or positive")
        need(0.0 <= self.quiet_damping <= 1.0, "quiet_damping must be in [0, 1]")
        need(self.betti_scale_factor > 0.0, "betti_scale_factor must be positive")
        need(0.0 < self.betti_scale_quantile <= 1.0, "betti_scale_quantile must be in (0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DetectorConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown detector setting(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass
class Detection:
    timestamp: float
    score: float
    is_anomaly: bool
    severity: str
    betti_h0: int = 0
    betti_h1: int = 0
    betti_h2: int = 0
    summaries: dict = field(default_factory=dict)
    diagram: dict = field(default_factory=lambda: {"h0": [], "h1": [], "h2": []})
    warming_up: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Topology:
    """What the last persistence computation found; reused until the next one."""

    betti: tuple = (0, 0, 0)
    summaries: dict = field(default_factory=dict)
    diagram: dict = field(default_factory=lambda: {"h0": [], "h1": [], "h2": []})
    tail: float = 1.0


class Detector:
    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        self.rows = 0
        self.dim: int | None = None  # 1 for a scalar stream, else the feature-vector length
        self.scalar = True
        self.delay = self.config.embedding_delay or None
        self.delay_history: list[float] = []
        self.buffer: np.ndarray | None = None
        self.head = 0  # next write position in the circular buffer
        self.normaliser: OnlineNormaliser | None = None
        self.baseline: FeatureBaseline | None = None
        self.gate = AlarmGate(self.config.threshold, self.config.quiet_period, self.config.quiet_damping)
        self.topology = _Topology()
        self.score = 0.0

    # -- the stream -------------------------------------------------------------------------

    def update(self, timestamp: float, value) -> Detection:
        x = self._observation(value)
        config = self.config
        scale = self.normaliser.scale()  # the past's scale: a jump is not absorbed by itself
        self.buffer[self.head] = x
        self.head = (self.head + 1) % config.window
        self.normaliser.update(x)
        self.rows += 1
        if self.delay is None:
            self.delay_history.append(float(x[0]))
            if len(self.delay_history) >= config.delay_sample:
                self.delay = choose_delay(
                    np.asarray(self.delay_history), max_delay_for(config.window, config.embedding_dim)
                )
                self.delay_history = []

        ready = self.delay is not None and self.rows >= config.window
        if ready and (self.rows - config.window) % config.stride == 0:
            self._recompute(scale)
        warming_up = self.baseline is None or self.baseline.count < config.baseline_min
        score = 0.0 if warming_up else self.score
        is_anomaly = (not warming_up) and score >= config.threshold
        return Detection(
            timestamp=float(timestamp),
            score=score,
            is_anomaly=is_anomaly,
            severity=severity_for_score(score),
            betti_h0=self.topology.betti[0],
            betti_h1=self.topology.betti[1],
            betti_h2=self.topology.betti[2],
            summaries=dict(self.topology.summaries),
            diagram=self.topology.diagram,
            warming_up=warming_up,
        )

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
            self.delay_history = []
        self.buffer = np.zeros((self.config.window, self.dim))
        self.normaliser = OnlineNormaliser(self.dim, self.config.normaliser_span)

    # -- topology ----------------------------------------------------------------------------

    def _window(self) -> np.ndarray:
        return np.concatenate([self.buffer[self.head :], self.buffer[: self.head]])

    def point_cloud(self, scale: np.ndarray) -> np.ndarray:
        window = self._window() / scale
        if self.scalar and self.config.embedding_dim > 1:
            return delay_embed(window[:, 0], self.config.embedding_dim, self.delay)
        return window

    def _recompute(self, scale: np.ndarray) -> None:
        config = self.config
        cloud = self.point_cloud(scale)
        h0 = h0_diagram(cloud)
        higher = higher_diagrams(cloud, config.maxdim)
        diagrams = [h0, *higher]
        summaries = {}
        for k, diagram in enumerate(diagrams):
            summaries.update(summarise(diagram, f"h{k}"))
        eps = filtration_scale(h0[:, 1], config.betti_scale_factor, config.betti_scale_quantile)
        summaries["filtration_scale"] = eps
        betti = [1 + int(np.count_nonzero(h0[:, 1] > eps))]
        betti += [betti_at(d, eps) for d in higher]
        betti += [0] * (3 - len(betti))

        features = log_features(np.array([summaries[name] for name in self._feature_names()]))
        if self.baseline is None:
            self.baseline = FeatureBaseline(len(features), config.baseline_span)
        tail = 1.0
        if self.baseline.count >= config.baseline_min:
            tail = combined_tail(two_sided_tail(self.baseline.zscores(features)))
        self.baseline.update(features)
        self.score = self.gate.apply(1.0 - tail, tail)
        self.topology = _Topology(
            betti=tuple(betti),
            summaries=summaries,
            diagram={f"h{k}": (diagrams[k].tolist() if k < len(diagrams) else []) for k in range(3)},
            tail=tail,
        )

    def _feature_names(self) -> list[str]:
        names = ["h0_total_persistence", "h0_max_persistence", "h0_entropy"]
        for k in range(1, self.config.maxdim + 1):
            names += [f"h{k}_total_persistence", f"h{k}_max_persistence", f"h{k}_landscape_l2"]
        return names

    # -- persistence of the detector itself --------------------------------------------------

    def get_state(self) -> dict:
        topology = self.topology
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
            "baseline": None if self.baseline is None else self.baseline.get_state(),
            "gate": self.gate.get_state(),
            "topology": {
                "betti": list(topology.betti),
                "summaries": dict(topology.summaries),
                "diagram": topology.diagram,
                "tail": topology.tail,
            },
            "score": self.score,
        }

    @classmethod
    def from_state(cls, state: dict) -> "Detector":
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported detector state version: {state.get('version')!r}")
        detector = cls(DetectorConfig.from_dict(state["config"]))
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
        if state["baseline"] is not None:
            detector.baseline = FeatureBaseline.from_state(state["baseline"], config.baseline_span)
        detector.gate.set_state(state["gate"])
        topology = state["topology"]
        detector.topology = _Topology(
            betti=tuple(int(b) for b in topology["betti"]),
            summaries={k: float(v) for k, v in topology["summaries"].items()},
            diagram=topology["diagram"],
            tail=float(topology["tail"]),
        )
        detector.score = float(state["score"])
        return detector
