"""Bedside devices emulated byte for byte: what each serial protocol puts on the wire.

Each emulator turns one instant of a simulated patient into the bytes the
real device would send then, and takes the bytes the host sends (only the
Datex monitor listens: it streams only after a transmission request). Used by
``ivmon simulate --to serial:...`` and by the end-to-end tests.
The encoders are written from the protocol descriptions independently of the
decoders in ``adapters/serial`` (only the Datex byte stuffing is shared, and it
is tested against hand-made vectors), so a round trip checks both.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from adapters.serial.datex import FLAG, frame, unstuff
from monitor.model import Vital

Vitals = Mapping[Vital, float]


class DeviceEmulator(Protocol):
    protocol: str

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        """Bytes the device sends at ``ts`` (``b""`` when it has nothing to say then)."""
        ...

    def receive(self, data: bytes) -> None:
        """Bytes from the host."""
        ...


def _int(vitals: Vitals, *keys: Vital) -> int | None:
    for key in keys:
        value = vitals.get(key)
        if value is not None and not math.isnan(value):
            return round(value)
    return None


def _utc(ts: float, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(ts))


class MasimoEmulator:
    """Rad-8 "ASCII 1": one line per second; dashes and sensor-off exception bits when the probe is off."""

    protocol = "masimo-ascii1"

    def __init__(self, serial_number: str = "0000012345") -> None:
        self.serial_number = serial_number
        self.exc = 0x000800  # "Masimo SET" normal; tests may set other bits
        self.alarm = 0

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        spo2 = _int(vitals, Vital.SPO2)
        pr = _int(vitals, Vital.PR, Vital.HR)
        exc = self.exc
        if spo2 is None and pr is None and exc == 0x000800:
            exc |= 0x020  # sensor off patient
        spo2_t = f"{spo2:03d}%" if spo2 is not None else "---%"
        pr_t = f"{pr:03d}" if pr is not None else "---"
        pi = "03.20%" if spo2 is not None else "--.--%"
        line = (
            f"{_utc(ts, '%m/%d/%y %H:%M:%S')} SN={self.serial_number} SPO2={spo2_t} BPM={pr_t} PI={pi} "
            f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM={self.alarm:04X} EXC={exc:06X}\r\n"
        )
        return line.encode("ascii")

    def receive(self, data: bytes) -> None:
        pass


class NoninEmulator:
    """Nonin real-time ASCII: a header at power-up, then ``SPO2=097 HR=072`` lines (HR = pulse rate)."""

    protocol = "text-lines:nonin"

    def __init__(self) -> None:
        self._started = False

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        head = b""
        if not self._started:
            self._started = True
            head = f"Nonin 9600 Format 1 {_utc(ts, '%H:%M:%S %d/%m/%y')}\r\n".encode("ascii")
        spo2 = _int(vitals, Vital.SPO2)
        pr = _int(vitals, Vital.PR, Vital.HR)
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
        spo2 = _int(vitals, Vital.SPO2)
        pr = _int(vitals, Vital.PR, Vital.HR)
        status = self.status or ("SO" if spo2 is None and pr is None else "")
        row = (
            f"{_utc(ts, '%d-%b-%y %H:%M:%S')}   {spo2 if spo2 is not None else '---':>3}     "
            f"{pr if pr is not None else '---':>3}      {'36' if spo2 is not None else '---':>3}    {status}\r\n"
        )
        return (head + row).encode("ascii")

    def receive(self, data: bytes) -> None:
        pass


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
        sys_, dia, mean = _int(vitals, Vital.SBP), _int(vitals, Vital.DBP), _int(vitals, Vital.MAP)
        if sys_ is not None and dia is not None:
            self.nibp = (sys_, dia, mean if mean is not None else round((sys_ + 2 * dia) / 3))
        hr = _int(vitals, Vital.HR)
        spo2 = _int(vitals, Vital.SPO2)
        pr = _int(vitals, Vital.PR, Vital.HR)
        rr = _int(vitals, Vital.RR)

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


# --- GE Datex-Ohmeda S/5 ------------------------------------------------------------------------------

#: The basic physiological class, group by group (name, bytes), as laid out by the DRI record.
BASIC_GROUPS: tuple[tuple[str, int], ...] = (
    ("ecg", 16),
    ("p1", 14),
    ("p2", 14),
    ("p3", 14),
    ("p4", 14),
    ("nibp", 14),
    ("t1", 8),
    ("t2", 8),
    ("t3", 8),
    ("t4", 8),
    ("spo2", 14),
    ("co2", 14),
    ("o2", 10),
    ("n2o", 10),
    ("aa", 12),
    ("flow_vol", 22),
    ("co_wedge", 14),
    ("nmt", 12),
    ("ecg_extra", 6),
    ("svo2", 8),
    ("p5", 14),
    ("p6", 14),
    ("reserved", 2),
)
NO_DATA = -32767
_GROUP_START: dict[str, int] = {}
_at = 0
for _name, _size in BASIC_GROUPS:
    _GROUP_START[_name] = _at
    _at += _size
assert _at == 270, _at


def basic_block(
    hr: int | None,
    nibp: tuple[float, float, float] | None,
    spo2: float | None,
    pr: int | None,
    markers: Mapping[str, int] | None = None,
) -> bytes:
    """A 270-byte basic class: every value "no data" except those given (SpO2 in %, NIBP in mmHg).

    ``markers`` forces a raw value ("spo2" -> -32764 ...) to exercise the invalid markers.
    """
    block = bytearray(270)
    for name, size in BASIC_GROUPS:
        if name in ("reserved", "ecg_extra"):
            continue
        start = _GROUP_START[name]
        for off in range(start + 6, start + size, 2):
            struct.pack_into("<h", block, off, NO_DATA)
    struct.pack_into("<hhh", block, _GROUP_START["ecg_extra"], NO_DATA, NO_DATA, NO_DATA)

    def put(group: str, index: int, value: int, exists: bool = True) -> None:
        start = _GROUP_START[group]
        if exists:
            struct.pack_into("<I", block, start, 0x3)  # status bits: exists, active
        struct.pack_into("<h", block, start + 6 + 2 * index, value)

    if hr is not None:
        put("ecg", 0, hr)
    if nibp is not None:
        for i, v in enumerate(nibp):
            put("nibp", i, round(v * 100))
    if spo2 is not None:
        put("spo2", 0, round(spo2 * 100))
    if pr is not None:
        put("spo2", 1, pr)
    for key, raw in (markers or {}).items():
        group, index = {
            "hr": ("ecg", 0),
            "sbp": ("nibp", 0),
            "dbp": ("nibp", 1),
            "map": ("nibp", 2),
            "spo2": ("spo2", 0),
            "pr": ("spo2", 1),
        }[key]
        put(group, index, raw, exists=False)
    return bytes(block)


def phdb_record(block: bytes, ts: int, *, record_no: int = 0, dri_level: int = 9) -> bytes:
    """An unframed physiological record carrying one displayed basic subrecord."""
    sub = struct.pack("<I", ts) + block + struct.pack("<BBH", 0, 0, (0 << 8) | 1)
    descs = struct.pack("<hB", 0, 1) + struct.pack("<hB", 0, 0xFF) * 7
    head = struct.pack("<hBBHIBBHh", 40 + len(sub), record_no & 0xFF, dri_level, 0, ts, 0, 0, 0, 0) + descs
    return head + sub


class DatexEmulator:
    """An S/5 monitor's Computer Interface: silent until asked, then a record every requested interval."""

    protocol = "datex-s5"

    def __init__(self) -> None:
        self.interval_s = 0  # 0: not transmitting
        self.requests = 0
        self._buf = bytearray()
        self._last_sent: float | None = None
        self._record_no = 0
        self.nibp: tuple[int, int, int] | None = None
        self.markers: dict[str, int] = {}

    def receive(self, data: bytes) -> None:
        self._buf += data
        while True:
            start = self._buf.find(FLAG)
            if start < 0:
                self._buf.clear()
                return
            end = self._buf.find(FLAG, start + 1)
            if end < 0:
                del self._buf[:start]
                return
            raw = bytes(self._buf[start + 1 : end])
            if not raw:  # two flags in a row: the second one opens the next frame
                del self._buf[:end]
                continue
            del self._buf[: end + 1]
            self._request(raw)

    def _request(self, raw: bytes) -> None:
        try:
            body = unstuff(raw)
        except ValueError:
            return
        if len(body) < 50 or sum(body[:-1]) & 0xFF != body[-1]:
            return
        r_len, maintype = struct.unpack_from("<h", body, 0)[0], struct.unpack_from("<h", body, 14)[0]
        sr_type = body[18]
        if r_len != 49 or maintype != 0 or sr_type != 0:
            return
        _rtype, interval, _mask, _res = struct.unpack_from("<BhIh", body, 40)
        self.requests += 1
        if interval != self.interval_s:
            self._last_sent = None
        self.interval_s = interval

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        sys_, dia, mean = _int(vitals, Vital.SBP), _int(vitals, Vital.DBP), _int(vitals, Vital.MAP)
        if sys_ is not None and dia is not None:
            self.nibp = (sys_, dia, mean if mean is not None else round((sys_ + 2 * dia) / 3))
        if self.interval_s <= 0:
            return b""
        if self._last_sent is not None and ts - self._last_sent < self.interval_s:
            return b""
        self._last_sent = ts
        spo2 = vitals.get(Vital.SPO2)
        block = basic_block(
            _int(vitals, Vital.HR),
            self.nibp,
            None if spo2 is None or math.isnan(spo2) else spo2,
            _int(vitals, Vital.PR),
            self.markers,
        )
        self._record_no += 1
        return frame(phdb_record(block, int(ts), record_no=self._record_no))


EMULATORS: dict[str, Callable[[], DeviceEmulator]] = {
    "masimo-ascii1": MasimoEmulator,
    "text-lines": NoninEmulator,
    "text-lines:nonin": NoninEmulator,
    "text-lines:nellcor-n560": NellcorEmulator,
    "ivy-ansarb": IvyEmulator,
    "datex-s5": DatexEmulator,
}


def make_emulator(protocol: str) -> DeviceEmulator:
    try:
        return EMULATORS[protocol]()
    except KeyError:
        raise ValueError(f"no device emulator for {protocol!r} (known: {', '.join(sorted(EMULATORS))})") from None
