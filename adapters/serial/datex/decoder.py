"""GE Datex-Ohmeda S/5, AS/3 and CARESCAPE "Computer Interface" (DRI), physiological data.

The host must ask: it sends a transmission request (a 40-byte record header
plus a 9-byte request body) and the monitor then sends a physiological
record every ``tx_interval`` seconds. Records travel in 0x7E-delimited frames;
0x7E and 0x7D inside are sent as 0x7D followed by the byte with bit 5
cleared; the byte before the closing flag is the 8-bit sum of all unstuffed
bytes before it. All numbers are little-endian. From the basic class we take
ECG HR (1/min), NIBP sys/dia/mean (0.01 mmHg), SpO2 (0.01 %) and its pulse
rate (1/min); values at or below -32001 are the protocol's invalid markers.
Facts after VSCapture (xeonfusion/VSCapture, LGPL; learnt from, not copied)
and research/serial.md §1.3; GE's own DRI specification was not available.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from adapters.serial.protocol import DecoderStats, ItemBuilder, LineSettings, NibpTracker, register_decoder
from monitor.model import IngestItem, Vital

FLAG = 0x7E
ESC = 0x7D
MAX_FRAME = 4096  # a record is at most 1490 bytes; stuffing can at most double it

# Record header: r_len, r_nbr, r_dri_level, plug_id, r_time, 2 reserved bytes, reserved word, r_maintype,
# then 8 subrecord descriptors (offset, type); type 0xFF ends the list.
HEADER = struct.Struct("<hBBHIBBHh")
SR_DESC = struct.Struct("<hB")
HEADER_LEN = HEADER.size + 8 * SR_DESC.size  # 40
REQUEST_BODY = struct.Struct("<BhIh")  # phdb_rcrd_type, tx_interval, phdb_class_bf, reserved

DRI_MT_PHDB = 0
SR_END = 0xFF
SR_PHDB_REQUEST = 0  # subrecord type of a transmission request
DRI_PH_DISPL = 1  # displayed values
DRI_PHDBCL_BASIC = 0
#: DRI levels VSCapture asks for (2005, 2003, 2001); a monitor answers the one it speaks.
DEFAULT_DRI_LEVELS = (9, 8, 7)

# A physiological subrecord: time, one 270-byte class block, marker, reserved, cl_drilvl_subt.
PHDB_TIME = struct.Struct("<I")
CLASS_BLOCK = 270
PHDB_LEN = 4 + CLASS_BLOCK + 4

# Offsets of values inside the basic class block (each group starts with a 6-byte status/label header).
OFF_ECG_HR = 6  # ecg group: hdr, hr, st1, st2, st3, imp_rr (16 bytes)
OFF_NIBP = 16 + 4 * 14  # after ecg and the four invasive-pressure groups (14 bytes each)
OFF_NIBP_SYS = OFF_NIBP + 6
OFF_NIBP_DIA = OFF_NIBP + 8
OFF_NIBP_MEAN = OFF_NIBP + 10
OFF_SPO2 = OFF_NIBP + 14 + 4 * 8  # after nibp and four temperature groups (8 bytes each)
OFF_SPO2_VALUE = OFF_SPO2 + 6
OFF_SPO2_PR = OFF_SPO2 + 8

INVALID_LIMIT = -32001
MARKERS = {
    -32767: "no data",
    -32766: "not updated",
    -32765: "discontinuity (calibration)",
    -32764: "under range",
    -32763: "over range",
    -32762: "not calibrated",
}


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def stuff(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (FLAG, ESC):
            out += bytes((ESC, b & 0xDF))
        else:
            out.append(b)
    return bytes(out)


def frame(record: bytes) -> bytes:
    """A record as it goes on the wire: flag, stuffed record and checksum, flag."""
    return bytes((FLAG,)) + stuff(record + bytes((checksum(record),))) + bytes((FLAG,))


def unstuff(data: bytes) -> bytes:
    """Inverse of :func:`stuff`; raises ValueError on a dangling escape."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("frame ends in an escape byte")
            out.append(nxt | 0x20)
        else:
            out.append(b)
    return bytes(out)


