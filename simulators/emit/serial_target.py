"""``ivmon simulate SCENARIO --to serial:DEVICE --protocol NAME``: one simulated patient into a serial port.

``--to serial:pty`` makes a pseudo-terminal pair and prints the device path
for the server to open (``[[serial]] port = "/dev/pts/N"``), so a developer
can run server and "device" on one machine. Any other ``serial:PORT`` is
opened with pyserial at the protocol's line settings (a real port, one end of
a ``socat`` pair, or a pyserial URL such as ``socket://host:7000``).
A serial port carries one device, hence one patient: with ``--patients N``
the first patient goes to the port and the others are left out (said once).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tty
from typing import TextIO

import serial

from adapters.serial.emulator import DeviceEmulator, make_emulator
from adapters.serial.protocol import load_protocols
from monitor.model import Vital
from simulators.targets import Target, register_target

#: Friendly names accepted by ``--protocol`` besides the decoder names.
ALIASES = {
    "nonin": "text-lines:nonin",
    "nellcor-n560": "text-lines:nellcor-n560",
    "text-lines": "text-lines:nonin",
}


class SerialTarget:
    def __init__(self, device: str, protocol: str, out: TextIO | None = None) -> None:
        self.device = device
        self.protocol = ALIASES.get(protocol, protocol)
        self.emulator: DeviceEmulator = make_emulator(self.protocol)
        self.out = out or sys.stdout
        self.path: str | None = None
        self.dropped_bytes = 0
        self._master: int | None = None
        self._port: serial.SerialBase | None = None
        self._patient: int | None = None
        self._warned = False

    async def open(self) -> None:
        decoder_name = self.protocol.split(":", 1)[0]
        line = load_protocols()[decoder_name].line
        if self.device == "pty":
            master, slave = os.openpty()
            tty.setraw(master)
            self.path = os.ttyname(slave)
            os.close(slave)
            # A device talks whether or not anyone listens: never block on a full pty buffer.
            os.set_blocking(master, False)
            self._master = master
        else:
            self._port = serial.serial_for_url(
                self.device,
                baudrate=line.baudrate,
                bytesize=line.bytesize,
                parity=line.parity,
                stopbits=line.stopbits,
                rtscts=line.rtscts,
                timeout=0,
                write_timeout=1.0,
            )
            self.path = self.device
        hint = f'protocol = "{decoder_name}"'
        if ":" in self.protocol:
            hint += f', options = {{ preset = "{self.protocol.split(":", 1)[1]}" }}'
        self.out.write(
            f"serial device ({self.protocol}, {line.describe()}): {self.path}\n"
            f'  server side: [[serial]] port = "{self.path}", {hint}, bed = "chair-1"\n'
        )
        self.out.flush()

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        if self._patient is None:
            self._patient = patient
        if patient != self._patient:
            if not self._warned:
                self._warned = True
                self.out.write(f"serial target: one device per port; patient {patient} and others not sent\n")
            return
        self.emulator.receive(self._read_host())
        data = self.emulator.emit(vitals, ts)
        if data:
            self._write(data)

    async def close(self) -> None:
        if self._master is not None:
            os.close(self._master)
            self._master = None
        if self._port is not None:
            with contextlib.suppress(Exception):
                self._port.close()
            self._port = None

    def _read_host(self) -> bytes:
        if self._master is not None:
            chunks = []
            while True:
                try:
                    chunk = os.read(self._master, 4096)
                except (BlockingIOError, OSError):  # nothing pending, or no reader on the slave side (EIO)
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        if self._port is not None:
            waiting = self._port.in_waiting
            return bytes(self._port.read(waiting)) if waiting else b""
        return b""

    def _write(self, data: bytes) -> None:
        if self._master is not None:
            try:
                n = os.write(self._master, data)
            except (BlockingIOError, OSError):
                n = 0
            self.dropped_bytes += len(data) - n
        elif self._port is not None:
            try:
                self._port.write(data)
            except serial.SerialTimeoutException:
                self.dropped_bytes += len(data)


@register_target("serial")
def _serial_target(to: str, args: argparse.Namespace) -> Target:
    device = to.split(":", 1)[1] if ":" in to else ""
    protocol = getattr(args, "protocol", None)
    if not device:
        raise ValueError("--to serial:DEVICE needs a device (a port, a pyserial URL, or 'pty')")
    if not protocol:
        raise ValueError("--to serial:... needs --protocol NAME (see `ivmon serial --list`)")
    return SerialTarget(device, str(protocol))
