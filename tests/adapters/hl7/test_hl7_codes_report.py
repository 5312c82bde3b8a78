"""The integrator's view on a run mixing known and unknown codes: counted per sender, stored, listed by
``ivmon hl7 codes``; a mapping added to the configuration file takes effect without a restart.

Messages go over a real socket with python-hl7's ``MLLPClient``; the report is the real command line
reading the real database.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import hl7.client
import pytest
from sqlalchemy import create_engine

from adapters.hl7.codes import CodeMap
from adapters.hl7.listener import MllpListener
from adapters.hl7.observed import CodeLedger
from monitor.cli import main
from monitor.code_flush import flush_once
from monitor.config import Hl7Settings, load_settings
from monitor.config_watch import reload_once, watch_config
from monitor.model import Vital
from monitor.store import database
from monitor.store.hl7_codes import list_codes
from tests.adapters.hl7.hl7_helpers import StoredSink, stored_sink
from tests.fixtures import FIXTURES

TELEMETRY = (FIXTURES / "hl7" / "ivmon_philips_iic_style_telemetry_v23.hl7").read_bytes()


def acme(control_id: str) -> bytes:
    """A monitor the project has never seen: local codes, one of them a saturation in %."""
    return (
        f"MSH|^~\\&|ACME^A1B2C3D4E5F60708^EUI-64|ACME|||20260701100000||ORU^R01^ORU_R01|{control_id}|P|2.5\r"
        "PV1||I|WARD^^CHAIR9\r"
        "OBR|1||||||20260701100000\r"
        "OBX|1|NM|7001^SAT^99ACME||96|%^percent^UCUM|||||F\r"
        "OBX|2|NM|7002^O2 FLOW^99ACME||2|L/min^litre per minute^UCUM|||||F\r"
        "OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC||71|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r"
    ).encode()


def send(port: int, *messages: bytes) -> list[str]:
    """python-hl7's client, one connection; the MSA of each answer."""
    answers = []
    with hl7.client.MLLPClient("127.0.0.1", port) as client:
        for raw in messages:
            ack = client.send_message(raw).strip(b"\x0b\x1c\r")
            answers.append(next(s for s in ack.decode().split("\r") if s.startswith("MSA")))
    return answers


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[tuple[MllpListener, StoredSink]]:
    async with stored_sink(sqlite_url) as sink:
        listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, timezone="UTC"))
        await listener.start(sink)
        try:
            yield listener, sink
        finally:
            await listener.stop()


