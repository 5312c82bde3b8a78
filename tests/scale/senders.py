"""Bedside monitors and what to look at afterwards, for the storage-outage tests (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import create_engine, func, select

from adapters.hl7.client import MllpClient
from monitor.model import Vital
from monitor.store import schema
from simulators.emit.pcd01 import encode_pcd01

BASE_TS = 1_764_000_000.0
BEDS = 3
#: Readings in each message (HR and SpO2): the count per message in the database when stored once.
READINGS_PER_MESSAGE = 2
#: An AE is a refusal the monitor answers by sending the same message again, after a pause.
RESEND_PAUSE_S = 0.5
MAX_RESENDS = 200
#: The messages' control ids (MSH-10) begin so; they are in the message keys ivmon stores with them.
CONTROL_PREFIX = "OUT"


def message(i: int) -> bytes:
    """Message ``i``: its own timestamp (BASE_TS + i) and control id, bed ``i % 3``."""
    return encode_pcd01(
        {Vital.HR: 70.0 + i % 20, Vital.SPO2: 97.0},
        BASE_TS + i,
        device=f"0012{i % BEDS:012d}",
        location=f"chair-{i % BEDS + 1}",
        control_id=f"{CONTROL_PREFIX}{i:06d}",
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """The last ACK a monitor got for one message, with when (time.monotonic()) it sent and heard."""

    code: str
    sent: float
    acked: float
    refusals: int  # AE answers before it, each followed by a resend


async def send_all(
    port: int,
    ids: range,
    answers: dict[int, Answer],
    *,
    timeout: float = 120.0,
    stop: asyncio.Event | None = None,
    pause_s: float = 0.0,
) -> None:
    """One monitor per bed: each waits for its ACK before its next message, as real monitors do.

    With ``stop``, each monitor ends after the answer it is waiting for once ``stop`` is set
    (``ids`` may then be far longer than what is sent).
    """

    async def monitor(mine: range) -> None:
        client = MllpClient("127.0.0.1", port, timeout=timeout)
        try:
            for i in mine:
                if stop is not None and stop.is_set():
                    return
                sent, refusals = time.monotonic(), 0
                while (ack := await client.send(message(i))).code == "AE" and refusals < MAX_RESENDS:
                    refusals += 1
                    await asyncio.sleep(RESEND_PAUSE_S)
                answers[i] = Answer(ack.code, sent, time.monotonic(), refusals)
                await asyncio.sleep(pause_s)
        finally:
            await client.close()

    await asyncio.gather(*(monitor(_beds_ids(ids, bed)) for bed in range(BEDS)))


def _beds_ids(ids: range, bed: int) -> range:
    """The ids of ``ids`` that are messages of ``bed`` (``message(i)`` is bed ``i % BEDS``)."""
    return range(ids.start + (bed - ids.start) % BEDS, ids.stop, BEDS)


def codes(answers: dict[int, Answer]) -> set[str]:
    return {a.code for a in answers.values()}


def alarm_rules(base: str, cookies: httpx.Cookies) -> set[str]:
    """The rules of the alarms on screen (what a dashboard shows)."""
    r = httpx.get(f"{base}/api/alarms", cookies=cookies, timeout=10)
    r.raise_for_status()
    return {a["rule"] for a in r.json()}


def health_status(base: str) -> str:
    return str(httpx.get(f"{base}/api/health", timeout=10).json()["status"])


def readings_per_message(db_url: str) -> dict[float, int]:
    """How many readings the database holds for each message (by its timestamp)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(schema.readings.c.ts, func.count()).group_by(schema.readings.c.ts)
            return {float(ts): int(n) for ts, n in conn.execute(query).all()}
    finally:
        engine.dispose()


def outage_transitions(db_url: str) -> list[str]:
    """The stored history of the storage-outage technical alarm, sorted."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(schema.alarm_events.c.transition).where(schema.alarm_events.c.alarm_id.like("storage-%"))
            return sorted(conn.execute(query).scalars().all())
    finally:
        engine.dispose()


def storage_alarm_histories(db_url: str) -> dict[str, list[tuple[float, str]]]:
    """Each storage-outage alarm's stored transitions, ``(ts, transition)`` in time order, by alarm id."""
    engine = create_engine(db_url)
    try:
        e = schema.alarm_events.c
        with engine.connect() as conn:
            rows = conn.execute(
                select(e.alarm_id, e.ts, e.transition).where(e.alarm_id.like("storage-%")).order_by(e.ts)
            )
            out: dict[str, list[tuple[float, str]]] = {}
            for alarm_id, ts, transition in rows:
                out.setdefault(str(alarm_id), []).append((float(ts), str(transition)))
            return out
    finally:
        engine.dispose()


async def send_now(port: int, vitals: dict[Vital, float], device: str, location: str = "") -> None:
    """One monitor's message stamped now (``location``: the chair it claims, PV1-3), answered AA."""
    client = MllpClient("127.0.0.1", port)
    await client.connect()
    try:
        ack = await client.send(encode_pcd01(vitals, time.time(), device=device, location=location))
        assert ack.code == "AA", ack
    finally:
        await client.close()
