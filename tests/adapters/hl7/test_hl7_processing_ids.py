"""MSH-11 processing ids over real sockets: python-hl7's ``mllp_send`` sends IIC-style demo-mode messages.

A central station in demo mode sends simulated patients as training data
(MSH-11 ``T``). By default they are refused with AR and an ERR naming MSH-11,
and counted; with ``[hl7] processing_ids = ["P", "T"]`` they are stored marked
``training``, on no chair (even a bound one), and never judged.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import hl7
import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from adapters.hl7.listener import MllpListener
from dashboard.app import create_app
from monitor.config import Hl7Binding, Hl7Settings, load_settings
from monitor.model import Quality, Vital
from monitor.service import build_service
from monitor.store import schema
from tests.adapters.hl7.hl7_helpers import StoredSink, stored_sink
from tests.conftest import free_port
from tests.fixtures import FIXTURES

DEMO = FIXTURES / "hl7" / "ivmon_philips_iic_style_demo_mode_v23.mllp"
TRAINING_IDS = [
    "IVM0701090000101B01WIN01",
    "IVM0701090000202B01WIN02",
    "IVM0701090000303B01WIN03",
    "IVM0701090000404B01WIN04",
]
NMD_ID = "IVM0701090000505B01WIN05"


async def mllp_send(path: Path, port: int) -> list[hl7.Message]:
    """Send a file of MLLP frames with python-hl7's own client; its ACKs, parsed by python-hl7."""
    tool = Path(sys.executable).with_name("mllp_send")
    proc = await asyncio.create_subprocess_exec(
        str(tool),
        "-f",
        str(path),
        "-p",
        str(port),
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    # mllp_send prints each ACK as received: its MLLP frame (0x0B ... 0x1C 0x0D), then a newline.
    blocks = (b.strip(b"\x0b\r\n") for b in out.split(b"\x1c"))
    return [hl7.parse(b.decode("utf-8")) for b in blocks if b.startswith(b"MSH")]


def settings(**extra: object) -> Hl7Settings:
    return Hl7Settings.model_validate(
        {"host": "127.0.0.1", "port": 0, "timezone": "UTC", "idle_timeout_s": 30, **extra}
    )


@pytest.fixture
async def bound_sink(sqlite_url: str) -> AsyncIterator[StoredSink]:
    async with stored_sink(sqlite_url) as s:
        yield s


async def run_listener(
    hl7_settings: Hl7Settings, sink: StoredSink, path: Path
) -> tuple[MllpListener, list[hl7.Message]]:
    listener = MllpListener(hl7_settings)
    await listener.start(sink)
    try:
        acks = await mllp_send(path, listener.port)
    finally:
        await listener.stop()
    await sink.pipeline.writer.durable()
    return listener, acks


def by_control_id(acks: list[hl7.Message]) -> dict[str, hl7.Message]:
    return {str(a.segment("MSA")[2]): a for a in acks}


async def test_training_data_is_refused_by_default_naming_msh11(bound_sink: StoredSink) -> None:
    listener, acks = await run_listener(settings(), bound_sink, DEMO)
    answers = by_control_id(acks)
    assert sorted(answers) == sorted([*TRAINING_IDS, NMD_ID])
    for cid in TRAINING_IDS:
        ack = answers[cid]
        assert str(ack.segment("MSA")[1]) == "AR"
        err = ack.segment("ERR")
        # v2.3: ERR-1 = segment^sequence^field^code&text&table
        assert str(err[1]).startswith("MSH^1^11^202&Unsupported processing id&HL70357")
        assert "MSH-11 processing id T (training)" in str(err)
        assert str(ack.segment("MSH")[11]) == "T", "the answer to training data is marked training too"
    assert str(answers[NMD_ID].segment("MSA")[1]) == "AR"  # a network message, not an observation
    assert listener.counters["refused_processing_id_T"] == 4
    # Logged and kept once per sender and reason (a demo station sends every bed every few seconds), plus the NMD.
    assert [e.reason[:20] for e in listener.raw_log.entries] == ["MSH-11 processing id", "unsupported message "]
    counters = listener.health()["counters"]
    assert isinstance(counters, dict) and counters["refused_processing_id_T"] == 4  # what /metrics exports
    assert bound_sink.readings == []


async def test_training_data_accepted_when_configured_is_marked_and_never_judged(bound_sink: StoredSink) -> None:
    # pDemo5 is bound to a chair: a demo monitor wheeled to a real patient's chair.
    hl7_settings = settings(
        processing_ids=["P", "T"], bindings=[Hl7Binding(bed="chair-5", location="ICU/PCU^^pDemo5&0&0")]
    )
    listener, acks = await run_listener(hl7_settings, bound_sink, DEMO)
    answers = by_control_id(acks)
    assert [str(answers[cid].segment("MSA")[1]) for cid in TRAINING_IDS] == ["AA"] * 4
    readings = bound_sink.readings
    assert readings and all(r.quality is Quality.TRAINING for r in readings)
    assert all(r.bed is None for r in readings), "training data is on no chair, bound or not"
    got = {(r.source, r.vital): r.value for r in readings}
    # value by value, as the messages carry them
    assert got[("ICU/PCU^^pDemo2&0&0", Vital.SPO2)] == 97.0  # SpO2T, the telemetry SpO2
    assert got[("ICU/PCU^^pDemo2&0&0", Vital.HR)] == 74.0
    assert got[("ICU/PCU^^pDemo2&0&0", Vital.RR)] == 17.0
    assert got[("ICU/PCU^^pDemo3&0&0", Vital.SBP)] == 128.0
    assert got[("ICU/PCU^^pDemo3&0&0", Vital.DBP)] == 79.0
    assert got[("ICU/PCU^^pDemo3&0&0", Vital.MAP)] == 95.0
    assert got[("ICU/PCU^^pDemo5&0&0", Vital.SPO2)] == 84.0
    assert got[("ICU/PCU^^pDemo5&0&0", Vital.HR)] == 131.0
    assert ("ICU/PCU^^pDemo4&0&0", Vital.SBP) not in got, "an arterial line is never NIBP"
    # SpO2 84 % and HR 131 would alarm on a patient: training data raised nothing, and the
    # monitor's own text alarm about its simulated patient was dropped (counted).
    with bound_sink.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.alarms)).scalar_one() == 0
    assert listener.counters["training_alarms_dropped"] == 1
    assert listener.counters["training_messages"] == 4
    assert bound_sink.pipeline.live.vitals_of("chair-5") == {}


