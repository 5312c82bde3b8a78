"""Ivy Biomedical 450C "ANSAR-B" output.

A message is ``0xFF``, the literal ``ANSAR-B ``, 400 bytes of 8-bit waveforms
(ECG 200 points; respiration, pleth, P1, P2 50 each; skipped here), then
CR-terminated ASCII lines, then ``0xFE``:
``HR=1;80;ECG-II-DIAG;`` ``RR=1;35;APNEA: 20 SEC;`` ``SPO2=1;100;PR=80 ;``
``NIBP=4;121;75;92;80;;`` ``P2=3;;;;NO TRANSDUCER;``. Empty fields mean
absent; free texts in the trailing fields are the monitor's own alarm
messages. No checksum: a message is accepted only when its marker, length
and lines make sense. Layout after OpenICE's ``AnsarB.java`` (BSD-2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from adapters.serial.protocol import DecoderStats, ItemBuilder, LineSettings, NibpTracker, register_decoder
from monitor.model import DeviceAlarm, IngestItem, Vital

START = 0xFF
END = 0xFE
MAGIC = b"ANSAR-B "
WAVEFORM_BYTES = 400
HEADER = 1 + len(MAGIC) + WAVEFORM_BYTES  # text starts here
MAX_TEXT = 2048  # far more than the ~200 bytes a real message carries

#: Alarm texts that are life-threatening whatever the device's own priority (the protocol carries none).
HIGH_WORDS = ("APNEA", "ASYSTOLE", "VFIB", "V-FIB", "VTACH", "V-TACH")


def _int(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    return float(int(text))


@dataclass(slots=True)
class IvyMessage:
    hr: float | None = None
    rr: float | None = None
    etco2: float | None = None
    spo2: float | None = None
    pr: float | None = None
    nibp: tuple[float | None, float | None, float | None] = (None, None, None)
    nibp_pulse: float | None = None
    #: Vital -> the monitor's alarm text for it ("" when none).
    alarms: dict[Vital, str] = field(default_factory=dict)


def parse_text(text: bytes) -> IvyMessage:
    """The ASCII part of one message -> its values. Raises ValueError on a malformed number."""
    msg = IvyMessage()
    for raw in text.split(b"\r"):
        line = raw.decode("ascii", "replace").strip()
        name, sep, rest = line.partition("=")
        if not sep:
            continue
        f = rest.split(";")
        f += [""] * (8 - len(f))
        if name == "HR":
            msg.hr = _int(f[1])
            msg.alarms[Vital.HR] = f[3].strip()
        elif name == "RR":
            msg.rr = _int(f[1])
            msg.alarms[Vital.RR] = f[2].strip()
        elif name == "ETCO2":
            msg.etco2 = _int(f[1])
            msg.alarms[Vital.ETCO2] = f[2].strip()
        elif name == "SPO2":
            msg.spo2 = _int(f[1])
            label, _, pr = f[2].partition("=")
            msg.pr = _int(pr) if label.strip() == "PR" else None
            msg.alarms[Vital.SPO2] = f[3].strip()
        elif name == "NIBP":
            msg.nibp = (_int(f[1]), _int(f[2]), _int(f[3]))
            msg.nibp_pulse = _int(f[4])
            msg.alarms[Vital.SBP] = f[6].strip()
        # P1, P2 (invasive), T1, T2 (temperature): no vital of ours.
    return msg


class IvyFramer:
    """Finds 0xFF 'ANSAR-B ' ... 0xFE messages in a byte stream; counts what it skips."""

    def __init__(self, stats: DecoderStats) -> None:
        self.stats = stats
        self._buf = bytearray()

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[bytes]:
        """Complete messages' text parts (between the waveforms and 0xFE)."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            start = buf.find(START)
            if start < 0:
                self.stats.bytes_skipped += len(buf)
                buf.clear()
                break
            if start:
                self.stats.bytes_skipped += start
                del buf[:start]
            if len(buf) < 1 + len(MAGIC):
                break
            if buf[1 : 1 + len(MAGIC)] != MAGIC:
                self.stats.bytes_skipped += 1  # a stray 0xFF: hunt for the next one
                del buf[:1]
                continue
            end = buf.find(END, HEADER)
            if end < 0:
                if len(buf) > HEADER + MAX_TEXT:
                    self.stats.bytes_skipped += 1  # no end marker in sight: resync after this start
                    del buf[:1]
                    continue
                break
            text = bytes(buf[HEADER:end])
            if START in text:
                # Another message began before this one ended: this one was truncated.
                self.stats.bytes_skipped += HEADER + text.index(START)
                del buf[: HEADER + text.index(START)]
                continue
            out.append(text)
            del buf[: end + 1]
        return out


class IvyAnsarBDecoder:
    name: ClassVar[str] = "ivy-ansarb"
    description: ClassVar[str] = "Ivy Biomedical 450C 'ANSAR-B' output (HR, SpO2/PR, NIBP, RR, alarm texts)"
    # The 450C's baud rate is not in any public source (UNVERIFIED); 9600 8N1 is the usual default.
    line: ClassVar[LineSettings] = LineSettings(9600, 8, "N", 1)

    def __init__(self, source: str, bed: str | None = None, options: dict[str, Any] | None = None) -> None:
        opts = options or {}
        self.builder = ItemBuilder(source, bed)
        self.silence_s = float(opts.get("silence_s", 5.0))
        self.stats = DecoderStats()
        self._framer = IvyFramer(self.stats)
        self._nibp = NibpTracker()
        self._alarms: dict[Vital, str] = {}

    def reset(self) -> None:
        self._framer.reset()
        self._nibp.reset()
        self._alarms = {}

    def poll(self, now: float) -> bytes:
        return b""

    def feed(self, data: bytes, now: float) -> list[IngestItem]:
        out: list[IngestItem] = []
        for text in self._framer.feed(data):
            try:
                msg = parse_text(text)
            except ValueError:
                self.stats.parse_errors += 1
                continue
            self.stats.frames_ok += 1
            out.extend(self._items(msg, now))
        return out

    def _items(self, msg: IvyMessage, now: float) -> list[IngestItem]:
        b = self.builder
        out: list[IngestItem] = []
        for vital, value in (
            (Vital.HR, msg.hr),
            (Vital.SPO2, msg.spo2),
            (Vital.PR, msg.pr),
            (Vital.RR, msg.rr),
            (Vital.ETCO2, msg.etco2),
        ):
            if value is not None:
                out.append(b.reading(vital, value, now))
        if msg.nibp == (None, None, None):
            self._nibp.mark_connected_empty()
        out.extend(self._nibp.update(msg.nibp, b, now))
        for vital, text in msg.alarms.items():
            previous = self._alarms.get(vital, "")
            if text == previous:
                continue
            if previous:
                out.append(
                    DeviceAlarm(
                        b.source, now, _priority(previous), previous, code="ivy", vital=vital, bed=b.bed, active=False
                    )
                )
            if text:
                out.append(DeviceAlarm(b.source, now, _priority(text), text, code="ivy", vital=vital, bed=b.bed))
            self._alarms[vital] = text
        return out


def _priority(text: str) -> str:
    upper = text.upper()
    return "high" if any(word in upper for word in HIGH_WORDS) else "medium"


@register_decoder(IvyAnsarBDecoder.name, IvyAnsarBDecoder.description, IvyAnsarBDecoder.line)
def _factory(source: str, bed: str | None, options: dict[str, Any]) -> IvyAnsarBDecoder:
    return IvyAnsarBDecoder(source, bed, options)
