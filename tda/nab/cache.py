"""Per-file detector scores kept on disk, so repeated evaluations run the detector once.

A cached file is keyed by everything its scores depend on: the detector configuration, the
engine's source code (every ``tda/*.py``) and the file's own rows. Change any of them and the
key changes, so a stale cache cannot be read by mistake.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from tda import DetectorConfig

from .corpus import Series

ENGINE_DIR = Path(__file__).resolve().parent.parent


def engine_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(ENGINE_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(series: Series, config: DetectorConfig, engine: str) -> str:
    digest = hashlib.sha256()
    digest.update(engine.encode())
    digest.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    digest.update(series.key.encode())
    for timestamp, value in zip(series.timestamps, series.values):
        digest.update(f"{timestamp},{value}\n".encode())
    return digest.hexdigest()[:32]


class ScoreCache:
    """``get(series, config)`` / ``put(series, config, scores)`` under ``directory``; a cache
    without a directory keeps nothing."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory else None
        self.engine = engine_digest() if directory else ""

    def _path(self, series: Series, config: DetectorConfig) -> Path:
        return self.directory / f"{cache_key(series, config, self.engine)}.npy"

    def get(self, series: Series, config: DetectorConfig) -> np.ndarray | None:
        if self.directory is None:
            return None
        path = self._path(series, config)
        if not path.is_file():
            return None
        scores = np.load(path, allow_pickle=False)
        return scores if len(scores) == len(series) else None

    def put(self, series: Series, config: DetectorConfig, scores) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(series, config)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, np.asarray(scores, dtype=float), allow_pickle=False)
        partial.replace(path)
