"""GE Datex-Ohmeda S/5 Computer Interface emulated byte for byte (see adapters/serial/emulator.py)."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

from adapters.serial.datex.decoder import FLAG, frame, unstuff
from adapters.serial.emulator import Vitals, whole
from monitor.model import Vital

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
        sys_, dia, mean = whole(vitals, Vital.SBP), whole(vitals, Vital.DBP), whole(vitals, Vital.MAP)
        if sys_ is not None and dia is not None:
            self.nibp = (sys_, dia, mean if mean is not None else round((sys_ + 2 * dia) / 3))
        if self.interval_s <= 0:
            return b""
        if self._last_sent is not None and ts - self._last_sent < self.interval_s:
            return b""
        self._last_sent = ts
        spo2 = vitals.get(Vital.SPO2)
        block = basic_block(
            whole(vitals, Vital.HR),
            self.nibp,
            None if spo2 is None or math.isnan(spo2) else spo2,
            whole(vitals, Vital.PR),
            self.markers,
        )
        self._record_no += 1
        return frame(phdb_record(block, int(ts), record_no=self._record_no))
