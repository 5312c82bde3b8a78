"""The transport end to end on real pseudo-terminals: emulator -> pty -> pyserial -> decoder -> sink."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from adapters.serial.datex.emulator import DatexEmulator
from adapters.serial.emulator import make_emulator
from adapters.serial.transport import SerialTransport
from monitor.model import DeviceState, Quality, Vital
from monitor.retry import Backoff
from tests.adapters.serial.serial_pty_helpers import PtyDevice, RecordingSink, run_device

FAST = Backoff(first_s=0.05, max_s=0.2)


def patient(n: int) -> dict[Vital, float]:
    vitals = {Vital.HR: 70.0 + n % 5, Vital.PR: 71.0, Vital.SPO2: 97.0}
    if n == 2:
        vitals.update({Vital.SBP: 124.0, Vital.DBP: 82.0, Vital.MAP: 96.0})
    return vitals


PROTOCOLS = [
    ("masimo-ascii1", {}, "masimo-ascii1", [Vital.SPO2, Vital.PR]),
    ("text-lines", {"preset": "nonin"}, "text-lines:nonin", [Vital.SPO2, Vital.PR]),
    ("text-lines", {"preset": "nellcor-n560"}, "text-lines:nellcor-n560", [Vital.SPO2, Vital.PR]),
    ("ivy-ansarb", {}, "ivy-ansarb", [Vital.HR, Vital.SPO2, Vital.PR, Vital.SBP]),
    ("datex-s5", {"interval_s": 1}, "datex-s5", [Vital.HR, Vital.SPO2, Vital.PR, Vital.SBP]),
]


@pytest.mark.parametrize(("protocol", "options", "emulator", "vitals"), PROTOCOLS, ids=[p[2] for p in PROTOCOLS])
async def test_transport_reads_each_emulator_through_a_pty(
    tmp_path: Path, protocol: str, options: dict[str, object], emulator: str, vitals: list[Vital]
) -> None:
    device = PtyDevice(tmp_path / "ttyDEVICE", make_emulator(emulator))
    sink = RecordingSink()
    transport = SerialTransport(str(device.link), protocol, "chair-3", options=options, backoff=FAST)
    task = asyncio.create_task(transport.run(sink))
    feeder = asyncio.create_task(run_device(device, patient))
    try:
        await sink.wait_for(
            lambda: all(len(sink.readings(v)) >= 1 for v in vitals) and len(sink.readings(vitals[0])) >= 3
        )
    finally:
        feeder.cancel()
        task.cancel()
        await asyncio.gather(task, feeder, return_exceptions=True)
        device.unplug()
    assert sink.states()[0] is DeviceState.CONNECTED
    assert {r.value for r in sink.readings(Vital.SPO2)} == {97.0}
    assert all(r.bed == "chair-3" and r.source == f"serial:{device.link}" for r in sink.readings())
    if Vital.SBP in vitals:
        assert [r.value for r in sink.readings(Vital.SBP)] == [124.0]
    health = transport.health()
    assert health["connected"] is False and health["protocol"] == protocol
    assert isinstance(health["frames_ok"], int) and health["frames_ok"] >= 3
    if protocol == "datex-s5":
        assert b"\x7e" in device.received  # the host asked before the monitor said anything


async def test_unplug_raises_disconnected_and_replug_resumes(tmp_path: Path) -> None:
    device = PtyDevice(tmp_path / "ttyUSB-by-id", make_emulator("masimo-ascii1"))
    sink = RecordingSink()
    transport = SerialTransport(str(device.link), "masimo-ascii1", "chair-1", backoff=FAST)
    task = asyncio.create_task(transport.run(sink))
    feeder = asyncio.create_task(run_device(device, patient))
    try:
        await sink.wait_for(lambda: len(sink.readings(Vital.SPO2)) >= 3)
        unplugged = time.monotonic()
        device.unplug()
        await sink.wait_for(lambda: sink.states()[-1:] == [DeviceState.DISCONNECTED])
        # The spec's "monitor disconnected" alarm allows 15 s; the transport must report well within it.
        assert time.monotonic() - unplugged < 15.0
        assert transport.health()["connected"] is False
        before = len(sink.readings())
        await asyncio.sleep(0.3)  # a few failed reopen attempts against the vanished port
        assert transport.open_failures >= 1
        device.plug()
        await sink.wait_for(lambda: sink.states()[-1:] == [DeviceState.CONNECTED])
        await sink.wait_for(lambda: len(sink.readings()) >= before + 4)
    finally:
        feeder.cancel()
        task.cancel()
        await asyncio.gather(task, feeder, return_exceptions=True)
        device.unplug()
    assert sink.states() == [DeviceState.CONNECTED, DeviceState.DISCONNECTED, DeviceState.CONNECTED]
    assert transport.reconnects == 1


async def test_silence_on_an_open_port_reports_disconnected_then_resumes(tmp_path: Path) -> None:
    device = PtyDevice(tmp_path / "ttyS9", make_emulator("text-lines:nonin"))
    sink = RecordingSink()
    transport = SerialTransport(
        str(device.link), "text-lines", "chair-2", options={"preset": "nonin", "silence_s": 0.6}, backoff=FAST
    )
    task = asyncio.create_task(transport.run(sink))
    try:
        await sink.wait_for(lambda: sink.states() == [DeviceState.CONNECTED])
        for n in range(3):
            device.send({Vital.SPO2: 95.0, Vital.PR: 60.0}, 1.0 + n)
            await asyncio.sleep(0.05)
        await sink.wait_for(lambda: len(sink.readings(Vital.SPO2)) >= 2)
        # The device goes quiet (cable out behind a USB adapter that stays plugged in).
        waited = await sink.wait_for(lambda: sink.states()[-1:] == [DeviceState.DISCONNECTED], timeout=5.0)
        assert waited < 5.0
        count = len(sink.readings())
        device.send({Vital.SPO2: 94.0, Vital.PR: 61.0}, 10.0)
        device.send({Vital.SPO2: 94.0, Vital.PR: 61.0}, 11.0)
        await sink.wait_for(lambda: sink.states()[-1:] == [DeviceState.CONNECTED])
        await sink.wait_for(lambda: len(sink.readings()) > count)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        device.unplug()
    assert sink.states() == [DeviceState.CONNECTED, DeviceState.DISCONNECTED, DeviceState.CONNECTED]
    # Nothing was made up during the silence: every reading came from a line the device sent.
    assert {r.value for r in sink.readings(Vital.SPO2)} <= {95.0, 94.0}


async def test_bytes_sent_before_the_port_opened_are_flushed_not_decoded(tmp_path: Path) -> None:
    device = PtyDevice(tmp_path / "ttyOLD", make_emulator("masimo-ascii1"))
    for n in range(5):  # stale lines waiting in the driver's buffer
        device.send({Vital.SPO2: 55.0, Vital.PR: 140.0}, float(n))
    sink = RecordingSink()
    transport = SerialTransport(str(device.link), "masimo-ascii1", "chair-1", backoff=FAST)
    task = asyncio.create_task(transport.run(sink))
    try:
        await sink.wait_for(lambda: sink.states() == [DeviceState.CONNECTED])
        for n in range(4):
            device.send({Vital.SPO2: 98.0, Vital.PR: 70.0}, 10.0 + n)
            await asyncio.sleep(0.05)
        await sink.wait_for(lambda: len(sink.readings(Vital.SPO2)) >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        device.unplug()
    assert {r.value for r in sink.readings(Vital.SPO2)} == {98.0}


async def test_garbage_and_a_bad_checksum_are_skipped_counted_and_the_next_frame_stored(tmp_path: Path) -> None:
    emulator = DatexEmulator()
    device = PtyDevice(tmp_path / "ttyDX", emulator)
    sink = RecordingSink()
    transport = SerialTransport(str(device.link), "datex-s5", "chair-6", options={"interval_s": 1}, backoff=FAST)
    task = asyncio.create_task(transport.run(sink))
    try:
        await sink.wait_for(lambda: sink.states() == [DeviceState.CONNECTED])

        def asked() -> bool:
            device.pump_host()
            return emulator.interval_s == 1

        await sink.wait_for(asked)
        good = emulator.emit({Vital.HR: 66.0, Vital.SPO2: 96.0, Vital.PR: 67.0}, 100.0)
        bad = bytearray(emulator.emit({Vital.HR: 150.0, Vital.SPO2: 80.0, Vital.PR: 150.0}, 101.0))
        bad[-2] ^= 0x10
        again = emulator.emit({Vital.HR: 68.0, Vital.SPO2: 95.0, Vital.PR: 69.0}, 102.0)
        device.write(good)
        await sink.wait_for(lambda: len(sink.readings(Vital.HR)) == 1)
        device.write(b"\x00\x13\x11 noise at the wrong baud rate \x7d\x7d" + bytes(bad) + b"\xde\xad" + again)
        await sink.wait_for(lambda: len(sink.readings(Vital.HR)) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        device.unplug()
    assert [r.value for r in sink.readings(Vital.HR)] == [66.0, 68.0]
    assert all(r.quality is Quality.VALID for r in sink.readings())
    health = transport.health()
    assert health["checksum_errors"] == 1
    assert isinstance(health["bytes_skipped"], int) and health["bytes_skipped"] >= len(bad)


async def test_a_device_reporting_sensor_off_is_not_a_lost_link(tmp_path: Path) -> None:
    """Lines with no value in them (probe off) still prove the device is talking."""
    device = PtyDevice(tmp_path / "ttyOFF", make_emulator("masimo-ascii1"))
    sink = RecordingSink()
    transport = SerialTransport(str(device.link), "masimo-ascii1", "chair-1", options={"silence_s": 0.5}, backoff=FAST)
    task = asyncio.create_task(transport.run(sink))
    feeder = asyncio.create_task(run_device(device, lambda n: {}, period=0.1))  # dashes, EXC "sensor off"
    try:
        await sink.wait_for(lambda: any(getattr(i, "state", None) is DeviceState.SENSOR_OFF for i in sink.items))
        await asyncio.sleep(1.2)  # more than twice the silence limit
    finally:
        feeder.cancel()
        task.cancel()
        await asyncio.gather(task, feeder, return_exceptions=True)
        device.unplug()
    assert sink.states() == [DeviceState.CONNECTED]
    assert sink.readings() == []
