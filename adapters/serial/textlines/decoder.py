"""A configurable ASCII line parser for simple oximeters and monitors.

Two layouts: ``kv`` (``SPO2=097 HR=072``, parsed by key, unknown tokens
ignored) and ``columns`` (positional fields split by a separator). Null
tokens (``---`` and the like) mean absent. Optional status codes (Nellcor's
``PS`` pulse search, ``SO`` sensor off ...) become device states and lower
the reading's quality. Presets cover Nonin's real-time ASCII output and the
Nellcor N-560 printer format; every preset field can be overridden in the
``options`` of the ``[[serial]]`` entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
from monitor.model import DeviceState, IngestItem, Quality, Vital

DEFAULT_NULLS = ("", "-", "--", "---", "----", "?", "N/A")


@dataclass(slots=True)
class TextLinesConfig:
    mode: str = "kv"  # "kv" | "columns"
    #: Field separator: a regex; default any whitespace.
    separator: str = r"\s+"
    kv_separator: str = "="
    #: kv mode: device key (case-insensitive) -> vital name.
    keys: dict[str, str] = field(default_factory=dict)
    #: columns mode: one entry per column, a vital name or "" to skip; extra columns are status codes.
    columns: list[str] = field(default_factory=list)
    null_tokens: tuple[str, ...] = DEFAULT_NULLS
    #: Lines matching any of these regexes are headers, not data (not counted as garbage).
    ignore: list[str] = field(default_factory=list)
    #: Status code -> device state name (see monitor.model.DeviceState).
    status_codes: dict[str, str] = field(default_factory=dict)
    silence_s: float = 5.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TextLinesConfig:
        opts = dict(options)
        preset = opts.pop("preset", None)
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown text-lines preset {preset!r} (known: {', '.join(sorted(PRESETS))})")
        base: dict[str, Any] = dict(PRESETS[preset]) if preset else {}
        base.update(opts)
        known = set(cls.__dataclass_fields__)
        unknown = set(base) - known
        if unknown:
            raise ValueError(f"unknown text-lines option(s): {', '.join(sorted(unknown))}")
        if "null_tokens" in base:
            base["null_tokens"] = tuple(base["null_tokens"])
        cfg = cls(**base)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.mode not in ("kv", "columns"):
            raise ValueError(f"text-lines mode must be 'kv' or 'columns', not {self.mode!r}")
        vitals = list(self.keys.values()) if self.mode == "kv" else [c for c in self.columns if c]
        if not vitals:
            raise ValueError("text-lines needs 'keys' (kv mode) or 'columns' naming at least one vital")
        for name in vitals:
            Vital(name)  # raises ValueError naming the bad vital
        for state in self.status_codes.values():
            DeviceState(state)


PRESETS: dict[str, dict[str, Any]] = {
    # Nonin 8500 / 2500 / 9847 / 8600V / Avant 9600: "SPO2=097 HR=072" once a second; HR is the pulse rate.
    "nonin": {"mode": "kv", "keys": {"SPO2": "spo2", "HR": "pr"}},
    # Nellcor N-560 / N-595 / N-600 printer output: "07-Jan-04 11:24:54   100     102      36    MO   AO".
    "nellcor-n560": {
        "mode": "columns",
        "columns": ["", "", "spo2", "pr", ""],
        "ignore": [r"^N-\d", r"^(ADULT|PEDI|NEO|TIME)\b", r"^\s*TIME\b", r"SpO2 Limit"],
        # Codes as listed in Nellcor operator manuals' printout legend (UNVERIFIED against a device).
        "status_codes": {
            "PS": "searching",
            "LP": "searching",
            "LM": "searching",
            "MO": "interference",
            "SD": "no_sensor",
            "SO": "sensor_off",
        },
    },
}

_STATE_QUALITY = {
    DeviceState.NO_SENSOR: Quality.INVALID,
    DeviceState.SENSOR_OFF: Quality.INVALID,
}


class TextLinesDecoder(LineDecoder):
    name: ClassVar[str] = "text-lines"
    description: ClassVar[str] = (
        "configurable ASCII lines (key=value or columns); presets: " + ", ".join(sorted(PRESETS)) + " (options.preset)"
    )
    line: ClassVar[LineSettings] = LineSettings(9600, 8, "N", 1)

    def __init__(self, source: str, bed: str | None = None, options: dict[str, Any] | None = None) -> None:
        self.config = TextLinesConfig.from_options(options or {"preset": "nonin"})
        self.builder = ItemBuilder(source, bed)
        self.silence_s = self.config.silence_s
        self.stats = DecoderStats()
        self._split = re.compile(self.config.separator)
        self._ignore = [re.compile(p) for p in self.config.ignore]
        self._nulls = frozenset(self.config.null_tokens)
        self._keys = {k.upper(): Vital(v) for k, v in self.config.keys.items()}
        self._columns = [Vital(c) if c else None for c in self.config.columns]
        self._codes = {k.upper(): DeviceState(v) for k, v in self.config.status_codes.items()}
        self._lines = LineSplitter()
        self._states = StateTracker()

    def reset(self) -> None:
        self._lines.reset()
        self._states = StateTracker()

    def _line(self, raw: bytes, now: float) -> list[IngestItem]:
        text = raw.decode("ascii", "replace").strip()
        if not text or any(p.search(text) for p in self._ignore):
            return []
        try:
            parsed = self._kv(text) if self.config.mode == "kv" else self._cols(text)
        except ValueError:
            self.stats.parse_errors += 1
            return []
        if parsed is None:
            self.stats.bytes_skipped += len(raw) + 1
            return []
        values, codes = parsed
        self.stats.frames_ok += 1
        states = frozenset(self._codes[c] for c in codes if c in self._codes)
        if any(_STATE_QUALITY.get(s) is Quality.INVALID for s in states):
            quality = Quality.INVALID
        else:
            quality = Quality.QUESTIONABLE if states else Quality.VALID
        detail = " ".join(c for c in codes if c in self._codes)
        first_vital = next(iter(values), None)
        out: list[IngestItem] = self._states.update(states, self.builder, now, first_vital, detail)
        for vital, value in values.items():
            if value is not None:
                out.append(self.builder.reading(vital, value, now, quality))
        return out

    def _kv(self, text: str) -> tuple[dict[Vital, float | None], list[str]] | None:
        values: dict[Vital, float | None] = {}
        codes: list[str] = []
        for token in self._split.split(text):
            key, sep, value = token.partition(self.config.kv_separator)
            if not sep:
                codes.append(token.upper())
                continue
            vital = self._keys.get(key.strip().upper())
            if vital is not None:
                values[vital] = parse_number(value, self._nulls)
        return (values, codes) if values else None

    def _cols(self, text: str) -> tuple[dict[Vital, float | None], list[str]] | None:
        tokens = self._split.split(text)
        if len(tokens) < len(self._columns):
            return None
        values: dict[Vital, float | None] = {}
        for vital, token in zip(self._columns, tokens, strict=False):
            if vital is not None:
                values[vital] = parse_number(token, self._nulls)
        codes = [t.upper() for t in tokens[len(self._columns) :]]
        return values, codes


@register_decoder(TextLinesDecoder.name, TextLinesDecoder.description, TextLinesDecoder.line)
def _factory(source: str, bed: str | None, options: dict[str, Any]) -> TextLinesDecoder:
    return TextLinesDecoder(source, bed, options)
