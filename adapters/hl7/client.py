"""A minimal asyncio MLLP client: send one message, wait for its ACK (simulator, bench, tests)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from adapters.hl7.message import HL7Error, decode, parse
from adapters.hl7.mllp import Frame, MllpFramer, frame
from monitor.waiting import within


@dataclass(slots=True, frozen=True)
class Ack:
    code: str  # MSA-1: AA, AE, AR (or CA/CE/CR)
    control_id: str  # MSA-2
    text: str  # MSA-3 and the ERR segments, for reports
    raw: bytes


def read_ack(payload: bytes) -> Ack:
    try:
        msg = parse(decode(payload)[0])
    except HL7Error as exc:
        return Ack("", "", f"unreadable ACK: {exc}", payload)
    msa = msg.first("MSA") or ["MSA"]
    code = msa[1] if len(msa) > 1 else ""
    control = msa[2] if len(msa) > 2 else ""
    texts = [msa[3]] if len(msa) > 3 and msa[3] else []
    texts += ["|".join(seg[1:]) for seg in msg.segments if seg[0] == "ERR"]
    return Ack(code, control, "; ".join(texts), payload)


class MllpClient:
    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = MllpFramer()
        self._pending: list[bytes] = []

    async def connect(self) -> None:
        self._reader, self._writer = await within(asyncio.open_connection(self.host, self.port), self.timeout)
        self._framer = MllpFramer()
        self._pending = []

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def send(self, message: bytes) -> Ack:
        """Send one message and return the next ACK on this connection."""
        if self._writer is None or self._reader is None:
            await self.connect()
        assert self._writer is not None and self._reader is not None
        self._writer.write(frame(message))
        await self._writer.drain()
        return read_ack(await self._next_frame())

    async def _next_frame(self) -> bytes:
        assert self._reader is not None
        async with asyncio.timeout(self.timeout):
            while not self._pending:
                data = await self._reader.read(65536)
                if not data:
                    raise ConnectionError("connection closed before the ACK")
                self._pending.extend(e.payload for e in self._framer.feed(data) if isinstance(e, Frame))
        return self._pending.pop(0)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
