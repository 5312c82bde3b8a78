"""Masimo Rad-8 / Radical-7 / Rad-97 "ASCII 1" serial output.

One line per second of space-separated ``KEY=VALUE`` tokens after a date and
time, e.g. ``02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% ...
ALARM=0000 EXC=000800``. Parsed by key (the token set varies by model and
firmware); dashes mean absent. ``BPM`` is the oximeter's pulse rate, so it
becomes ``pr``, never ``hr``. The exception bits (Rad-8 manual p. 4-24) give
the reading quality and the device-reported sensor states.
"""

from __future__ import annotations

from typing import Any, ClassVar

from adapters.serial.lines import LineDecoder, LineSplitter
from adapters.serial.protocol import (
    DecoderStats,
    ItemBuilder,
    LineSettings,
    StateTracker,
    parse_number,
    register_decoder,
)
from monitor.model import DeviceAlarm, DeviceState, IngestItem, Quality, Vital

NULLS = frozenset({"", "-", "--", "---", "--.-", "--.--", "---%"})

# Exception bits -> (sensor state, what it does to the reading's quality).
EXC_NO_SENSOR = 0x001
EXC_DEFECTIVE = 0x002
EXC_LOW_PERFUSION = 0x004
EXC_SEARCH = 0x008
EXC_INTERFERENCE = 0x010
EXC_OFF_PATIENT = 0x020
EXC_AMBIENT_LIGHT = 0x040
EXC_UNRECOGNIZED = 0x080
EXC_LOW_SIQ = 0x400
EXC_BITS: tuple[tuple[int, DeviceState, Quality, str], ...] = (
    (EXC_NO_SENSOR, DeviceState.NO_SENSOR, Quality.INVALID, "no sensor"),
    (EXC_DEFECTIVE, DeviceState.NO_SENSOR, Quality.INVALID, "defective sensor"),
    (EXC_UNRECOGNIZED, DeviceState.NO_SENSOR, Quality.INVALID, "unrecognized sensor"),
    (EXC_OFF_PATIENT, DeviceState.SENSOR_OFF, Quality.INVALID, "sensor off patient"),
    (EXC_SEARCH, DeviceState.SEARCHING, Quality.QUESTIONABLE, "pulse search"),
    (EXC_LOW_PERFUSION, DeviceState.LOW_PERFUSION, Quality.QUESTIONABLE, "low perfusion"),
    (EXC_INTERFERENCE, DeviceState.INTERFERENCE, Quality.QUESTIONABLE, "interference"),
    (EXC_AMBIENT_LIGHT, DeviceState.INTERFERENCE, Quality.QUESTIONABLE, "ambient light"),
    (EXC_LOW_SIQ, DeviceState.LOW_SIGNAL_QUALITY, Quality.QUESTIONABLE, "low signal IQ"),
)
_QUALITY_RANK = {Quality.VALID: 0, Quality.QUESTIONABLE: 1, Quality.INVALID: 2}

# ALARM bits: reverse-engineered, not published by Masimo (research/serial.md §1.1); advisory only.
ALARM_BITS: tuple[tuple[int, Vital, str], ...] = (
    (0x01, Vital.SPO2, "SpO2 high (device)"),
    (0x02, Vital.SPO2, "SpO2 low (device)"),
    (0x04, Vital.PR, "pulse rate high (device)"),
    (0x08, Vital.PR, "pulse rate low (device)"),
)


def exception_effect(exc: int) -> tuple[frozenset[DeviceState], Quality, str]:
    """EXC bits -> (states, worst quality, human detail)."""
    states: set[DeviceState] = set()
    quality = Quality.VALID
    details: list[str] = []
    for bit, state, q, text in EXC_BITS:
        if exc & bit:
            states.add(state)
            details.append(text)
            if _QUALITY_RANK[q] > _QUALITY_RANK[quality]:
                quality = q
    return frozenset(states), quality, ", ".join(details)


class MasimoAscii1Decoder(LineDecoder):
    name: ClassVar[str] = "masimo-ascii1"
    description: ClassVar[str] = "Masimo Rad-8 / Radical-7 / Rad-97 serial output 'ASCII 1' (SpO2, pulse rate)"
    line: ClassVar[LineSettings] = LineSettings(9600, 8, "N", 1)

    def __init__(self, source: str, bed: str | None = None, options: dict[str, Any] | None = None) -> None:
        opts = options or {}
        self.builder = ItemBuilder(source, bed)
        self.silence_s = float(opts.get("silence_s", 5.0))
        self.stats = DecoderStats()
        self._lines = LineSplitter()
        self._states = StateTracker()
        self._alarm_bits = 0

    def reset(self) -> None:
        self._lines.reset()
        # Re-announce sensor states and device alarms after a reconnect: the engine may have cleared them.
        self._states = StateTracker()
        self._alarm_bits = 0

    def _line(self, raw: bytes, now: float) -> list[IngestItem]:
        fields: dict[str, str] = {}
        for token in raw.decode("ascii", "replace").split():
            key, sep, value = token.partition("=")
            if sep:
                fields[key.upper()] = value
        if "SPO2" not in fields or "BPM" not in fields:
            # Not an ASCII 1 line (ASCII 2 / trend output, noise, a baud mismatch).
            self.stats.bytes_skipped += len(raw) + 1
            return []
        try:
            spo2 = parse_number(fields["SPO2"], NULLS)
            pr = parse_number(fields["BPM"], NULLS)
            exc = int(fields.get("EXC", "0"), 16)
            alarm = int(fields.get("ALARM", "0"), 16)
        except ValueError:
            self.stats.parse_errors += 1
            return []
        self.stats.frames_ok += 1
        states, quality, detail = exception_effect(exc)
        out: list[IngestItem] = self._states.update(states, self.builder, now, Vital.SPO2, detail)
        if spo2 is not None:
            out.append(self.builder.reading(Vital.SPO2, spo2, now, quality))
        if pr is not None:
            out.append(self.builder.reading(Vital.PR, pr, now, quality))
        out.extend(self._alarms(alarm, now))
        return out

    def _alarms(self, alarm: int, now: float) -> list[IngestItem]:
        out: list[IngestItem] = []
        changed = alarm ^ self._alarm_bits
        for bit, vital, text in ALARM_BITS:
            if changed & bit:
                out.append(
                    DeviceAlarm(
                        self.builder.source,
                        now,
                        "medium",
                        text,
                        code=f"masimo-alarm-{bit:#04x}",
                        vital=vital,
                        bed=self.builder.bed,
                        active=bool(alarm & bit),
                    )
                )
        self._alarm_bits = alarm
        return out


@register_decoder(MasimoAscii1Decoder.name, MasimoAscii1Decoder.description, MasimoAscii1Decoder.line)
def _factory(source: str, bed: str | None, options: dict[str, Any]) -> MasimoAscii1Decoder:
    return MasimoAscii1Decoder(source, bed, options)
