"""Masimo Rad-8 "ASCII 1" emulated byte for byte (see adapters/serial/emulator.py)."""

from __future__ import annotations

from adapters.serial.emulator import Vitals, utc, whole
from monitor.model import Vital


class MasimoEmulator:
    """Rad-8 "ASCII 1": one line per second; dashes and sensor-off exception bits when the probe is off."""

    protocol = "masimo-ascii1"

    def __init__(self, serial_number: str = "0000012345") -> None:
        self.serial_number = serial_number
        self.exc = 0x000800  # "Masimo SET" normal; tests may set other bits
        self.alarm = 0

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        spo2 = whole(vitals, Vital.SPO2)
        pr = whole(vitals, Vital.PR, Vital.HR)
        exc = self.exc
        if spo2 is None and pr is None and exc == 0x000800:
            exc |= 0x020  # sensor off patient
        spo2_t = f"{spo2:03d}%" if spo2 is not None else "---%"
        pr_t = f"{pr:03d}" if pr is not None else "---"
        pi = "03.20%" if spo2 is not None else "--.--%"
        line = (
            f"{utc(ts, '%m/%d/%y %H:%M:%S')} SN={self.serial_number} SPO2={spo2_t} BPM={pr_t} PI={pi} "
            f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM={self.alarm:04X} EXC={exc:06X}\r\n"
        )
        return line.encode("ascii")

    def receive(self, data: bytes) -> None:
        pass
