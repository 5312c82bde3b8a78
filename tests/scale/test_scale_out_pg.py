"""Ingest and web processes on one real PostgreSQL: the event log, LISTEN/NOTIFY, commands, resume.

Both sides run in this test's event loop (separate services, separate
connections, nothing shared but the database), so every step can be awaited
without sleeps; the multi-process version with real processes is in
test_processes.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from monitor.bus import Event
from monitor.command_channel import CommandClient
from monitor.commands import Acknowledge, IngestUnavailable
from monitor.config import load_settings
from monitor.model import AlarmState, Phase, Reading, Vital
from monitor.roles import build_web_service, make_ingest
from monitor.service import Service, build_service
from monitor.sessions import SessionError
from monitor.store import schema
from tests.scale.stage import SpO2Stage

pytestmark = pytest.mark.postgres


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def pair(postgres_url: str) -> AsyncIterator[tuple[Service, Service, SpO2Stage]]:
    settings = load_settings(db_url=postgres_url, beds={"chair-1": "Chair 1", "chair-2": "Chair 2"}, adapters=[])
    stage = SpO2Stage()
    ingest = build_service(settings, alarm_stage=stage)
    make_ingest(ingest)
    await ingest.start()
    web = build_web_service(settings)
    await web.start()
    try:
        yield ingest, web, stage
    finally:
        await web.stop()
        await ingest.stop()
        ingest.engine.dispose()
        web.engine.dispose()


def spo2(value: float, bed: str = "chair-1", ts: float | None = None) -> Reading:
    return Reading(Vital.SPO2, value, "%", time.time() if ts is None else ts, f"dev-{bed}", bed=bed)


async def test_web_process_receives_every_event_in_seq_order(pair: tuple[Service, Service, SpO2Stage]) -> None:
    ingest, web, _ = pair
    seen: list[Event] = []
    web.bus.subscribe(seen.append)
    start = ingest.bus.last_seq
    for i in range(50):
        await ingest.pipeline.submit([spo2(97.0 - (i % 3), ts=1000.0 + i)])
    await ingest.pipeline.submit([spo2(85.0, ts=2000.0)])  # raises an alarm
    last = ingest.bus.last_seq
    await until(lambda: web.bus.last_seq >= last, what="the web process to catch up")
    seqs = [e["seq"] for e in seen if "_json" in e and e["seq"] > start]  # logged events (not local heartbeats)
    assert seqs == list(range(start + 1, last + 1)), "the web process must see every seq once, in order"
    assert [e for e in seen if e["type"] == "alarm"][-1]["alarm"]["state"] == "active"
    assert "spo2-chair-1" in web.live.alarms
    assert web.live.values["chair-1"][Vital.SPO2].value == 85.0


async def test_acknowledge_on_web_reaches_the_ingest_engine(pair: tuple[Service, Service, SpO2Stage]) -> None:
    ingest, web, stage = pair
    await ingest.pipeline.submit([spo2(84.0)])
    await until(lambda: "spo2-chair-1" in web.live.alarms, what="the alarm on the web process")

    changes = (await web.commands.run(Acknowledge(alarm="spo2-chair-1"), "nurse")).changes

    assert stage.acknowledged == [("spo2-chair-1", "nurse")], "the ingest's engine took the action"
    assert changes[0].transition == "acknowledged" and changes[0].alarm.acknowledged_by == "nurse"
    assert web.live.alarms["spo2-chair-1"].state is AlarmState.ACKNOWLEDGED  # before the request returns
    with ingest.engine.connect() as conn:  # stored before the answer came back
        state = conn.scalar(select(schema.alarms.c.state).where(schema.alarms.c.id == "spo2-chair-1"))
    assert state == "acknowledged"


async def test_sessions_started_and_changed_on_web_run_on_the_ingest(pair: tuple[Service, Service, SpO2Stage]) -> None:
    ingest, web, _ = pair
    session = await web.sessions.start("chair-2", "P-001", "nurse", dose_mg=35.0)
    assert ingest.sessions.open_by_bed["chair-2"].id == session.id
    assert web.sessions.open_by_bed["chair-2"].id == session.id

    changed = await web.sessions.change_phase(session.id, Phase.INFUSION, "nurse")
    assert changed.phase is Phase.INFUSION and ingest.sessions.by_id[session.id].phase is Phase.INFUSION

    with pytest.raises(SessionError, match="cannot go from infusion to baseline"):
        await web.sessions.change_phase(session.id, Phase.BASELINE, "nurse")
    with pytest.raises(SessionError, match="already has an open session"):
        await web.sessions.start("chair-2", "P-002", "nurse")

    # The readings of the bed are bound on the ingest to the session the web process started.
    await ingest.pipeline.submit([spo2(96.0, bed="chair-2")])
    with ingest.engine.connect() as conn:
        assert (
            conn.scalar(select(schema.readings.c.session_id).where(schema.readings.c.bed_id == "chair-2")) == session.id
        )


async def test_resume_from_the_ring_and_from_the_log(pair: tuple[Service, Service, SpO2Stage]) -> None:
    ingest, web, _ = pair
    for i in range(20):
        await ingest.pipeline.submit([spo2(95.0, ts=3000.0 + i)])
    last = ingest.bus.last_seq
    await until(lambda: web.bus.last_seq >= last, what="catch-up")
    middle = last - 10
    from_ring = web.bus.since(middle)
    assert from_ring is not None and [e["seq"] for e in from_ring] == list(range(middle + 1, last + 1))

    other = build_web_service(ingest.settings)  # a web process started later: its ring is empty
    try:
        from_log = other.bus.since(middle)
        assert from_log is not None and [e["seq"] for e in from_log] == list(range(middle + 1, last + 1))
        assert [e["vitals"] for e in from_log] == [e["vitals"] for e in from_ring]
        assert other.bus.since(last + 1000) is None  # a seq this database never had: snapshot
    finally:
        other.engine.dispose()


async def test_listener_killed_by_the_server_reconnects_and_loses_nothing(
    pair: tuple[Service, Service, SpO2Stage],
) -> None:
    ingest, web, _ = pair
    listener = web.bus.listener  # type: ignore[attr-defined]
    await until(lambda: listener.connected, what="LISTEN")
    with ingest.engine.connect() as conn:  # a real fault: PostgreSQL drops the LISTEN connection
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.backend_pid})
    for i in range(10):
        await ingest.pipeline.submit([spo2(93.0, ts=4000.0 + i)])
    last = ingest.bus.last_seq
    await until(lambda: web.bus.last_seq >= last, what="delivery after the LISTEN connection died")
    await until(lambda: listener.reconnects >= 1 and listener.connected, what="the listener to reconnect")
    assert web.bus.health()["gaps"] == 0


async def test_command_nobody_takes_is_withdrawn_with_503(postgres_url: str) -> None:
    from monitor.store import database

    engine = database.make_engine(postgres_url)
    database.upgrade(engine)
    client = CommandClient(engine, timeout_s=0.5, poll_s=0.1)
    with pytest.raises(IngestUnavailable) as refused:
        await client.call(Acknowledge(alarm="x"), "nurse")
    assert refused.value.status == 503
    with engine.connect() as conn:
        assert conn.scalar(select(schema.commands.c.status)) == "expired", "a withdrawn action must never run later"
    engine.dispose()
