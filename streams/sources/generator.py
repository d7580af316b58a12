"""A realistic ``recentchange`` generator, learned from the recorded samples beside this file.

The type mix, the bot share per type, the wikis (with their domains), the users, the titles and
comments, and the distribution of size changes are all taken from the real events in
``samples/`` (see ``samples/README.md``). Arrivals are Poisson at 25–35 events/s (a slow
sinusoid around 30/s), partly in bot clusters (several events of one bot within a second),
with event times lagging arrival by up to 6 s so the stream is not ordered by timestamp, like
the real one. Occasional canary events are mixed in, as the real feed does.

Labelled anomalies can be injected on top: ``edit_burst``, ``bot_storm``,
``mass_page_creation`` and ``large_deletion_wave``. With a seed the stream is reproducible,
which makes it a benchmark (``manage.py evaluate_stream``) and lets a restarted pipeline
resume by skipping the events it has already seen.
"""
import bisect
import json
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from streams.sources.event_time import iso
from streams.sources.base import RECENTCHANGE, Source

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
ALL_WIKI_SAMPLES = (
    "wikimedia_recentchange_allwikis_2024-02-06.jsonl",
    "wikimedia_recentchange_allwikis_2024-02-07.jsonl",
)
ENWIKI_EDITS_SAMPLE = "wikimedia_recentchange_enwiki_2023-07-29.jsonl"

MEAN_RATE = 30.0  # events/s; the sinusoid keeps it within 25–35
RATE_SWING = 5.0
RATE_PERIOD = 3600.0  # seconds per cycle of the slow swing
CLUSTER_PROBABILITY = 0.03  # an arrival is a bot cluster of 2–8 events (5 on average)
EVENTS_PER_ARRIVAL = 1 + CLUSTER_PROBABILITY * 4
MAX_LAG = 6.0  # event time lags arrival by up to this many seconds
CANARIES_PER_HOUR = 4

ANOMALY_KINDS = ("edit_burst", "bot_storm", "mass_page_creation", "large_deletion_wave")


@dataclass(frozen=True)
class Anomaly:
    """One labelled anomaly: ``kind`` during [start, start + duration) in event time."""

    kind: str
    start: float
    duration: float = 90.0
    intensity: float = 1.0

    def __post_init__(self):
        if self.kind not in ANOMALY_KINDS:
            raise ValueError(f"unknown anomaly kind {self.kind!r}; choose from {', '.join(ANOMALY_KINDS)}")

    @property
    def end(self):
        return self.start + self.duration

    def to_dict(self):
        return {**asdict(self), "start_iso": iso(self.start), "end_iso": iso(self.end)}


def schedule(start, duration, count, *, seed=0, warmup=900.0, anomaly_duration=90.0, kinds=ANOMALY_KINDS):
    """``count`` anomalies spread evenly after ``warmup`` seconds, kinds taking turns."""
    if count <= 0:
        return []
    rng = random.Random(seed)
    usable = duration - warmup
    slot = usable / count
    if slot < anomaly_duration * 3:
        raise ValueError("too many anomalies for this duration: leave quiet time between them")
    anomalies = []
    for number in range(count):
        slot_start = start + warmup + number * slot
        offset = rng.uniform(anomaly_duration, slot - 2 * anomaly_duration)
        anomalies.append(Anomaly(kinds[number % len(kinds)], slot_start + offset, anomaly_duration))
    return anomalies


class SampleModel:
    """What the generator learned from the recorded events."""

    def __init__(self, events, edit_sizes):
        by_type = {}
        for event in events:
            by_type.setdefault(event["type"], []).append(event)
        self.templates = by_type
        counts = Counter({kind: len(items) for kind, items in by_type.items()})
        self.types, self.type_weights = zip(*sorted(counts.items()))
        # Bot clusters add bot events on top, so single events are a little less often bots.
        overall = sum(1 for e in events if e.get("bot")) / len(events)
        clustered = CLUSTER_PROBABILITY * 5 / EVENTS_PER_ARRIVAL
        scale = max(0.0, overall - clustered) / (overall * (1 - clustered))
        self.bot_share = {
            kind: scale * sum(1 for e in items if e.get("bot")) / len(items) for kind, items in by_type.items()
        }
        wikis = Counter(e["wiki"] for e in events if e.get("wiki"))
        self.wikis, self.wiki_weights = zip(*wikis.most_common())
        self.servers = {e["wiki"]: e["server_name"] for e in events if e.get("wiki") and e.get("server_name")}
        self.humans = sorted({e["user"] for e in events if e.get("user") and not e.get("bot")})
        self.bots = sorted({e["user"] for e in events if e.get("user") and e.get("bot")})
        self.size_changes = sorted(edit_sizes)

    @classmethod
    def from_samples(cls, directory=SAMPLES_DIR):
        events = [e for name in ALL_WIKI_SAMPLES for e in _read_jsonl(directory / name)]
        sized = events + list(_read_jsonl(directory / ENWIKI_EDITS_SAMPLE))
        sizes = []
        for event in sized:
            length = event.get("length") or {}
            if isinstance(length.get("new"), int):
                sizes.append(length["new"] - (length.get("old") or 0))
        return cls(events, sizes)

    def size_change(self, rng):
        """A size change drawn from the empirical distribution, interpolated between samples."""
        position = rng.random() * (len(self.size_changes) - 1)
        low = int(position)
        high = min(low + 1, len(self.size_changes) - 1)
        a, b = self.size_changes[low], self.size_changes[high]
        return int(round(a + (b - a) * (position - low)))


