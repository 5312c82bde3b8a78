"""Helpers for the HL7 tests: a small real sink that records what it is given, a running listener."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import hl7
from sqlalchemy import Engine, select

from adapters.base import SubmitResult
from adapters.hl7.mllp import Frame, MllpFramer
from alerts.engine import AlarmEngine
from monitor.bus import InMemoryBus
from monitor.live import LiveState
from monitor.model import DeviceState, DeviceStatus, IngestItem, Quality, Reading, Vital
from monitor.pipeline import Pipeline
from monitor.sessions import SessionManager
from monitor.store import database, schema
from monitor.store.writer import BatchWriter


class RecordingSink:
    """Stores in memory, deduplicating on the key like the real pipeline does."""

    def __init__(self) -> None:
        self.items: list[IngestItem] = []
        self.keys: set[str] = set()
        self.calls = 0

    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        self.calls += 1
        await asyncio.sleep(0)  # a real sink awaits its commit
        if dedupe_key is not None:
            if dedupe_key in self.keys:
                return SubmitResult(stored=0, rejected=0, duplicate=True)
            self.keys.add(dedupe_key)
        self.items.extend(items)
        return SubmitResult(stored=sum(isinstance(i, Reading) for i in items), rejected=0)

    @property
    def readings(self) -> list[Reading]:
        return [i for i in self.items if isinstance(i, Reading)]


class Conn:
    """A raw client socket: writes arbitrary bytes, reads framed ACKs parsed by python-hl7 (independent)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = MllpFramer()
        self.pending: list[bytes] = []

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ack(self, timeout: float = 10.0) -> hl7.Message:
        async with asyncio.timeout(timeout):
            while not self.pending:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                self.pending += [e.payload for e in self.framer.feed(data) if isinstance(e, Frame)]
        return hl7.parse(self.pending.pop(0).decode("utf-8"))

    async def close(self) -> None:
        self.writer.close()


def msa(ack: hl7.Message) -> tuple[str, str]:
    seg = ack.segment("MSA")
    return str(seg[1]), str(seg[2])


class StoredSink:
    """The real pipeline over a temporary SQLite file; ``readings``/``items`` read back what was committed."""

    def __init__(self, engine: Engine, pipeline: Pipeline) -> None:
        self.engine = engine
        self.pipeline = pipeline

    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        return await self.pipeline.submit(items, dedupe_key=dedupe_key)

    @property
    def readings(self) -> list[Reading]:
        c = schema.readings.c
        query = select(c.vital, c.value, c.unit, c.ts, c.source, c.quality, c.bed_id).order_by(c.id)
        with self.engine.connect() as conn:
            return [
                Reading(Vital(r.vital), r.value, r.unit, r.ts, r.source, Quality(r.quality), r.bed_id)
                for r in conn.execute(query)
            ]

    @property
    def items(self) -> list[IngestItem]:
        c = schema.device_events.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.source, c.state, c.ts, c.bed_id).order_by(c.id)).all()
        statuses: list[IngestItem] = [DeviceStatus(r.source, DeviceState(r.state), r.ts, r.bed_id) for r in rows]
        return [*self.readings, *statuses]


@asynccontextmanager
async def stored_sink(url: str, bindings: dict[str, str] | None = None) -> AsyncIterator[StoredSink]:
    engine = database.make_engine(url)
    database.upgrade(engine)
    writer = BatchWriter(engine, max_delay_s=0.005)
    writer.start()
    sessions = SessionManager(engine, bindings or {})
    pipeline = Pipeline(
        writer=writer, sessions=sessions, judge=AlarmEngine(), publisher=InMemoryBus(), live=LiveState()
    )
    try:
        yield StoredSink(engine, pipeline)
    finally:
        await writer.close()
        engine.dispose()