async def test_production_telemetry_spo2_is_read(bound_sink: StoredSink) -> None:
    """The reported bug: ``0002-f09c^SpO2T`` 99 % was acknowledged but never shown; the HR beside it was."""
    path = FIXTURES / "hl7" / "ivmon_philips_iic_style_telemetry_v23.hl7"
    hl7_settings = settings(bindings=[Hl7Binding(bed="chair-12", location="INFUSION^^Tele12&0&0")])
    listener = MllpListener(hl7_settings)
    await listener.start(bound_sink)
    try:
        tool = Path(sys.executable).with_name("mllp_send")
        proc = await asyncio.create_subprocess_exec(
            str(tool), "--loose", "-f", str(path), "-p", str(listener.port), "127.0.0.1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    finally:
        await listener.stop()
    assert "MSA|AA|IVM0701091500606B01WIN06" in out.decode().replace("\r", "\n")
    await bound_sink.pipeline.writer.durable()
    got = {r.vital: (r.value, r.bed, r.quality) for r in bound_sink.readings}
    assert got == {
        Vital.SPO2: (99.0, "chair-12", Quality.VALID),
        Vital.HR: (68.0, "chair-12", Quality.VALID),  # QT-HR beside it is not the monitored HR
        Vital.RR: (14.0, "chair-12", Quality.VALID),
    }


async def test_refused_training_data_is_counted_in_metrics(sqlite_url: str) -> None:
    """The refusals reach ``/metrics`` of the real service (the listener's counters, per processing id)."""
    hl7_port, http_port = free_port(), free_port()
    service = build_service(load_settings(db_url=sqlite_url, hl7={"host": "127.0.0.1", "port": hl7_port}))
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=http_port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                await asyncio.sleep(0.02)
        acks = await mllp_send(DEMO, hl7_port)
        assert sorted(str(a.segment("MSA")[1]) for a in acks) == ["AR"] * 5
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{http_port}/metrics")).text
        assert 'ivmon_adapter_events_total{adapter="hl7",counter="refused_processing_id_T"} 4.0' in text
        assert 'ivmon_hl7_acks_total{adapter="hl7",code="AR"} 5.0' in text
    finally:
        server.should_exit = True
        await task