def report(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> list[dict[str, Any]]:
    assert main(["hl7", "codes", "--db", url, "--json", *extra]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


async def test_codes_report_on_known_and_unknown_codes(
    running: tuple[MllpListener, StoredSink], sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    listener, sink = running
    answers = await asyncio.to_thread(send, listener.port, TELEMETRY, acme("A-1"), acme("A-2"))
    assert [a.split("|")[1] for a in answers] == ["AA", "AA", "AA"]
    assert flush_once(sink.engine, listener.observed, time.time()) > 0

    rows = {(r["code"], r["system"]): r for r in report(capsys, sqlite_url)}
    sat = rows[("7001", "99ACME")]
    assert sat["flagged"] is True and sat["outcome"] == "unmapped"
    assert (sat["count"], sat["example_value"], sat["unit"], sat["label"]) == (2, "96", "percent", "SAT")
    assert sat["sender"] == "A1B2C3D4E5F60708 @ 127.0.0.1"
    flow = rows[("7002", "99ACME")]
    assert flow["flagged"] is False and flow["outcome"] == "unmapped"  # litres per minute: not a vital's unit
    assert rows[("147842", "MDC")]["outcome"] == "hr"
    assert rows[("0002-f09c", "MDIL")]["outcome"] == "spo2"  # the telemetry SpO2
    assert rows[("0002-f09c", "MDIL")]["sender"] == "INFUSION^^Tele12&0&0 @ 127.0.0.1"
    assert rows[("0002-f154", "MDIL")]["outcome"].startswith("not tracked: heart rate used for QTc")
    assert rows[("0402-f8f5", "MDIL")]["outcome"].startswith("not tracked: monitoring mode")
    assert next(iter(rows)) == ("7001", "99ACME"), "flagged codes come first"

    # The table for people, and --since
    assert main(["hl7", "codes", "--db", sqlite_url]) == 0
    table = capsys.readouterr().out
    assert "? 1 unmapped code(s) look like a vital" in table
    assert main(["hl7", "codes", "--db", sqlite_url, "--since", "2099-01-01T00:00:00+00:00"]) == 0
    assert capsys.readouterr().out == "no observation codes seen yet\n"
    assert len(report(capsys, sqlite_url, "--since", "1h")) == len(rows)


async def test_a_local_code_added_to_the_file_takes_effect_without_restart(
    running: tuple[MllpListener, StoredSink], sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listener, sink = running
    config = tmp_path / "ivmon.toml"
    config.write_text("[hl7]\nport = 2575\n")
    watcher = asyncio.create_task(watch_config(config, [lambda s: listener.reload(s.hl7)], interval=0.05))
    try:
        await asyncio.to_thread(send, listener.port, acme("B-1"))
        await sink.pipeline.writer.durable()
        assert Vital.SPO2 not in {r.vital for r in sink.readings}

        config.write_text('[hl7]\nport = 2575\nlocal_codes = { "99ACME:7001" = "spo2", "99ACME:7002" = "-" }\n')
        os.utime(config, (1, 2_000_000_000))  # a new mtime even on a coarse-grained file system
        async with asyncio.timeout(30):
            while listener.counters["reloads"] < 1:
                await asyncio.sleep(0.02)

        assert await asyncio.to_thread(send, listener.port, acme("B-2")) == ["MSA|AA|B-2"]
        await sink.pipeline.writer.durable()
        assert [(r.vital, r.value) for r in sink.readings if r.vital is Vital.SPO2] == [(Vital.SPO2, 96.0)]
        flush_once(sink.engine, listener.observed, time.time())
        rows = {r["code"]: r for r in report(capsys, sqlite_url)}
        assert (rows["7001"]["outcome"], rows["7001"]["flagged"], rows["7001"]["count"]) == ("spo2", False, 2)
        assert rows["7002"]["outcome"] == "not tracked: marked not a vital in [hl7] local_codes"

    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    # A mapping that cannot be taken (no such vital) changes nothing (logged); the running one stays.
    config.write_text('[hl7]\nlocal_codes = { "99ACME:7001" = "temperature" }\n')
    assert load_settings(config).hl7.local_codes == {"99ACME:7001": "temperature"}
    assert reload_once(config, [lambda s: listener.reload(s.hl7)]) == []
    assert listener.codes.vital("7001", "SAT", "99ACME") is Vital.SPO2
    config.write_text("[hl7\nbroken")
    assert reload_once(config, [lambda s: listener.reload(s.hl7)]) == []


def test_counts_that_cannot_be_stored_go_with_the_next_flush(tmp_path: Path, sqlite_url: str) -> None:
    ledger = CodeLedger(CodeMap.from_config())
    for _ in range(3):
        ledger.note("MON", "7001^SAT^99ACME", "%", "96", None, "")
    unmigrated = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no hl7_codes table: the insert fails
    with pytest.raises(Exception, match="hl7_codes"):
        flush_once(unmigrated, ledger, time.time())
    ledger.note("MON", "7001^SAT^99ACME", "%", "95", None, "")
    engine = database.make_engine(sqlite_url)
    database.upgrade(engine)
    assert flush_once(engine, ledger, time.time()) == 1
    [row] = list_codes(engine)
    assert (row["count"], row["example_value"], row["flagged"]) == (4, "96", True)