def _read_jsonl(path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


class RecentChangeGenerator:
    """An endless, reproducible stream of ``(arrival_time, event)`` pairs, in arrival order."""

    def __init__(self, *, start, seed=0, anomalies=(), model=None, canaries_per_hour=CANARIES_PER_HOUR):
        self.start = float(start)
        self.rng = random.Random(seed)
        self.model = model or SampleModel.from_samples()
        self.anomalies = sorted(anomalies, key=lambda a: a.start)
        self.canary_rate = canaries_per_hour / 3600.0
        self._offset = 1_000_000_000
        self._rcid = 1_700_000_000
        self._revision = 1_200_000_000
        self._log_id = 160_000_000

    def rate(self, moment):
        return MEAN_RATE + RATE_SWING * math.sin(2 * math.pi * (moment - self.start) / RATE_PERIOD)

    def __iter__(self):
        """Arrivals in order; every event's meta.dt lags its arrival by a few seconds."""
        rng = self.rng
        second = self.start
        next_canary = self.start + rng.expovariate(self.canary_rate) if self.canary_rate else math.inf
        while True:
            batch = []
            arrival = second + rng.expovariate(self.rate(second) / EVENTS_PER_ARRIVAL)
            while arrival < second + 1.0:
                if rng.random() < CLUSTER_PROBABILITY:
                    batch.extend(self._bot_cluster(arrival))
                else:
                    batch.append((arrival, self._event(arrival)))
                arrival += rng.expovariate(self.rate(second) / EVENTS_PER_ARRIVAL)
            batch.extend(self._anomalous(second))
            if next_canary < second + 1.0:
                batch.append((next_canary, self._canary(next_canary)))
                next_canary += rng.expovariate(self.canary_rate)
            batch.sort(key=lambda item: item[0])
            for arrival, event in batch:
                self._offset += 1
                event["meta"]["offset"] = self._offset
                yield arrival, event
            second += 1.0

    # --- ordinary traffic -------------------------------------------------------------------
    def _event(self, arrival, *, kind=None, user=None, bot=None, wiki=None, request_id=None, size=None):
        rng, model = self.rng, self.model
        kind = kind or rng.choices(model.types, model.type_weights)[0]
        template = rng.choice(model.templates[kind])
        if bot is None:
            bot = rng.random() < model.bot_share[kind]
        if user is None:
            pool = model.bots if bot else model.humans
            user = rng.choice(pool) if rng.random() < 0.6 else f"{'Bot' if bot else 'Editor'}{rng.randrange(5000)}"
        wiki = wiki or rng.choices(model.wikis, model.wiki_weights)[0]
        server = model.servers.get(wiki, "www.wikidata.org")
        moment = max(self.start, arrival - min(MAX_LAG, rng.expovariate(1 / 0.7)))
        self._rcid += 1
        event = {
            "$schema": "/mediawiki/recentchange/1.0.0",
            "meta": {
                "uri": f"https://{server}/wiki/{template['title'].replace(' ', '_')}",
                "request_id": request_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "dt": iso(int(moment)),
                "domain": server,
                "stream": "mediawiki.recentchange",
                "topic": "codfw.mediawiki.recentchange",
                "partition": 0,
            },
            "id": self._rcid,
            "type": kind,
            "namespace": template.get("namespace", 0),
            "title": template["title"],
            "comment": template.get("comment", ""),
            "timestamp": int(moment),
            "user": user,
            "bot": bot,
            "server_url": f"https://{server}",
            "server_name": server,
            "server_script_path": "/w",
            "wiki": wiki,
        }
        if kind in ("edit", "new"):
            change = size if size is not None else self.model.size_change(rng)
            self._revision += 1
            event["minor"] = bool(template.get("minor", False))
            if kind == "new":
                event["length"] = {"new": max(1, abs(change))}
                event["revision"] = {"new": self._revision}
            else:
                old = rng.randrange(max(200, -change + 1), 200_000)
                event["length"] = {"old": old, "new": old + change}
                event["revision"] = {"old": self._revision - rng.randrange(1, 10**6), "new": self._revision}
        elif kind == "log":
            self._log_id += 1
            for key in ("log_type", "log_action", "log_params", "log_action_comment"):
                if key in template:
                    event[key] = template[key]
            event["log_id"] = self._log_id
            if "id" not in template:
                del event["id"]  # like the real abusefilter/patrol log events
        return event

    def _bot_cluster(self, arrival):
        """2–8 events of one bot within a second, sharing one request id."""
        rng = self.rng
        user = rng.choice(self.model.bots)
        wiki = rng.choices(self.model.wikis, self.model.wiki_weights)[0]
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return [
            (arrival + rng.random() * 0.9, self._event(arrival, user=user, bot=True, wiki=wiki, request_id=request_id))
            for _ in range(rng.randint(2, 8))
        ]

    def _canary(self, arrival):
        # Built from the schema's example, like the real ones; consumers must drop them.
        return {
            "$schema": "/mediawiki/recentchange/1.0.0",
            "meta": {"dt": iso(int(arrival)), "stream": "mediawiki.recentchange", "domain": "canary"},
        }

    # --- injected anomalies -----------------------------------------------------------------
    def _anomalous(self, second):
        extra = []
        index = bisect.bisect_right([a.start for a in self.anomalies], second + 1.0)
        for anomaly in self.anomalies[:index]:
            if anomaly.end <= second:
                continue
            extra.extend(self._inject(anomaly, second))
        return extra

    def _inject(self, anomaly, second):
        rng, base, boost = self.rng, self.rate(second), anomaly.intensity
        begin, finish = max(second, anomaly.start), min(second + 1.0, anomaly.end)
        if finish <= begin:
            return []
        span = finish - begin

        def arrivals(rate):
            return sorted(begin + rng.random() * span for _ in range(_poisson(rng, rate * span)))

        salt = int(anomaly.start)
        if anomaly.kind == "edit_burst":
            # many people editing one wiki at once (breaking news): 3× the whole feed
            wiki = "enwiki"
            return [(t, self._event(t, kind="edit", bot=False, wiki=wiki)) for t in arrivals(3 * base * boost)]
        if anomaly.kind == "bot_storm":
            # a few runaway bots: 2.5× the feed, all flagged bot, on one wiki
            bots = [f"StormBot{salt % 97}-{n}" for n in range(3)]
            return [
                (t, self._event(t, kind=rng.choice(("edit", "categorize")), bot=True, user=rng.choice(bots), wiki="wikidatawiki"))
                for t in arrivals(2.5 * base * boost)
            ]
        if anomaly.kind == "mass_page_creation":
            # one account creating stub pages back to back: as many as the rest of the feed
            user = f"Creator{salt % 89}"
            return [
                (t, self._event(t, kind="new", bot=False, user=user, wiki="enwiki", size=rng.randint(80, 600)))
                for t in arrivals(1.0 * base * boost)
            ]
        # large_deletion_wave: blanking of big pages plus deletion log entries
        user = f"Blanker{salt % 83}"
        events = []
        for t in arrivals(0.5 * base * boost):
            if rng.random() < 0.7:
                events.append((t, self._event(t, kind="edit", bot=False, user=user, size=-rng.randint(5_000, 60_000))))
            else:
                events.append((t, self._event(t, kind="log", bot=False, user=user)))
        return events


def _poisson(rng, mean):
    """Knuth's method, fine for the small means used here."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class GeneratorSource(Source):
    """The generator as a pipeline source.

    ``speed`` 1 plays it in real time, N plays N× faster, 0 as fast as possible. With
    ``wall_clock`` (the live demo) event times are real times: events between ``start`` and now
    come at once, later ones when their time comes. ``duration`` (seconds of event time) ends the stream; None runs forever. The resume id is
    the number of events emitted, so a restart with the same seed and start skips them.
    """

    kind = RECENTCHANGE
    source_type = "generator"

    def __init__(self, *, start=None, seed=0, speed=1.0, duration=None, anomalies=(), resume_from="",
                 wall_clock=False):
        super().__init__(resume_from)
        self.start = time.time() if start is None else float(start)
        self.seed, self.speed, self.duration = seed, float(speed), duration
        self.anomalies = list(anomalies)
        self.wall_clock = self.live = wall_clock

    def describe(self):
        return {"seed": self.seed, "speed": self.speed or "fast", "start": iso(self.start),
                "anomalies": [a.to_dict() for a in self.anomalies]}

    def __iter__(self):
        generator = RecentChangeGenerator(start=self.start, seed=self.seed, anomalies=self.anomalies)
        skip = int(self.resume_from or 0)
        end = None if self.duration is None else self.start + self.duration
        wall_start = time.time()
        resume_arrival = None
        for number, (arrival, event) in enumerate(generator, start=1):
            if self.stopped or (end is not None and arrival >= end):
                return
            if number <= skip:
                continue
            if resume_arrival is None:
                resume_arrival = arrival
            if self.wall_clock:
                if not self.sleep(arrival - time.time()):
                    return
            elif self.speed:
                due = wall_start + (arrival - resume_arrival) / self.speed
                if not self.sleep(due - time.time()):
                    return
            self.last_event_id = str(number)
            if event["meta"].get("domain") == "canary":
                self.stats["canaries"] += 1
                continue
            self.stats["events"] += 1
            yield event