def header(
    r_len: int,
    maintype: int,
    subrecords: list[tuple[int, int]],
    *,
    dri_level: int = 0,
    r_time: int = 0,
    r_nbr: int = 0,
    plug_id: int = 0,
) -> bytes:
    descs = list(subrecords) + [(0, SR_END)] * (8 - len(subrecords))
    return HEADER.pack(r_len, r_nbr, dri_level, plug_id, r_time, 0, 0, 0, maintype) + b"".join(
        SR_DESC.pack(off, typ) for off, typ in descs
    )


def transmission_request(
    interval_s: int, dri_level: int = 0, record_type: int = DRI_PH_DISPL, class_mask: int = DRI_PHDBCL_BASIC
) -> bytes:
    """The host's request for physiological records every ``interval_s`` seconds (0 stops), framed."""
    body = REQUEST_BODY.pack(record_type, interval_s, class_mask, 0)
    record = header(HEADER_LEN + len(body), DRI_MT_PHDB, [(0, SR_PHDB_REQUEST)], dri_level=dri_level) + body
    return frame(record)


@dataclass(slots=True, frozen=True)
class BasicValues:
    """Raw basic-class values (protocol units), markers included."""

    time: int
    hr: int
    nibp_sys: int
    nibp_dia: int
    nibp_mean: int
    spo2: int
    pr: int


def parse_record(record: bytes) -> list[BasicValues]:
    """A checked, unstuffed record -> the basic-class displayed subrecords it holds. ValueError if malformed."""
    if len(record) < HEADER_LEN:
        raise ValueError(f"record shorter than its header ({len(record)} bytes)")
    r_len, _nbr, _lvl, _plug, _time, _r1, _r2, _r3, maintype = HEADER.unpack_from(record, 0)
    if r_len != len(record):
        raise ValueError(f"record length field {r_len} != {len(record)} bytes received")
    if maintype != DRI_MT_PHDB:
        return []  # alarms, waveforms: not requested, ignored
    out: list[BasicValues] = []
    data = record[HEADER_LEN:]
    for i in range(8):
        offset, sr_type = SR_DESC.unpack_from(record, HEADER.size + i * SR_DESC.size)
        if sr_type == SR_END:
            break
        if sr_type != DRI_PH_DISPL:
            continue
        if offset < 0 or offset + PHDB_LEN > len(data):
            raise ValueError(f"subrecord {i} at offset {offset} runs past the record")
        sub = data[offset : offset + PHDB_LEN]
        (cl_drilvl_subt,) = struct.unpack_from("<H", sub, 4 + CLASS_BLOCK + 2)
        if (cl_drilvl_subt >> 8) & 0x0F != DRI_PHDBCL_BASIC:
            continue
        (t,) = PHDB_TIME.unpack_from(sub, 0)
        block = sub[4 : 4 + CLASS_BLOCK]

        def i16(off: int, block: bytes = block) -> int:
            return int(struct.unpack_from("<h", block, off)[0])

        out.append(
            BasicValues(
                t,
                i16(OFF_ECG_HR),
                i16(OFF_NIBP_SYS),
                i16(OFF_NIBP_DIA),
                i16(OFF_NIBP_MEAN),
                i16(OFF_SPO2_VALUE),
                i16(OFF_SPO2_PR),
            )
        )
    return out


def scaled(raw: int, scale: float) -> float | None:
    """A value in protocol units -> canonical units; None for an invalid marker."""
    if raw <= INVALID_LIMIT:
        return None
    return round(raw * scale, 2)


