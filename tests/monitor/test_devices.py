"""The device registry and associations kept across a restart (monitor/devices.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.binding import Bindings
from monitor.config import load_settings
from monitor.devices import DeviceRegistry, devices_view
from monitor.live import LiveState
from monitor.model import DeviceState, DeviceStatus, Reading, Vital
from monitor.service import build_service


def test_the_registry_says_where_each_source_is() -> None:
    registry = DeviceRegistry({"serial:/dev/ttyUSB0": "masimo-ascii1"})
    live = LiveState()
    live.update(Reading(Vital.SPO2, 97.0, "%", 100.0, "serial:/dev/ttyUSB0", bed="chair-3"))
    live.update(Reading(Vital.HR, 71.0, "bpm", 100.0, "MR-2231"))
    registry.on_status(DeviceStatus("MR-2231", DeviceState.CONNECTED, 99.0, address="10.0.4.17", model="MX450"))
    bindings = Bindings({"serial:/dev/ttyUSB0": "chair-3"})
    view = {d["device"]: d for d in devices_view(live, bindings, registry, now=105.0)}
    serial = view["serial:/dev/ttyUSB0"]
    assert (serial["kind"], serial["address"], serial["protocol"], serial["bed"]) == (
        "serial",
        "/dev/ttyUSB0",
        "masimo-ascii1",
        "chair-3",
    )
    assert serial["vitals"]["spo2"]["value"] == 97.0 and serial["vitals"]["spo2"]["age_s"] == 5.0
    hl7 = view["MR-2231"]
    assert (hl7["kind"], hl7["address"], hl7["model"], hl7["bed"], hl7["state"]) == (
        "hl7",
        "10.0.4.17",
        "MX450",
        None,
        "sending",
    )
    registry.on_status(DeviceStatus("MR-2231", DeviceState.DISCONNECTED, 101.0))
    assert {d["device"]: d for d in devices_view(live, bindings, registry, now=106.0)}["MR-2231"]["state"] == (
        "disconnected"
    )
    later = {d["device"]: d for d in devices_view(live, bindings, registry, now=200.0)}
    assert later["serial:/dev/ttyUSB0"]["state"] == "silent"  # its values stay, with their age


def test_associations_survive_a_restart(tmp_path: Path) -> None:
    settings = load_settings(db_url=f"sqlite:///{tmp_path / 'ivmon.db'}", beds={"chair-1": "Chair 1"})
    settings.hl7.enabled = False
    settings.writer_process = False
    service = build_service(settings)
    asyncio.run(service.devices.associate("chair-1", "MR-1", "nurse", ts=50.0))
    asyncio.run(service.devices.associate("chair-1", "MR-2", "nurse", ts=60.0))
    asyncio.run(service.devices.release("chair-1", "MR-2", "nurse", ts=70.0))
    service.engine.dispose()

    again = build_service(settings)
    held = again.devices.bindings.current("mr-1")
    assert held is not None and (held.bed, held.start, held.user) == ("chair-1", 50.0, "nurse")
    assert again.devices.bindings.current("MR-2") is None
    assert again.devices.bindings.last_on_bed == {"chair-1": "MR-2"}
    again.engine.dispose()
