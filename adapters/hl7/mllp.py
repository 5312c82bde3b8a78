"""MLLP framing: a byte stream in, whole frames (and framing errors) out.

A frame is ``0x0B payload 0x1C 0x0D``. Senders pipeline several frames per
write, split one frame over many, put NULs or line feeds between frames, or
lose the start byte (``research/hl7.md`` section 4). The framer never drops the
connection: it skips what lies outside frames, resynchronises on the next
``0x0B`` and reports bytes that looked like a message as an error so the
listener can log them.
"""

from __future__ import annotations

from dataclasses import dataclass

SB = 0x0B  # start block (vertical tab)
EB = 0x1C  # end block (file separator)
CR = 0x0D
_SB = b"\x0b"
_EB = b"\x1c"
#: What may sit between frames without being worth a report.
_QUIET = b"\x00\r\n\t \x1c"
#: How much of a refused frame is kept for the raw log.
KEEP_BYTES = 65_536


def frame(payload: bytes) -> bytes:
    """Wrap one message for the wire."""
    return _SB + payload + b"\x1c\r"


@dataclass(slots=True, frozen=True)
class Frame:
    payload: bytes


@dataclass(slots=True, frozen=True)
class FramingError:
    reason: str
    raw: bytes  # the skipped bytes (at most KEEP_BYTES), for the raw-message log


Event = Frame | FramingError


class MllpFramer:
    """Per-connection state machine; :meth:`feed` returns the events each read completes."""

    __slots__ = ("_buf", "_discarding", "_head", "junk_bytes", "max_bytes")

    def __init__(self, max_bytes: int = 1_048_576) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._discarding = False  # inside an oversized frame: drop until its end
        self._head = b""
        self.junk_bytes = 0  # bytes skipped outside frames, for health counters

    @property
    def pending(self) -> int:
        """Bytes held waiting for the end of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buf
        buf += data
        events: list[Event] = []
        pos = 0
        n = len(buf)
        while pos < n:
            if self._discarding:
                pos = self._skip_oversized(buf, pos, events)
                continue
            start = buf.find(_SB, pos)
            if start == -1:
                eb = buf.find(_EB, pos)
                if eb != -1:  # a message that lost its start byte, or a stray trailer
                    self._junk(bytes(buf[pos : eb + 1]), events)
                    pos = self._after_trailer(buf, eb)
                    continue
                rest = bytes(buf[pos:n])
                if not rest.strip(_QUIET) or n - pos > self.max_bytes:
                    self._junk(rest, events)
                    pos = n
                # else: perhaps a message without its start byte; wait for its end
                break
            if start > pos:
                self._junk(bytes(buf[pos:start]), events)
            end = buf.find(_EB, start + 1)
            restart = buf.find(_SB, start + 1, end if end != -1 else n)
            if restart != -1:
                # A new start block before this frame's end: the sender gave up on it.
                events.append(
                    FramingError("frame truncated by a new start block", bytes(buf[start:restart][:KEEP_BYTES]))
                )
                pos = restart
                continue
            if end == -1:
                if n - start - 1 > self.max_bytes:
                    self._discarding = True
                    self._head = bytes(buf[start : start + KEEP_BYTES])
                    pos = n
                else:
                    pos = start  # incomplete: wait for more bytes
                break
            if end - start - 1 > self.max_bytes:
                events.append(
                    FramingError(
                        f"frame larger than {self.max_bytes} bytes", bytes(buf[start : min(end, start + KEEP_BYTES)])
                    )
                )
            else:
                events.append(Frame(bytes(buf[start + 1 : end])))
            pos = self._after_trailer(buf, end)
        del buf[:pos]
        return events

    @staticmethod
    def _after_trailer(buf: bytearray, eb: int) -> int:
        pos = eb + 1
        if pos < len(buf) and buf[pos] == CR:
            pos += 1
        return pos

    def _junk(self, chunk: bytes, events: list[Event]) -> None:
        self.junk_bytes += len(chunk)
        if chunk.strip(_QUIET):
            reason = "message without start block" if b"MSH" in chunk[:32] else "bytes outside a frame"
            events.append(FramingError(reason, chunk[:KEEP_BYTES]))

    def _skip_oversized(self, buf: bytearray, pos: int, events: list[Event]) -> int:
        n = len(buf)
        end = buf.find(_EB, pos)
        restart = buf.find(_SB, pos, end if end != -1 else n)
        if restart == -1 and end == -1:
            return n
        self.junk_bytes += (restart if restart != -1 else end) - pos
        events.append(FramingError(f"frame larger than {self.max_bytes} bytes", self._head))
        self._discarding = False
        self._head = b""
        return restart if restart != -1 else self._after_trailer(buf, end)
