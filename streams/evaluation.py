"""The generator as a labelled benchmark: does the pipeline find the anomalies it injects?

Runs a seeded synthetic ``recentchange`` stream with scheduled anomalies through the same
features and detector as ``manage.py detect`` (without the database), then scores it:

- recall: share of injected anomalies with at least one flagged window overlapping
  [start, end + tolerance];
- false alarms per hour: alarms (runs of consecutive flagged windows) that overlap no
  anomaly, per hour of stream;
- detection delay: end of the first flagged window minus the anomaly's start.
"""
import statistics
from dataclasses import dataclass, field

from streams.features import DEFAULT_ALLOWED_LATENESS, DEFAULT_BUCKET_SECONDS, WindowAggregator
from streams.pipeline import detector_config
from streams.sources.generator import GeneratorSource, schedule
from tda import Detector

EVALUATION_START = 1_704_067_200.0  # 2024-01-01T00:00:00Z: any fixed time makes runs comparable


@dataclass
class StreamEvaluation:
    hours: float
    events: int
    windows: int
    anomalies: list
    detected: list  # per anomaly: delay in seconds, or None when missed
    false_alarms: int
    flagged_windows: int
    dropped_late: int
    parameters: dict = field(default_factory=dict)

    @property
    def recall(self):
        return sum(d is not None for d in self.detected) / len(self.detected) if self.detected else 0.0

    @property
    def false_alarms_per_hour(self):
        return self.false_alarms / self.hours if self.hours else 0.0

    def delays(self):
        return [d for d in self.detected if d is not None]

    def to_dict(self):
        delays = self.delays()
        return {
            "hours": self.hours, "events": self.events, "windows": self.windows,
            "recall": self.recall, "false_alarms": self.false_alarms,
            "false_alarms_per_hour": self.false_alarms_per_hour,
            "flagged_windows": self.flagged_windows, "dropped_late": self.dropped_late,
            "delay_seconds": {
                "median": statistics.median(delays) if delays else None,
                "max": max(delays) if delays else None,
            },
            "anomalies": [
                {**anomaly.to_dict(), "detected": delay is not None, "delay_seconds": delay}
                for anomaly, delay in zip(self.anomalies, self.detected)
            ],
            "parameters": self.parameters,
        }


def evaluate_stream(*, hours=2.0, anomalies=8, seed=0, bucket_seconds=DEFAULT_BUCKET_SECONDS,
                    allowed_lateness=DEFAULT_ALLOWED_LATENESS, detector_overrides=None, tolerance=None,
                    warmup=None, anomaly_duration=90.0):
    """``warmup`` (seconds before the first anomaly's slot) defaults to the detector's own
    warm-up, shortened if the stream is too short to fit the anomalies after it (the report's
    parameters say which was used: an anomaly inside the warm-up cannot be found)."""
    duration = hours * 3600.0
    config = detector_config(detector_overrides)
    if warmup is None:
        room = duration - anomalies * 3 * anomaly_duration
        warmup = max(0.0, min((config.vector_warmup_rows() + 1) * bucket_seconds, room))
    labelled = schedule(EVALUATION_START, duration, anomalies, seed=seed, warmup=warmup,
                        anomaly_duration=anomaly_duration)
    source = GeneratorSource(start=EVALUATION_START, seed=seed, speed=0, duration=duration, anomalies=labelled)
    aggregator = WindowAggregator(source.kind, bucket_seconds, allowed_lateness)
    detector = Detector(config)
    tolerance = 2 * bucket_seconds + allowed_lateness if tolerance is None else tolerance

    flagged = []  # (window start, window end) of every window the detector flagged
    windows = 0
    for event in source:
        for window in aggregator.add(event):
            windows += 1
            if detector.update(window.end, window.vector).is_anomaly:
                flagged.append((window.start, window.end))
    for window in aggregator.flush():
        windows += 1
        if detector.update(window.end, window.vector).is_anomaly:
            flagged.append((window.start, window.end))

    def overlaps(span, anomaly):
        return span[0] < anomaly.end + tolerance and span[1] > anomaly.start

    detected = []
    for anomaly in labelled:
        hits = [end for start, end in flagged if overlaps((start, end), anomaly)]
        detected.append(min(hits) - anomaly.start if hits else None)

    false_alarms, previous_end = 0, None
    for start, end in flagged:
        unexplained = not any(overlaps((start, end), anomaly) for anomaly in labelled)
        if unexplained and start != previous_end:
            false_alarms += 1  # a new run of flagged windows
        previous_end = end if unexplained else None
    return StreamEvaluation(
        hours=hours, events=source.stats["events"], windows=windows, anomalies=labelled,
        detected=detected, false_alarms=false_alarms, flagged_windows=len(flagged),
        dropped_late=aggregator.dropped_late,
        parameters={"seed": seed, "bucket_seconds": bucket_seconds, "allowed_lateness": allowed_lateness,
                    "tolerance_seconds": tolerance, "warmup_seconds": warmup, "detector": detector.config.to_dict()},
    )
