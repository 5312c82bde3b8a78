"""Nonin and Nellcor N-560 text output emulated byte for byte (see adapters/serial/emulator.py)."""

from __future__ import annotations

from adapters.serial.emulator import Vitals, utc, whole
from monitor.model import Vital


class NoninEmulator:
    """Nonin real-time ASCII: a header at power-up, then ``SPO2=097 HR=072`` lines (HR = pulse rate)."""

    protocol = "text-lines:nonin"

    def __init__(self) -> None:
        self._started = False

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        head = b""
        if not self._started:
            self._started = True
            head = f"Nonin 9600 Format 1 {utc(ts, '%H:%M:%S %d/%m/%y')}\r\n".encode("ascii")
        spo2 = whole(vitals, Vital.SPO2)
        pr = whole(vitals, Vital.PR, Vital.HR)
        return (
            head
            + (f"SPO2={spo2:03d}" if spo2 is not None else "SPO2=---").encode()
            + (f" HR={pr:03d}\r\n" if pr is not None else " HR=---\r\n").encode()
        )

    def receive(self, data: bytes) -> None:
        pass


class NellcorEmulator:
    """Nellcor N-560 printer format: header lines, then time, SpO2, BPM, PA and status codes."""

    protocol = "text-lines:nellcor-n560"

    def __init__(self) -> None:
        self._started = False
        self.status = ""  # e.g. "PS" while searching

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        head = ""
        if not self._started:
            self._started = True
            head = (
                "N-560 VERSION 1.61.00 CRC:XXXX SpO2 Limit: 90-100% PR Limit: 50-120BPM\r\n"
                "ADULT 25SAT-S\r\n"
                "TIME                 %SpO2   BPM     PA    Status\r\n"
            )
        spo2 = whole(vitals, Vital.SPO2)
        pr = whole(vitals, Vital.PR, Vital.HR)
        status = self.status or ("SO" if spo2 is None and pr is None else "")
        row = (
            f"{utc(ts, '%d-%b-%y %H:%M:%S')}   {spo2 if spo2 is not None else '---':>3}     "
            f"{pr if pr is not None else '---':>3}      {'36' if spo2 is not None else '---':>3}    {status}\r\n"
        )
        return (head + row).encode("ascii")

    def receive(self, data: bytes) -> None:
        pass
