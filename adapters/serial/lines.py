"""Line framing shared by the text protocols: CR, LF or CRLF ends a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.serial.protocol import DecoderStats
    from monitor.model import IngestItem


class LineSplitter:
    """Accumulates bytes and yields complete lines.

    ``reset()`` (after a (re)connect) also arms ``drop_first``: the first line
    after opening a port is usually the tail of a line that began before we
    were listening, so it is discarded (and counted) instead of parsed.
    """

    def __init__(self, max_line: int = 1024) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._drop_first = False
        self.dropped_bytes = 0  # oversize garbage and the post-connect partial line

    def reset(self, drop_first: bool = True) -> None:
        self._buf.clear()
        self._drop_first = drop_first

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines: list[bytes] = []
        start = 0
        buf = self._buf
        n = len(buf)
        i = 0
        while i < n:
            c = buf[i]
            if c == 0x0D or c == 0x0A:
                line = bytes(buf[start:i])
                start = i + 1
                if self._drop_first:
                    self._drop_first = False
                    self.dropped_bytes += len(line)
                elif line:
                    lines.append(line)
            i += 1
        del buf[:start]
        if len(buf) > self.max_line:
            # No line end in sight: a baud-rate mismatch or binary noise. Drop and resync on the next end.
            self.dropped_bytes += len(buf)
            buf.clear()
            self._drop_first = True
        return lines


class LineDecoder:
    """What every line-oriented protocol shares: split lines, decode each, count skipped bytes.

    Subclasses set ``_lines`` and ``stats`` and implement ``_line``.
    """

    _lines: LineSplitter
    stats: DecoderStats

    def poll(self, now: float) -> bytes:
        return b""  # these devices talk unasked

    def feed(self, data: bytes, now: float) -> list[IngestItem]:
        out: list[IngestItem] = []
        before = self._lines.dropped_bytes
        for raw in self._lines.feed(data):
            out.extend(self._line(raw, now))
        self.stats.bytes_skipped += self._lines.dropped_bytes - before
        return out

    def _line(self, raw: bytes, now: float) -> list[IngestItem]:
        raise NotImplementedError
