"""A local append-only journal for detections the database could not take in time.

When the store's in-memory queue is full (the database is slow or down) the pipeline appends
records here instead of blocking ingestion or dropping them. Each record is one JSON line,
flushed and fsync'ed, so it survives a crash of the process (kill -9) or of the machine. The
writer drains the journal when the database is back; the read position is kept in a sidecar
file (replaced atomically), and the journal is truncated once fully drained. Reading a record
twice is harmless: rows carry a unique dedup key.

One process owns a journal at a time (an exclusive ``flock`` on ``<name>.lock``), which also
stops two detectors of the same source from running side by side.
"""
import fcntl
import json
import logging
import os
import threading
from pathlib import Path

logger = logging.getLogger(__name__)


class JournalLocked(RuntimeError):
    """Another process owns this journal (a detector for the same source is running)."""


class Journal:
    def __init__(self, directory, name):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.path = self.directory / f"{safe}.jsonl"
        self._offset_path = self.directory / f"{safe}.offset"
        self._lock = threading.Lock()
        self._lock_file = open(self.directory / f"{safe}.lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise JournalLocked(f"{self.path} is in use by another process") from None
        self._file = open(self.path, "ab")
        self.appended = 0
        self._terminate_torn_record()

    def _terminate_torn_record(self):
        """End a half-written last line (a previous process died mid-append) with a newline.

        Otherwise the next record would be glued to it and both would be unreadable.
        """
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    logger.warning("journal %s: ending a torn record left by a crash", self.path)
                    self._file.write(b"\n")
                    self._file.flush()

    def close(self):
        with self._lock:
            self._file.close()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()

    # --- writing ----------------------------------------------------------------------------
    def append(self, records):
        """Durably append ``records`` (JSON-serialisable dicts)."""
        data = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        with self._lock:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.appended += len(records)

    # --- reading ----------------------------------------------------------------------------
    def _read_offset(self):
        try:
            return int(self._offset_path.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _write_offset(self, offset):
        temporary = self._offset_path.with_suffix(".offset.tmp")
        temporary.write_text(str(offset))
        os.replace(temporary, self._offset_path)

    def pending_bytes(self):
        with self._lock:
            return max(0, self.path.stat().st_size - self._read_offset())

    def read_batch(self, limit):
        """Up to ``limit`` records from the read position, and the position after them.

        A record that does not parse (a torn write of a crashed process) is logged and skipped.
        """
        offset = self._read_offset()
        records = []
        with self._lock, open(self.path, "rb") as handle:
            handle.seek(offset)
            while len(records) < limit:
                line = handle.readline()
                if not line:
                    break
                if not line.endswith(b"\n"):
                    break  # not complete yet
                offset += len(line)
                try:
                    records.append(json.loads(line))
                except ValueError:
                    logger.warning("journal %s: skipping an unreadable record", self.path)
        return records, offset

    def commit(self, offset):
        """The records before ``offset`` are stored: move the read position, truncate when done."""
        with self._lock:
            if offset >= self.path.stat().st_size:
                self._file.truncate(0)
                self._file.seek(0)
                self._write_offset(0)
            else:
                self._write_offset(offset)
