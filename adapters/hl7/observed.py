"""The integrator's view: every observation code seen, per sender, counted in memory.

The listener notes each OBX row here (one dict lookup and an increment: the
hot path stays cheap); a background job (``monitor/service.py``) takes the
counts every few seconds with :meth:`CodeLedger.take` and adds them to the
``hl7_codes`` table (``monitor/store/hl7_codes.py``), where ``ivmon hl7 codes``
and the admin page read them. What ivmon made of a code is worked out once,
when the code is first seen (and again after the code tables are reloaded).

Codes ivmon does not map but that look like a vital, by their text (HR,
pulse, SpO2, NBP, resp, CO2) or their unit (bpm, %, mmHg, kPa, rpm), are
flagged: a clinic's monitor may be sending a vital under a local code that a
line in ``[hl7] local_codes`` would take in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adapters.hl7.codes import CodeMap, mdc_number
from monitor.model import Vital

#: Distinct (sender, OBX-3, OBX-6) kept in memory between two flushes: random input cannot grow it without limit.
MAX_ENTRIES = 5000
_FIELD_MAX = 200

_VITAL_WORDS = re.compile(
    r"\b(HR|PR|PULSE?|PULS\w*|HEART|SPO2\w*|SAO2|SAT\w*|NI?BP\w*|SYS\w*|DIA\w*|MEAN|MAP|RESP\w*|RR|AWRR|"
    r"ETCO2|CO2\w*|BPM)\b|HEART_RATE|PULS|SAT_O2|NONINV|CUFF|RESP_RATE|CO2_ET",
    re.IGNORECASE,
)
_VITAL_UNITS = frozenset(
    {"BPM", "/MIN", "1/MIN", "%", "MMHG", "MM[HG]", "KPA", "RPM", "BR/MIN", "BREATHS/MIN", "{BEATS}/MIN"}
    | {"PERCENT", "BR/M", "{BREATHS}/MIN", "{BEAT}/MIN"}  # Welch Allyn WACS unit tags; UCUM annotations
)
_VITAL_UNIT_CODES = frozenset({264864, 262688, 266016, 265987, 264928, 264896})


@dataclass(slots=True)
class Seen:
    """One code from one sender since the last flush (or since start, for the in-memory view)."""

    sender: str
    obx3: str
    obx6: str
    code: str = ""
    label: str = ""
    code_system: str = ""
    unit: str = ""
    count: int = 0
    example_value: str = ""
    outcome: str = ""  # a vital key, "not tracked: ...", "unmapped", or "refused: ..."
    flagged: bool = False


@dataclass(slots=True)
class CodeLedger:
    codes: CodeMap
    component: str = "^"
    _entries: dict[tuple[str, str, str], Seen] = field(default_factory=dict)
    overflow: int = 0  # rows not noted because the ledger was full (counted, never silently)

    def note(self, sender: str, obx3: str, obx6: str, value: str, vital: Vital | None, problem: str) -> None:
        """Count one OBX row (called by the interpreter for every row with a code).

        A code already seen in this flush period costs one dict lookup and an
        increment; the example value and the outcome are taken when the code
        is first seen in a period (every few seconds, since :meth:`take` starts
        a new period).
        """
        seen = self._entries.get((sender, obx3, obx6))
        if seen is not None:
            seen.count += 1
            return
        self._first(sender, obx3, obx6, value, vital, problem)

    def _first(self, sender: str, obx3: str, obx6: str, value: str, vital: Vital | None, problem: str) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self.overflow += 1
            return
        code, label, system = _parts(obx3, self.component)
        unit_code, unit_name, _ = _parts(obx6, self.component)
        seen = self._entries[(sender, obx3, obx6)] = Seen(
            sender[:_FIELD_MAX],
            obx3[:_FIELD_MAX],
            obx6[:_FIELD_MAX],
            code[:_FIELD_MAX],
            label[:_FIELD_MAX],
            system[:_FIELD_MAX],
            (unit_name or unit_code)[:_FIELD_MAX],
        )
        seen.count = 1
        seen.example_value = value.strip()[:64]
        seen.outcome, seen.flagged = self.judge(obx3, obx6, vital, problem)

    def judge(self, obx3: str, obx6: str, vital: Vital | None, problem: str) -> tuple[str, bool]:
        """What ivmon made of a code, and whether an unmapped one looks like a vital."""
        if vital is not None:
            return vital.value, False
        if problem:
            return f"refused: {problem}"[:_FIELD_MAX], False
        code, label, system = _parts(obx3, self.component)
        known = self.codes.known(code, label, system)
        if known:
            return f"not tracked: {known}"[:_FIELD_MAX], False
        unit_code, unit_name, unit_system = _parts(obx6, self.component)
        return "unmapped", looks_like_vital(label, unit_code, unit_name, unit_system)

    def replace_codes(self, codes: CodeMap) -> None:
        """New code tables (``[hl7] local_codes`` reloaded): what ivmon makes of each code is worked out again."""
        self.codes = codes
        for seen in self._entries.values():
            vital, _convert, problem = codes.row(seen.obx3, seen.obx6, self.component)
            seen.outcome, seen.flagged = self.judge(seen.obx3, seen.obx6, vital, problem)

    def take(self) -> list[Seen]:
        """The counts since the last call (each entry once); the ledger starts again from zero."""
        taken = [s for s in self._entries.values() if s.count]
        self._entries = {}
        return taken

    def give_back(self, taken: list[Seen]) -> None:
        """Counts that could not be stored: added back, so the next flush carries them."""
        for old in taken:
            key = (old.sender, old.obx3, old.obx6)
            seen = self._entries.get(key)
            if seen is None:
                self._entries[key] = old
            else:
                seen.count += old.count
                seen.example_value = seen.example_value or old.example_value

    def __len__(self) -> int:
        return len(self._entries)


def _parts(value: str, component: str) -> tuple[str, str, str]:
    c = value.split(component)
    return (
        c[0].strip(),
        c[1].strip() if len(c) > 1 else "",
        c[2].strip() if len(c) > 2 else "",
    )


def split_code(value: str, component: str = "^") -> tuple[str, str, str]:
    """(code, text, coding system) of an OBX-3 or OBX-6 as sent."""
    return _parts(value, component)


def looks_like_vital(label: str, unit_code: str, unit_name: str, unit_system: str) -> bool:
    """An unmapped code whose text or unit is a vital's: worth a look by the integrator."""
    if label and _VITAL_WORDS.search(label):
        return True
    number = mdc_number(unit_code, unit_system)
    if number is not None and number in _VITAL_UNIT_CODES:
        return True
    return any(u.strip().upper() in _VITAL_UNITS for u in (unit_code, unit_name) if u)
