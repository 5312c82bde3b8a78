"""A ``[[serial]]`` entry in the TOML configuration, through the real service, pipeline and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from adapters.serial.emulator import make_emulator
from monitor.config import load_settings
from monitor.model import Vital
from monitor.service import build_service
from monitor.store import readings as reading_store
from monitor.store import schema
from tests.adapters.serial.serial_pty_helpers import PtyDevice, run_device


def _device_states(engine: Engine, source: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.device_events.c.state)
            .where(schema.device_events.c.source == source, schema.device_events.c.vital.is_(None))
            .order_by(schema.device_events.c.ts)
        ).all()
    return [r[0] for r in rows]


async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_serial_port_from_toml_config_stores_readings_and_disconnection(tmp_path: Path) -> None:
    device = PtyDevice(tmp_path / "ttyUSB-masimo", make_emulator("masimo-ascii1"))
    config = tmp_path / "ivmon.toml"
    config.write_text(
        f'db_url = "sqlite:///{tmp_path / "ivmon.db"}"\n'
        "[hl7]\nenabled = false\n"
        "[[serial]]\n"
        f'port = "{device.link}"\n'
        'protocol = "masimo-ascii1"\n'
        'bed = "chair-3"\n'
    )
    settings = load_settings(config)
    service = build_service(settings)
    source = f"serial:{device.link}"
    assert [a.name for a in service.adapters] == [source]
    await service.start()

    def spo2_rows() -> list[Any]:
        return [r for r in reading_store.latest_readings(service.engine, 0) if r.vital == "spo2"]

    feeder = asyncio.create_task(run_device(device, lambda n: {Vital.SPO2: 96.0, Vital.PR: 64.0 + n % 3}))
    try:
        await _until(lambda: reading_store.count_readings(service.engine) >= 6)
        [row] = spo2_rows()
        assert (row.value, row.unit, row.bed_id, row.source, row.quality) == (96.0, "%", "chair-3", source, "valid")
        health = service.health()["adapters"][source]
        assert health["connected"] is True and health["frames_ok"] >= 3
        device.unplug()
        await _until(lambda: _device_states(service.engine, source)[-1:] == ["disconnected"])
        assert service.health()["adapters"][source]["connected"] is False
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        await service.stop()
        service.engine.dispose()
    assert _device_states(service.engine, source) == ["connected", "disconnected"]