class DatexFramer:
    """Splits a byte stream on 0x7E flags, unstuffs and checks each candidate frame."""

    def __init__(self, stats: DecoderStats) -> None:
        self.stats = stats
        self._buf = bytearray()
        self._synced = False  # seen a flag since the last reset

    def reset(self) -> None:
        self._buf.clear()
        self._synced = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for b in data:
            if b != FLAG:
                self._buf.append(b)
                if len(self._buf) > MAX_FRAME:
                    self.stats.bytes_skipped += len(self._buf)
                    self._buf.clear()
                    self._synced = False
                continue
            if not self._synced:
                # Bytes before the first flag are the tail of a frame we joined midway.
                self.stats.bytes_skipped += len(self._buf)
                self._synced = True
            elif self._buf:
                record = self._check(bytes(self._buf))
                if record is not None:
                    out.append(record)
            self._buf.clear()
        return out

    def _check(self, raw: bytes) -> bytes | None:
        try:
            body = unstuff(raw)
        except ValueError:
            self.stats.bytes_skipped += len(raw)
            return None
        if len(body) < HEADER_LEN + 1:
            # Too short for a record: inter-frame noise, or the gap between an end flag and a start flag.
            self.stats.bytes_skipped += len(raw)
            return None
        if checksum(body[:-1]) != body[-1]:
            self.stats.checksum_errors += 1
            self.stats.bytes_skipped += len(raw)
            return None
        return body[:-1]


class DatexS5Decoder:
    name: ClassVar[str] = "datex-s5"
    description: ClassVar[str] = (
        "GE Datex-Ohmeda S/5, AS/3, CARESCAPE Computer Interface (HR, NIBP, SpO2, PR; host-requested)"
    )
    line: ClassVar[LineSettings] = LineSettings(19200, 8, "E", 1, rtscts=True)

    def __init__(self, source: str, bed: str | None = None, options: dict[str, Any] | None = None) -> None:
        opts = options or {}
        self.builder = ItemBuilder(source, bed)
        self.interval_s = int(opts.get("interval_s", 5))
        if not 1 <= self.interval_s <= 3600:
            raise ValueError(f"datex-s5 interval_s must be 1..3600 s, not {self.interval_s}")
        self.rerequest_s = float(opts.get("rerequest_s", 30.0))
        self.dri_levels = tuple(int(x) for x in opts.get("dri_levels", DEFAULT_DRI_LEVELS))
        self.silence_s = float(opts.get("silence_s", 3 * self.interval_s))
        self.stats = DecoderStats()
        self._framer = DatexFramer(self.stats)
        self._nibp = NibpTracker()
        self._last_request: float | None = None
        self._last_record: float | None = None

    def reset(self) -> None:
        self._framer.reset()
        self._nibp.reset()
        self._last_request = None
        self._last_record = None

    def poll(self, now: float) -> bytes:
        """The transmission request: at once after (re)connecting, then periodically, sooner when silent.

        The monitor keeps sending once asked, but forgets the request when it
        restarts or the cable is re-plugged without the port closing, so the
        request is repeated; repeating it is harmless (it replaces the last).
        """
        due = self._last_request is None or now - self._last_request >= self.rerequest_s
        silent = self._last_request is not None and now - max(self._last_request, self._last_record or 0.0) >= (
            2 * self.interval_s + 1
        )
        if not (due or silent):
            return b""
        self._last_request = now
        return b"".join(transmission_request(self.interval_s, level) for level in self.dri_levels)

    def feed(self, data: bytes, now: float) -> list[IngestItem]:
        out: list[IngestItem] = []
        for record in self._framer.feed(data):
            try:
                subrecords = parse_record(record)
            except ValueError:
                self.stats.parse_errors += 1
                continue
            self.stats.frames_ok += 1
            self._last_record = now
            for values in subrecords:
                out.extend(self._items(values, now))
        return out

    def _items(self, v: BasicValues, now: float) -> list[IngestItem]:
        b = self.builder
        out: list[IngestItem] = []
        for vital, raw, scale in ((Vital.HR, v.hr, 1.0), (Vital.SPO2, v.spo2, 0.01), (Vital.PR, v.pr, 1.0)):
            value = scaled(raw, scale)
            if value is not None:
                out.append(b.reading(vital, value, now))
        nibp = (scaled(v.nibp_sys, 0.01), scaled(v.nibp_dia, 0.01), scaled(v.nibp_mean, 0.01))
        if nibp == (None, None, None):
            self._nibp.mark_connected_empty()
        out.extend(self._nibp.update(nibp, b, now))
        return out


@register_decoder(DatexS5Decoder.name, DatexS5Decoder.description, DatexS5Decoder.line)
def _factory(source: str, bed: str | None, options: dict[str, Any]) -> DatexS5Decoder:
    return DatexS5Decoder(source, bed, options)
