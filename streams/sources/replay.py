"""Replay a recorded file: JSON lines (recentchange or generic) or a CSV in NAB's layout.

``speed`` is how much faster than the recording: 1 is real time, 60 is a minute per second,
0 is as fast as possible. The resume id is the number of lines consumed, so a restarted
replay continues after the last event its checkpoint saw.
"""
import csv
import time
from pathlib import Path

import orjson

from streams.sources.event_time import event_time
from streams.sources.base import GENERIC, RECENTCHANGE, Source
from streams.sources.ndjson import FieldMapping


def looks_like_recentchange(event):
    return isinstance(event.get("meta"), dict) and "type" in event


class ReplaySource(Source):
    def __init__(self, path, *, speed=0.0, mapping="", resume_from="", source_type="replay"):
        super().__init__(resume_from)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such file: {self.path}")
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        self.speed = float(speed)
        self.is_csv = self.path.suffix.lower() == ".csv"
        self.mapping = FieldMapping(mapping)
        self.kind = GENERIC if self.is_csv else self._sniff_kind()
        self.source_type = source_type

    def describe(self):
        return {"path": self.path.name, "speed": self.speed or "fast", "format": "csv" if self.is_csv else "jsonl"}

    def _sniff_kind(self):
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    first = orjson.loads(line)
                except ValueError:
                    continue
                if isinstance(first, dict):
                    return RECENTCHANGE if looks_like_recentchange(first) else GENERIC
        return GENERIC

    def _records(self):
        """(line number, event or None when malformed), in file order."""
        with self.path.open(encoding="utf-8", newline="") as handle:
            if self.is_csv:
                reader = csv.DictReader(handle)
                if not {"timestamp", "value"} <= set(reader.fieldnames or ()):
                    raise ValueError(f"{self.path.name}: a NAB CSV needs the columns timestamp,value")
                for number, row in enumerate(reader, start=1):
                    try:
                        value = float(row["value"])
                    except (TypeError, ValueError):
                        yield number, None
                        continue
                    yield number, {"timestamp": row["timestamp"], "value": value, "key": None, "type": None}
                return
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    event = orjson.loads(line)
                except ValueError:
                    event = None
                if not isinstance(event, dict):
                    yield number, None
                elif self.kind == GENERIC:
                    yield number, self.mapping.apply(event)
                else:
                    yield number, event

    def __iter__(self):
        skip = int(self.resume_from or 0)
        first_time = wall_start = None
        for number, event in self._records():
            if self.stopped:
                return
            if number <= skip:
                continue
            if event is None:
                self.last_event_id = str(number)
                self.stats["malformed"] += 1
                continue
            if self.speed:
                moment = event_time(event, self.kind)
                if moment is not None:
                    if first_time is None:
                        first_time, wall_start = moment, time.monotonic()
                    due = wall_start + (moment - first_time) / self.speed
                    if not self.sleep(due - time.monotonic()):
                        return
            self.last_event_id = str(number)  # only now: a stop while waiting must not skip it
            self.stats["events"] += 1
            yield event
