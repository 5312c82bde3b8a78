"""Test helpers: a device on the far side of a real pty, and a small real sink."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from collections.abc import Callable, Sequence
from pathlib import Path

from adapters.base import SubmitResult
from adapters.serial.emulator import DeviceEmulator
from monitor.model import DeviceState, DeviceStatus, IngestItem, Reading, Vital


class RecordingSink:
    """Keeps what it is given, in order (the pipeline's place in these tests)."""

    def __init__(self) -> None:
        self.items: list[IngestItem] = []

    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        self.items.extend(items)
        return SubmitResult(stored=sum(isinstance(i, Reading) for i in items), rejected=0)

    def readings(self, vital: Vital | None = None) -> list[Reading]:
        return [i for i in self.items if isinstance(i, Reading) and (vital is None or i.vital is vital)]

    def states(self) -> list[DeviceState]:
        return [i.state for i in self.items if isinstance(i, DeviceStatus) and i.vital is None]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> float:
        """Waits until ``predicate()`` holds; returns the seconds it took. Fails after ``timeout``."""
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"condition not met within {timeout} s; got {self.items[-10:]}")
            await asyncio.sleep(0.02)
        return time.monotonic() - start


class PtyDevice:
    """A device emulator writing into the master side of a pty.

    The transport opens a stable symlink, like ``/dev/serial/by-id/...``:
    unplugging closes the pty; plugging in again makes a new pty behind the
    same name.
    """

    def __init__(self, link: Path, emulator: DeviceEmulator) -> None:
        self.link = link
        self.emulator = emulator
        self.master: int | None = None
        self.received = bytearray()
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        name = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        tmp = self.link.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(name)
        os.replace(tmp, self.link)
        self.master = master

    def unplug(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def write(self, data: bytes) -> None:
        assert self.master is not None
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            view = view[n:]

    def pump_host(self) -> None:
        """Hands what the host wrote to the emulator (only the Datex monitor listens)."""
        if self.master is None:
            return
        while True:
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.received += data
            self.emulator.receive(data)

    def send(self, vitals: dict[Vital, float], ts: float) -> None:
        self.pump_host()
        data = self.emulator.emit(vitals, ts)
        if data:
            self.write(data)


async def run_device(
    device: PtyDevice, vitals: Callable[[int], dict[Vital, float]], period: float = 0.05, seconds_per_tick: float = 1.0
) -> None:
    """Emulated device time runs ``seconds_per_tick`` per real ``period``; stops when cancelled."""
    n = 0
    while True:
        if device.master is not None:
            device.send(vitals(n), 1_700_000_000.0 + n * seconds_per_tick)
        n += 1
        await asyncio.sleep(period)
