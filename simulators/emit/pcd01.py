"""One patient's vitals at one instant as an IHE PCD-01 ORU^R01 message (HL7 v2.6).

Laid out as a GE/Mindray monitor does it: an MDS header row, a VMD header
row per module (empty OBX-2, status X), then numeric rows with MDC codes in
OBX-3, the containment path in OBX-4, MDC units in OBX-6, the observation time
in OBX-14 and the device's EUI-64 in OBX-18.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping

from monitor.model import Vital

# vital -> (VMD, OBX-3, OBX-6); VMD = (index, code^refid of its header row)
_ECG = (5, "69798^MDC_DEV_ECG_VMD^MDC")
_SPO2 = (3, "69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC")
_NIBP = (9, "69854^MDC_DEV_METER_PRESS_BLD_VMD^MDC")
_RESP = (14, "69682^MDC_DEV_ANALY_AWAY_MULTI_PARAM_VMD^MDC")
ROWS: dict[Vital, tuple[tuple[int, str], str, str]] = {
    Vital.HR: (_ECG, "147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    Vital.SPO2: (_SPO2, "150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    Vital.PR: (_SPO2, "149530^MDC_PULS_OXIM_PULS_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    Vital.SBP: (_NIBP, "150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
    Vital.DBP: (_NIBP, "150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
    Vital.MAP: (_NIBP, "150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "266016^MDC_DIM_MMHG^MDC"),
    Vital.RR: (_RESP, "151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
    Vital.ETCO2: (_RESP, "151708^MDC_AWAY_CO2_ET^MDC", "266016^MDC_DIM_MMHG^MDC"),
}

# MSH-10 must be unique per sender: a per-process prefix plus a counter.
_PREFIX = os.urandom(3).hex().upper()
_counter = itertools.count(1)


def next_control_id() -> str:
    return f"{_PREFIX}{next(_counter):012d}"


def hl7_time(ts: float) -> str:
    """POSIX seconds -> ``YYYYMMDDHHMMSS.fff+0000``."""
    whole = int(ts)
    ms = round((ts - whole) * 1000)
    if ms == 1000:
        whole, ms = whole + 1, 0
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(whole)) + f".{ms:03d}+0000"


def device_eui(patient: int) -> str:
    """A stable EUI-64-looking id per simulated monitor (locally administered OUI)."""
    return f"0A1B2CFFFE{patient & 0xFFFFFF:06X}"


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def encode_pcd01(
    vitals: Mapping[Vital, float],
    ts: float,
    *,
    device: str,
    location: str,
    control_id: str | None = None,
    nibp_ts: float | None = None,
) -> bytes:
    """The message, UTF-8, segments separated by CR, without MLLP framing.

    ``location`` goes to PV1-3 (the point of care the clinic binds to a chair);
    ``nibp_ts`` is the cuff measurement's own time when it differs from ``ts``.
    """
    stamp = hl7_time(ts)
    obx18 = f"{device}^^{device}^EUI-64"
    cid = control_id or next_control_id()
    segs = [
        f"MSH|^~\\&|IVMON_SIM^{device}^EUI-64|IVMON|||{stamp}||ORU^R01^ORU_R01|{cid}|P|2.6|||NE|AL||UNICODE UTF-8"
        "|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        "PID|||^^^ivmon^PI",
        f"PV1||I|{location}",
        f"OBR|1|{cid}^IVMON_SIM^{device}^EUI-64|{cid}^IVMON_SIM^{device}^EUI-64"
        f"|182777000^monitoring of patient^SCT|||{stamp}",
        f"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||{stamp}||||{obx18}",
    ]
    set_id = 2
    headers_done: set[int] = set()
    for vital, ((vmd, vmd_code), code, unit) in ROWS.items():
        value = vitals.get(vital)
        if value is None or value != value:  # absent or NaN: not measured now
            continue
        if vmd not in headers_done:
            headers_done.add(vmd)
            segs.append(f"OBX|{set_id}||{vmd_code}|1.{vmd}.0.0|||||||X")
            set_id += 1
        when = hl7_time(nibp_ts) if nibp_ts is not None and vmd == _NIBP[0] else stamp
        metric = code.split("^", 1)[0]
        segs.append(f"OBX|{set_id}|NM|{code}|1.{vmd}.1.{metric}|{_fmt(value)}|{unit}|||||R|||{when}||||{obx18}")
        set_id += 1
    return ("\r".join(segs) + "\r").encode("utf-8")
