"""``ivmon simulate --to serial:pty``: the target makes the pty, the transport reads it."""

from __future__ import annotations

import argparse
import asyncio
import io

import pytest

from adapters.serial.transport import SerialTransport
from monitor.model import DeviceState, Vital
from monitor.retry import Backoff
from simulators.cli import load_target
from tests.adapters.serial.serial_pty_helpers import RecordingSink


@pytest.mark.parametrize(
    ("protocol", "decoder", "options"),
    [
        ("masimo-ascii1", "masimo-ascii1", {}),
        ("nellcor-n560", "text-lines", {"preset": "nellcor-n560"}),
        ("datex-s5", "datex-s5", {"interval_s": 1}),
    ],
)
async def test_simulate_to_serial_pty_reaches_the_transport(
    protocol: str, decoder: str, options: dict[str, object]
) -> None:
    args = argparse.Namespace(protocol=protocol)
    target = load_target("serial:pty", args)
    out = io.StringIO()
    target.out = out  # type: ignore[attr-defined]
    await target.open()
    path = out.getvalue().split(": ", 1)[1].splitlines()[0]
    assert path.startswith("/dev/")
    sink = RecordingSink()
    transport = SerialTransport(path, decoder, "chair-1", options=options, backoff=Backoff(first_s=0.05, max_s=0.2))
    task = asyncio.create_task(transport.run(sink))

    async def patients() -> None:
        n = 0
        while True:
            for patient in (0, 1):  # a port carries one device: patient 1 must not appear
                spo2 = 96.0 if patient == 0 else 70.0
                await target.send(patient, 1_700_000_000.0 + n, "infusion", {Vital.SPO2: spo2, Vital.PR: 80.0})
            n += 1
            await asyncio.sleep(0.05)

    feeder = asyncio.create_task(patients())
    try:
        await sink.wait_for(lambda: len(sink.readings(Vital.SPO2)) >= 3)
    finally:
        feeder.cancel()
        task.cancel()
        await asyncio.gather(feeder, task, return_exceptions=True)
        await target.close()
    assert sink.states()[0] is DeviceState.CONNECTED
    assert {r.value for r in sink.readings(Vital.SPO2)} == {96.0}
    assert "one device per port" in out.getvalue()


def test_serial_target_needs_a_protocol_and_a_device() -> None:
    with pytest.raises(ValueError, match="--protocol"):
        load_target("serial:pty", argparse.Namespace())
    with pytest.raises(ValueError, match="needs a device"):
        load_target("serial:", argparse.Namespace(protocol="masimo-ascii1"))
    with pytest.raises(ValueError, match="no device emulator"):
        load_target("serial:pty", argparse.Namespace(protocol="philips-mib"))
