"""The stream benchmark on a real background: recorded Wikimedia events replayed, incidents
the generator never produces injected into them.

Background. The two unfiltered recordings in ``sources/samples`` (218 and 118 events of the real
``recentchange`` feed, 9 and 8 seconds long) are replayed block after block, each block one of
the two recordings picked by the seeded generator, with its recorded arrival order, its
timestamps' back-steps and its per-second rate (about 24 and 15 events/s). Nothing is
modelled: every background event is a recorded event, only its time (``meta.dt`` and
``timestamp``) and ``meta.id`` are moved. The background is as real as 17 seconds of feed
looped for hours can be: its type, bot, wiki and user mixes are real, its rate alternates between
the two recordings' rates, and it has no daily rhythm.

Incident kinds (each a transformation of the background events inside [start, end)):

- ``outage``: the feed stops (no event): empty buckets, as when the connection is lost;
- ``slow_ramp``: the rate climbs linearly from 1× to ``RAMP_TOP``× over the incident (an hour),
  by replaying extra copies of the background events; then back to 1×;
- ``wiki_mix_shift``: at the same rate, half the events move to a wiki drawn uniformly from the
  recordings' wikis (the share of small wikis rises, the big three's falls);
- ``namespace_shift``: at the same rate, every event's namespace becomes 0 (main);
- ``hidden_wiki_burst``: one small wiki (``dewiki``) takes ``BURST_SHARE`` of the events, copies
  of its own recorded events, while the others lose as many: total volume unchanged.
"""
import json
import random
import statistics
from dataclasses import asdict, dataclass, field

from streams.features import DEFAULT_ALLOWED_LATENESS, DEFAULT_BUCKET_SECONDS, WindowAggregator
from streams.pipeline import detector_config
from streams.sources.base import RECENTCHANGE
from streams.sources.event_time import iso
from streams.sources.generator import ALL_WIKI_SAMPLES, SAMPLES_DIR
from tda import Detector

EVALUATION_START = 1_704_067_200.0  # 2024-01-01T00:00:00Z, as the generator's benchmark
RAMP_TOP = 3.0
BURST_SHARE = 0.3
BURST_WIKI = "dewiki"
INCIDENT_SECONDS = {
    "outage": 180.0,  # 18 buckets: shorter than the aggregator's jump over a long silence (30)
    "slow_ramp": 3600.0,
    "wiki_mix_shift": 600.0,
    "namespace_shift": 600.0,
    "hidden_wiki_burst": 300.0,
}
INCIDENT_KINDS = tuple(INCIDENT_SECONDS)


@dataclass(frozen=True)
class Incident:
    kind: str
    start: float
    duration: float

    @property
    def end(self):
        return self.start + self.duration

    def to_dict(self):
        return {**asdict(self), "start_iso": iso(self.start), "end_iso": iso(self.end)}


def recordings(directory=SAMPLES_DIR):
    """Each recording as (offset in seconds from its first second, event), in arrival order."""
    blocks = []
    for name in ALL_WIKI_SAMPLES:
        with (directory / name).open() as handle:
            events = [json.loads(line) for line in handle if line.strip()]
        first = min(event["timestamp"] for event in events)
        blocks.append([(event["timestamp"] - first, event) for event in events])
    return blocks


def schedule_incidents(kind, start, duration, count, *, warmup, seed=0):
    """``count`` incidents of ``kind`` spread over [start + warmup, start + duration), one per
    slot, at a seeded offset that leaves a tenth of the slot calm on either side."""
    length = INCIDENT_SECONDS[kind]
    slot = (duration - warmup) / count if count else 0
    if count and slot < length * 1.25:
        raise ValueError(f"too many {kind} incidents for this duration: each needs {length * 1.25:.0f} s")
    rng = random.Random(f"{seed}:{kind}")
    incidents = []
    for number in range(count):
        slot_start = start + warmup + number * slot
        offset = rng.uniform(0.1 * slot, max(0.1 * slot, 0.9 * slot - length))
        incidents.append(Incident(kind, slot_start + offset, length))
    return incidents


class RecordedBackground:
    """The recorded events, block after block from ``start`` for ``duration`` seconds, with the
    incidents applied, as ``(moment, event)`` pairs. Deterministic for a seed.

    While the feed is out, one ``(moment, None)`` heartbeat per recorded event stands for the
    live pipeline's heartbeats of a quiet stream: the clock goes on while no event arrives."""

    def __init__(self, *, start, duration, incidents=(), seed=0, blocks=None):
        self.start, self.duration = start, duration
        self.incidents = sorted(incidents, key=lambda incident: incident.start)
        # Two generators: the blocks' order must not depend on what the incidents draw, so the
        # background with and without an incident is the same events.
        self.order = random.Random(f"{seed}:background")
        self.rng = random.Random(f"{seed}:incidents")
        self.blocks = blocks or recordings()
        wikis = sorted({event.get("wiki") for block in self.blocks for _, event in block if event.get("wiki")})
        self.wikis = wikis
        self.burst_events = [event for block in self.blocks for _, event in block if event.get("wiki") == BURST_WIKI]
        self.serial = 0

    def _active(self, moment):
        for incident in self.incidents:
            if incident.start <= moment < incident.end:
                return incident
            if incident.start > moment:
                return None
        return None

    def __iter__(self):
        cursor, end = self.start, self.start + self.duration
        while cursor < end:
            block = self.blocks[self.order.randrange(len(self.blocks))]
            for offset, event in block:
                moment = cursor + offset
                if moment >= end:
                    break
                for produced in self._transform(event, moment):
                    yield moment, produced
            cursor += block[-1][0] + 1 if block else 1

    def _copy(self, event, moment, **changes):
        self.serial += 1
        meta = dict(event.get("meta") or {})
        meta["dt"], meta["id"] = iso(moment), f"replay-{self.serial}"
        return {**event, **changes, "meta": meta, "timestamp": int(moment)}

    def _transform(self, event, moment):
        incident = self._active(moment)
        kind = incident.kind if incident else None
        if kind == "outage":
            yield None
            return
        if kind == "slow_ramp":
            factor = 1.0 + (RAMP_TOP - 1.0) * (moment - incident.start) / incident.duration
            copies = int(factor) + (self.rng.random() < factor - int(factor))
            for _ in range(copies):
                yield self._copy(event, moment)
            return
        if kind == "wiki_mix_shift" and self.rng.random() < 0.5:
            wiki = self.rng.choice(self.wikis)
            yield self._copy(event, moment, wiki=wiki, server_name=f"{wiki}.example")
            return
        if kind == "namespace_shift":
            yield self._copy(event, moment, namespace=0)
            return
        if kind == "hidden_wiki_burst" and self.burst_events and self.rng.random() < BURST_SHARE:
            yield self._copy(self.rng.choice(self.burst_events), moment)
            return
        yield self._copy(event, moment)


