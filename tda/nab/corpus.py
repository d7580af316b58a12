"""Reading a folder in NAB's layout: ``<data>/<category>/<name>.csv`` plus a windows file."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np



@dataclass
class Series:
    key: str  # "<category>/<name>.csv", the key NAB's label files use
    timestamps: list[str]  # as written in the data file
    values: list[str]  # as written in the data file (results repeat them verbatim)
    windows: list[tuple[int, int]] = field(default_factory=list)  # inclusive row ranges

    @property
    def category(self) -> str:
        return str(Path(self.key).parent)

    @property
    def name(self) -> str:
        return Path(self.key).stem

    def numbers(self) -> np.ndarray:
        return np.asarray([float(v) for v in self.values], dtype=float)

    def epoch_seconds(self) -> np.ndarray:
        return np.asarray([parse_timestamp(t) for t in self.timestamps], dtype=float)

    def __len__(self) -> int:
        return len(self.timestamps)


def parse_timestamp(text: str) -> float:
    """Epoch seconds of a NAB timestamp: ``YYYY-MM-DD HH:MM:SS`` (UTC) in data files, with
    ``.ffffff`` added in window files."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"unrecognised timestamp {text!r} (expected YYYY-MM-DD HH:MM:SS[.ffffff])"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def find_data_files(data_dir: Path) -> list[str]:
    """Every CSV under ``data_dir`` as a NAB key (its path relative to ``data_dir``), sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory not found: {data_dir}")
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*.csv"))


def read_series(data_dir: Path, key: str) -> Series:
    path = Path(data_dir) / key
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{key}: expected a 'timestamp,value' header, found {header!r}")
        timestamps, values = [], []
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < 2:
                raise ValueError(f"{key}:{line_number}: expected two columns")
            timestamps.append(row[0].strip())
            values.append(row[1].strip())
    return Series(key=key, timestamps=timestamps, values=values)


def load_windows(labels_file: Path) -> dict[str, list[tuple[str, str]]]:
    with Path(labels_file).open() as handle:
        raw = json.load(handle)
    if not isinstance(raw, dict):
        raise ValueError(f"{labels_file}: expected an object mapping data files to windows")
    return {key: [(str(w[0]), str(w[1])) for w in windows] for key, windows in raw.items()}


def window_indices(series: Series, windows: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Row ranges of the windows; like NAB, every window edge must be a row's timestamp."""
    position = {moment: i for i, moment in enumerate(series.epoch_seconds().tolist())}
    ranges = []
    for edges in windows:
        rows = [position.get(parse_timestamp(edge)) for edge in edges]
        for edge, row in zip(edges, rows):
            if row is None:
                raise ValueError(f"{series.key}: window edge {edge} is not a row of the data")
        ranges.append(tuple(rows))
    return sorted(ranges)


def load_corpus(data_dir: Path, labels_file: Path) -> tuple[list[Series], list[str]]:
    """The labelled series found under ``data_dir``, and the data files the labels do not cover."""
    windows = load_windows(labels_file)
    labelled, unlabelled = [], []
    for key in find_data_files(data_dir):
        if key not in windows:
            unlabelled.append(key)
            continue
        series = read_series(data_dir, key)
        series.windows = window_indices(series, windows[key])
        labelled.append(series)
    return labelled, unlabelled
