"""Hostile HL7 messages of the security review (issue 13), built here so the tests need no shared data."""

from __future__ import annotations

import time

#: A PCD-04 alarm (the Mindray recording's shape): the event code in OBX-5 of facet .1 is ``{code}``.
ALARM = (
    "MSH|^~\\&|EVIL^00A0370000000001^EUI-64|EVIL|||{sent}||ORU^R40^ORU_R40|{cid}|P|2.6|||AL|NE||UNICODE UTF-8\r"
    "OBR|1||1^EVIL^00A0370000000001^EUI-64|196616^MDC_EVT_ALARM^MDC|||{sent}\r"
    "OBX|1|CWE|196616^MDC_EVT_ALARM^MDC|1.7.0.196680.1|{code}^MDC_EVT_LEAD_OFF^MDC|||A~PL~ST|||R|||{sent}||||"
    "00A0370000000001^^00A0370000000001^EUI-64\r"
    "OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.7.0.196680.3|start||||||R\r"
    "OBX|3|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.7.0.196680.4|active||||||R\r"
    "OBX|4|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.7.0.196680.6|PM||||||R\r"
)

#: An ordinary PCD-01 message: HR and SpO2 from device ``{device}`` at chair ``{bed}``.
VITALS = (
    "MSH|^~\\&|MON^{device}^EUI-64|WARD|||{sent}||ORU^R01^ORU_R01|{cid}|P|2.6\r"
    "PV1||I|{bed}\r"
    "OBR|1|||182777000^monitoring of patient^SCT|||{sent}\r"
    "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||{sent}\r"
    "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.5.1.2|{spo2}|262688^MDC_DIM_PERCENT^MDC|||||R|||{sent}\r"
)


def hl7_time(ts: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(ts)) + "+0000"


def alarm_message(code: str, cid: str, ts: float | None = None) -> bytes:
    sent = hl7_time(time.time() if ts is None else ts)
    return ALARM.format(code=code, cid=cid, sent=sent).encode()


def vitals_message(
    cid: str,
    *,
    device: str = "0012000000000001",
    bed: str = "chair-1",
    hr: float = 72,
    spo2: float = 97,
    ts: float | None = None,
) -> bytes:
    sent = hl7_time(time.time() if ts is None else ts)
    return VITALS.format(cid=cid, device=device, bed=bed, hr=hr, spo2=spo2, sent=sent).encode()
