"""What every serial protocol decoder is: bytes in, readings and device events out, no I/O.

A decoder is stateful (it keeps the partial frame between calls), never
blocks and never touches a port: the transport owns the port and hands the
decoder what it read together with the host time of arrival. Keeping the two
apart is what lets the real captures and hypothesis drive the decoders
directly, in any chunking.

Timestamps are the host's arrival time, never the device clock: bedside
clocks drift and are rarely set, and a reading stamped in the device's past
or future would make stale data look current (or current data look stale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from monitor.model import DeviceState, DeviceStatus, IngestItem, Quality, Reading, Vital


@dataclass(slots=True, frozen=True)
class LineSettings:
    """Serial line settings in pyserial's terms."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"  # pyserial: "N", "E", "O", "M", "S"
    stopbits: float = 1
    rtscts: bool = False

    def describe(self) -> str:
        stop = int(self.stopbits) if float(self.stopbits).is_integer() else self.stopbits
        flow = ", RTS/CTS" if self.rtscts else ""
        return f"{self.baudrate} {self.bytesize}{self.parity}{stop}{flow}"


@dataclass(slots=True)
class DecoderStats:
    """Counters a decoder keeps; the transport reports them in ``health()``."""

    frames_ok: int = 0
    bytes_skipped: int = 0  # garbage between frames, oversize or unparseable frames
    checksum_errors: int = 0
    parse_errors: int = 0  # framed correctly but the content made no sense

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok,
            "bytes_skipped": self.bytes_skipped,
            "checksum_errors": self.checksum_errors,
            "parse_errors": self.parse_errors,
        }


class Decoder(Protocol):
    """A protocol decoder (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    line: ClassVar[LineSettings]
    #: Silence after which the link is reported as lost (the device normally talks this often).
    silence_s: float
    stats: DecoderStats

    def feed(self, data: bytes, now: float) -> list[IngestItem]:
        """Bytes as read from the port -> readings, device states and device alarms."""
        ...

    def poll(self, now: float) -> bytes:
        """Bytes the host must send now (transmission request, keep-alive); ``b""`` for streaming devices."""
        ...

    def reset(self) -> None:
        """Forget the partial frame and per-connection state (called after every (re)connect)."""
        ...


#: (source, bed, protocol options) -> decoder
DecoderFactory = Callable[[str, str | None, dict[str, Any]], Decoder]


@dataclass(slots=True, frozen=True)
class ProtocolInfo:
    name: str
    description: str
    line: LineSettings
    factory: DecoderFactory


PROTOCOLS: dict[str, ProtocolInfo] = {}


def register_decoder(name: str, description: str, line: LineSettings) -> Callable[[DecoderFactory], DecoderFactory]:
    def wrap(factory: DecoderFactory) -> DecoderFactory:
        PROTOCOLS[name] = ProtocolInfo(name, description, line, factory)
        return factory

    return wrap


def load_protocols() -> dict[str, ProtocolInfo]:
    """Every registered protocol (importing the decoder modules registers them)."""
    from adapters.serial import datex, ivy, masimo, textlines  # noqa: F401

    return PROTOCOLS


def make_decoder(name: str, source: str, bed: str | None = None, options: dict[str, Any] | None = None) -> Decoder:
    protocols = load_protocols()
    try:
        info = protocols[name]
    except KeyError:
        known = ", ".join(sorted(protocols))
        raise ValueError(f"unknown serial protocol {name!r} (known: {known})") from None
    return info.factory(source, bed, dict(options or {}))


@dataclass(slots=True)
class ItemBuilder:
    """Stamps readings and device events with the decoder's source and bed."""

    source: str
    bed: str | None

    def reading(self, vital: Vital, value: float, now: float, quality: Quality = Quality.VALID) -> Reading:
        from monitor.model import CANONICAL_UNIT

        return Reading(vital, float(value), CANONICAL_UNIT[vital], now, self.source, quality, bed=self.bed)

    def status(self, state: DeviceState, now: float, vital: Vital | None = None, detail: str = "") -> DeviceStatus:
        return DeviceStatus(self.source, state, now, bed=self.bed, vital=vital, detail=detail)


@dataclass(slots=True)
class StateTracker:
    """Reports device-reported sensor states on change only.

    A device repeats its state every second; the alarm engine wants edges
    ("sensor off" began, "sensor off" cleared), so repeats are swallowed.
    """

    current: frozenset[DeviceState] = field(default_factory=frozenset)

    def update(
        self, states: frozenset[DeviceState], builder: ItemBuilder, now: float, vital: Vital | None, detail: str = ""
    ) -> list[IngestItem]:
        if states == self.current:
            return []
        items: list[IngestItem] = [builder.status(state, now, vital, detail) for state in sorted(states - self.current)]
        if not states and self.current:
            items.append(builder.status(DeviceState.OK, now, vital, detail))
        self.current = states
        return items


@dataclass(slots=True)
class NibpTracker:
    """Turns a cuff result the device repeats every frame into one reading per measurement.

    Monitors keep showing the last NIBP result until the next cuff cycle. One
    reading per measurement keeps "NIBP overdue" meaningful. The first result
    seen after (re)connecting may be minutes old and the device does not say
    when it was taken, so it is delivered as ``questionable``: shown, never
    judged as current.
    """

    last: tuple[float, float, float] | None = None
    primed: bool = False

    def reset(self) -> None:
        self.last = None
        self.primed = False

    def update(
        self, sys_dia_map: tuple[float | None, float | None, float | None], builder: ItemBuilder, now: float
    ) -> list[IngestItem]:
        sys_, dia, mean = sys_dia_map
        if sys_ is None and dia is None and mean is None:
            return []
        key = (sys_ if sys_ is not None else -1.0, dia if dia is not None else -1.0, mean if mean is not None else -1.0)
        if key == self.last:
            return []
        quality = Quality.VALID if self.primed else Quality.QUESTIONABLE
        self.last = key
        self.primed = True
        out: list[IngestItem] = []
        for vital, value in ((Vital.SBP, sys_), (Vital.DBP, dia), (Vital.MAP, mean)):
            if value is not None:
                out.append(builder.reading(vital, value, now, quality))
        return out

    def mark_connected_empty(self) -> None:
        """The device said "no NIBP result" after connecting: the next result is a fresh measurement."""
        self.primed = True


def parse_number(token: str, null_tokens: frozenset[str]) -> float | None:
    """A device's numeric field -> float; ``None`` for a null token (dashes, empty)."""
    text = token.strip()
    if text in null_tokens or set(text) <= {"-", "."}:
        return None
    # A unit or a device flag may be glued to the number ("098%", Nonin's "072*" event and "F" fast
    # marks); anything else after it means the field is not what we think: refuse rather than guess.
    end = 0
    while end < len(text) and text[end] in "0123456789+-.":
        end += 1
    if end == 0 or not set(text[end:]) <= _NUMBER_SUFFIXES:
        raise ValueError(f"not a number: {text[:16]!r}")
    return float(text[:end])


_NUMBER_SUFFIXES = frozenset("%*FB")
