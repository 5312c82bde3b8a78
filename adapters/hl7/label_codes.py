"""Vendors that name a quantity by its label instead of a standard code, and the labels that mean "invasive".

* **Welch Allyn Connectivity Server (WACS)** codes OBX-3 as ``label^label^WAP``
  (``Heart Rate^Heart Rate^WAP``), sends the value as ``ST`` and puts the
  blood-pressure part in OBX-4 (``SYS``, ``DIA``, ``MEAN``; temperatures ``1``,
  ``2``). The part is joined to the label (``NIBP/SYS``) by :func:`qualify`, so
  the tables, the integrator's view and ``[hl7] local_codes`` can tell the parts
  apart. The labels are configurable on the server; only the defaults the
  Programmer's Guide shows are here.
* **Mindray PDS** (Patient Data Share) sends bare numbers with a short label
  and no coding system (``160^SpO2``). A number alone is not safe (``170^Sys``
  is the cuff, ``500^Sys`` the arterial line), so a row matches only when its
  number and its label both do.

Sources and what is unconfirmed: ``docs/hl7-codes.md`` (keys WACS, PDS).
"""

from __future__ import annotations

import re

from monitor.model import Vital

WAP = "WAP"

#: OBX-4 sub-level tags WACS puts under one label (Programmer's Guide, table 11).
WAP_PARTS = frozenset({"SYS", "DIA", "MEAN", "1", "2"})

#: WACS labels (upper case, with their OBX-4 part) -> vital.
WAP_VITALS: dict[str, Vital] = {
    "HEART RATE": Vital.HR,  # the guide's OBX example
    "NIBP/SYS": Vital.SBP,  # table 11: NIBP with sub-levels SYS/DIA/MEAN
    "NIBP/DIA": Vital.DBP,
    "NIBP/MEAN": Vital.MAP,
}

#: WACS labels ivmon does not track -> what they are.
WAP_KNOWN: dict[str, str] = {
    **{
        f"IBP-{n}/{part}": f"invasive blood pressure {n}, {part.lower()}"
        for n in (1, 2)
        for part in ("SYS", "DIA", "MEAN")
    },
    "TEMPERATURE/1": "temperature 1",
    "TEMPERATURE/2": "temperature 2",
}

#: Mindray PDS (number, label in upper case) -> vital.
PDS_VITALS: dict[tuple[str, str], Vital] = {
    ("101", "HR"): Vital.HR,
    ("161", "PR"): Vital.PR,
    ("160", "SPO2"): Vital.SPO2,
    ("170", "SYS"): Vital.SBP,
    ("171", "DIA"): Vital.DBP,
    ("151", "RR"): Vital.RR,
    ("250", "CO2ET"): Vital.ETCO2,
}

#: Mindray PDS (number, label) of quantities ivmon does not track.
PDS_KNOWN: dict[tuple[str, str], str] = {
    ("500", "SYS"): "invasive arterial pressure, systolic",
    ("502", "DIA"): "invasive arterial pressure, diastolic",
    ("605", "MEAN"): "central venous pressure, mean",
    ("200", "T1"): "temperature 1",
}


def qualify(obx3: str, obx4: str, component: str = "^") -> str:
    """A WACS OBX-3 with its OBX-4 part joined to the label (``NIBP/SYS^NIBP^WAP``); other rows as sent."""
    part = obx4.strip().upper()
    if part not in WAP_PARTS:
        return obx3
    c = obx3.split(component)
    if len(c) < 3 or c[2].strip().upper() != WAP:
        return obx3
    c[0] = f"{c[0].strip()}/{part}"
    return component.join(c)


def wap_vital(code: str) -> Vital | None:
    return WAP_VITALS.get(code.strip().upper())


def wap_known(code: str) -> str:
    return WAP_KNOWN.get(code.strip().upper(), "")


def pds_vital(code: str, label: str) -> Vital | None:
    return PDS_VITALS.get((code.strip(), label.strip().upper()))


def pds_known(code: str, label: str) -> str:
    return PDS_KNOWN.get((code.strip(), label.strip().upper()), "")


# Labels of invasive pressures, as vendors abbreviate them: ART, ABP, IBP1, AOP, PAP, CVP, ICP, LAP,
# RAP, UAP, UVP, FAP, with an optional s/d/m or number (Philips ABPs, WACS IBP-1); the MDC reference
# ids of invasive blood pressures (MDC_PRESS_BLD_ART..., any MDC_PRESS_BLD_ that is not NONINV); and the
# words "arterial" and "invasive" (but not "non-invasive").
_INVASIVE_LABEL = re.compile(
    r"(?<![A-Z])(?:ART|ABP|IBP|AOP?|PAP?|CVP|ICP|LAP|RAP|UAP|UVP|FAP)(?:-?[0-9]|S|D|M|SYS|DIA|MEAN)?(?![A-Z])"
    r"|ARTERIAL|(?<!NON)(?<!NON-)(?<!NON )(?<!NON_)INVASIVE"
    r"|MDC_PRESS_BLD_(?!NONINV)",
)


def names_invasive_pressure(label: str) -> bool:
    """True when an OBX-3 text names an invasive (or method-less) blood pressure: never NIBP."""
    return bool(label) and _INVASIVE_LABEL.search(label.upper()) is not None
