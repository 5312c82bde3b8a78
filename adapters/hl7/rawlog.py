"""A bounded log of the raw bytes of frames that failed, for diagnosing a sender.

Kept apart from the application log on purpose: these bytes may hold patient
data, so they stay in memory (and, when configured, in a private folder under
``data_dir``), never in log lines.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


#: Bytes of a failed frame kept in memory (the whole frame goes to the file, when a folder is set).
MEMORY_BYTES = 65_536


@dataclass(slots=True, frozen=True)
class RawEntry:
    ts: float
    peer: str
    reason: str
    data: bytes


class RawLog:
    def __init__(self, capacity: int = 200, directory: Path | None = None) -> None:
        self.capacity = max(0, capacity)
        self.entries: deque[RawEntry] = deque(maxlen=self.capacity or 1)
        self.directory = directory
        self._files: deque[Path] = deque()
        self._seq = 0
        self._ready = False  # the folder is made on the first failure, not at start-up

    def add(self, peer: str, reason: str, data: bytes) -> None:
        if not self.capacity:
            return
        # machine time: names and rate of the raw log's files.
        now = time.time()
        # In memory each frame is cut (200 frames of 1 MiB would be 200 MiB); the file keeps it whole.
        self.entries.append(RawEntry(now, peer, reason, data[:MEMORY_BYTES]))
        if self.directory is None or not self._open():
            return
        self._seq += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        path = self.directory / f"{stamp}-{os.getpid()}-{self._seq:06d}.hl7"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._files.append(path)
            while len(self._files) > self.capacity:
                self._files.popleft().unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not write the raw HL7 log (%s)", exc)

    def _open(self) -> bool:
        if self._ready or self.directory is None:
            return self._ready
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._files.extend(sorted(self.directory.glob("*.hl7")))
            self._ready = True
        except OSError as exc:
            log.warning("raw HL7 log folder %s unusable (%s): failed frames kept in memory only", self.directory, exc)
            self.directory = None
        return self._ready

    def recent(self, n: int = 20) -> list[RawEntry]:
        return list(self.entries)[-n:]
