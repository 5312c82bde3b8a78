"""Ivy 450C ANSAR-B emulated byte for byte (see adapters/serial/emulator.py)."""

from __future__ import annotations

import math

from adapters.serial.emulator import Vitals, whole
from monitor.model import Vital


class IvyEmulator:
    """Ivy 450C ANSAR-B: 0xFF 'ANSAR-B ' + 400 waveform bytes + CR lines + 0xFE, once a second.

    The monitor repeats the last cuff result in every message, so the
    emulator keeps the last NIBP it was given.
    """

    protocol = "ivy-ansarb"

    def __init__(self) -> None:
        self.nibp: tuple[int, int, int] | None = None
        self.rr_alarm = ""
        self._phase = 0

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        sys_, dia, mean = whole(vitals, Vital.SBP), whole(vitals, Vital.DBP), whole(vitals, Vital.MAP)
        if sys_ is not None and dia is not None:
            self.nibp = (sys_, dia, mean if mean is not None else round((sys_ + 2 * dia) / 3))
        hr = whole(vitals, Vital.HR)
        spo2 = whole(vitals, Vital.SPO2)
        pr = whole(vitals, Vital.PR, Vital.HR)
        rr = whole(vitals, Vital.RR)

        def f(v: int | None) -> str:
            return "" if v is None else str(v)

        nibp = ";".join(f(v) for v in self.nibp) if self.nibp else ";;"
        lines = [
            f"HR=1;{f(hr)};ECG-II-DIAG;",
            f"RR=1;{f(rr)};{self.rr_alarm};",
            "ETCO2=1;;;",
            f"SPO2=1;{f(spo2)};PR={f(pr)} ;",
            f"NIBP=4;{nibp};{f(pr)};;",
            "P1=3;;;;NO TRANSDUCER;",
            "P2=3;;;;NO TRANSDUCER;",
            "T1=1;;;",
            "T2=1;;;",
        ]
        self._phase += 1
        # Waveform samples kept clear of the 0xFF / 0xFE markers, as the monitor's are.
        wave = bytes(int(120 + 100 * math.sin((self._phase * 400 + i) / 9.0)) for i in range(400))
        text = "".join(line + "\r" for line in lines).encode("ascii")
        return b"\xffANSAR-B " + wave + text + b"\xfe"

    def receive(self, data: bytes) -> None:
        pass