@dataclass
class KindResult:
    kind: str
    hours: float
    incidents: list
    detected: list  # per incident: delay in seconds (end of the first flagged window - start), or None
    false_alarms: int
    flagged_windows: int
    events: int
    parameters: dict = field(default_factory=dict)

    @property
    def recall(self):
        return sum(d is not None for d in self.detected) / len(self.detected) if self.detected else 0.0

    @property
    def false_alarms_per_hour(self):
        return self.false_alarms / self.hours if self.hours else 0.0

    def to_dict(self):
        delays = [d for d in self.detected if d is not None]
        return {
            "kind": self.kind, "hours": self.hours, "events": self.events, "recall": self.recall,
            "false_alarms": self.false_alarms, "false_alarms_per_hour": self.false_alarms_per_hour,
            "flagged_windows": self.flagged_windows,
            "delay_seconds": {"median": statistics.median(delays) if delays else None,
                              "max": max(delays) if delays else None},
            "incidents": [{**incident.to_dict(), "detected": delay is not None, "delay_seconds": delay}
                          for incident, delay in zip(self.incidents, self.detected)],
            "parameters": self.parameters,
        }


def score_flags(flagged, incidents, tolerance):
    """An incident is found by a flagged window overlapping the incident itself (an alarm when
    the feed comes back or the ramp falls back is not a detection); flagged windows up to
    ``tolerance`` after its end are its aftermath, not false alarms. A false alarm is a run of
    consecutive flagged windows overlapping no incident or aftermath."""
    detected = []
    for incident in incidents:
        hits = [end for start, end in flagged if start < incident.end and end > incident.start]
        detected.append(min(hits) - incident.start if hits else None)
    false_alarms, previous_end = 0, None
    for start, end in flagged:
        explained = any(start < i.end + tolerance and end > i.start for i in incidents)
        if not explained and start != previous_end:
            false_alarms += 1
        previous_end = None if explained else end
    return detected, false_alarms


def evaluate_kind(kind, *, hours=8.0, incidents=4, seed=0, bucket_seconds=DEFAULT_BUCKET_SECONDS,
                  allowed_lateness=DEFAULT_ALLOWED_LATENESS, detector_overrides=None, tolerance=None):
    """The pipeline's features and detector (as ``manage.py detect``, without the database) on
    the recorded background with ``incidents`` incidents of ``kind`` after the detector's warm-up."""
    if kind not in INCIDENT_SECONDS:
        raise ValueError(f"unknown incident kind {kind!r}; choose from {', '.join(INCIDENT_KINDS)}")
    duration = hours * 3600.0
    config = detector_config(detector_overrides)
    warmup = (config.vector_warmup_rows() + 1) * bucket_seconds
    labelled = schedule_incidents(kind, EVALUATION_START, duration, incidents, warmup=warmup, seed=seed)
    source = RecordedBackground(start=EVALUATION_START, duration=duration, incidents=labelled, seed=seed)
    aggregator = WindowAggregator(RECENTCHANGE, bucket_seconds, allowed_lateness)
    detector = Detector(config)
    tolerance = 2 * bucket_seconds + allowed_lateness if tolerance is None else tolerance
    idle_after = bucket_seconds + allowed_lateness  # as the live pipeline's heartbeat rule
    flagged, events, last_event = [], 0, None

    def evaluate(windows):
        for window in windows:
            if detector.update(window.end, window.vector).is_anomaly:
                flagged.append((window.start, window.end))

    for moment, event in source:
        if event is None:
            if last_event is not None and moment - last_event > idle_after:
                evaluate(aggregator.advance(moment))
            continue
        events += 1
        last_event = moment
        evaluate(aggregator.add(event))
    evaluate(aggregator.flush())
    detected, false_alarms = score_flags(flagged, labelled, tolerance)
    return KindResult(
        kind=kind, hours=hours, incidents=labelled, detected=detected, false_alarms=false_alarms,
        flagged_windows=len(flagged), events=events,
        parameters={"seed": seed, "bucket_seconds": bucket_seconds, "allowed_lateness": allowed_lateness,
                    "tolerance_seconds": tolerance, "warmup_seconds": warmup,
                    "dropped_late": aggregator.dropped_late, "detector": detector.config.to_dict()},
    )
