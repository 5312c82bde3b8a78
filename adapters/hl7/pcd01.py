"""ORU^R01 (IHE PCD-01), ORF^R04 and ORU^R40 (IHE PCD-04) -> readings and device alarms.

What is and is not a reading follows ``research/hl7.md`` section 5: header
rows (empty OBX-2, status X), waveform arrays, attributes, sentinels and
quantities ivmon does not track are skipped (counted); rows that name a vital
but cannot be taken in (code/name mismatch, unknown unit, bad number or time)
are refused with a reason. Nothing here logs or returns patient fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from adapters.hl7 import limits
from adapters.hl7.codes import SENTINELS, CodeError, CodeMap
from adapters.hl7.label_codes import qualify
from adapters.hl7.message import Message, TimestampError, parse_segments, parse_ts
from adapters.hl7.observed import CodeLedger
from adapters.hl7.vendor_codes import SENSOR_SYSTEMS
from monitor.binding import Bindings, location_keys
from monitor.model import CANONICAL_UNIT, DeviceAlarm, IngestItem, Quality, Reading, Vital

#: (message code, trigger) this adapter takes; MSH-9.3 (structure) is not checked.
SUPPORTED_TYPES = frozenset({("ORU", "R01"), ("ORU", "R40"), ("ORF", "R04")})
#: HL7 v2.3 to v2.8 (the spec names 2.3-2.6; later 2.x keep these segments as they are).
_SUPPORTED_MINOR = range(3, 9)

_NUMERIC_TYPES = frozenset({"NM", "SN"})
_WAVEFORM_TYPES = frozenset({"NA", "NR", "MA", "SA", "ED"})
_VALID_STATUS = frozenset({"", "F", "R", "C", "P", "A", "S", "I", "U"})
_PRIORITY = {"PH": "high", "PM": "medium", "PL": "low", "PN": "low"}
_ALARM_OBR_CODES = frozenset({"196616", "MDC_EVT_ALARM"})
_OBX_FIELDS = 19  # OBX-0 (the name) to OBX-18 (equipment instance id)


class Refused(Exception):
    """A message that is not taken in: ``ack`` is "AR" (unsupported) or "AE" (unprocessable)."""

    def __init__(self, ack: str, code: int, reason: str, *, location: str = "") -> None:
        super().__init__(reason)
        self.ack = ack
        self.code = code  # HL7 table 0357 error code
        self.reason = reason
        self.location = location  # ERR-2: segment^sequence^field, e.g. MSH^1^11


@dataclass(slots=True)
class Header:
    msg_code: str
    trigger: str
    control_id: str
    version: str
    sending_app: str
    sending_facility: str
    sent: str  # MSH-7 as sent
    processing_id: str = ""  # MSH-11.1: P production, T training, D debugging

    @property
    def message_type(self) -> str:
        return f"{self.msg_code}^{self.trigger}"

    @property
    def dedupe_key(self) -> str:
        # MSH-7 + sender + MSH-10: Mindray's control ids are small counters that restart with
        # the device, so MSH-7 keeps a reboot from looking like a retransmission. MSH-7 comes
        # first so that the keys of one moment sort together: the database's key index then
        # grows at its end instead of taking a page per sender at every commit.
        return f"{self.sent}|{self.sending_app}^{self.sending_facility}|{self.control_id}"


@dataclass(slots=True)
class Interpreted:
    header: Header | None
    items: list[IngestItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # refused rows: reason each, no patient data
    warnings: list[str] = field(default_factory=list)  # taken in, but changed (a future time clamped)
    clamped: int = 0  # distinct row times after the message's arrival, stored as its arrival time
    skipped: int = 0  # rows that carry no vital (headers, waveforms, attributes, other quantities)
    location: str = ""
    device: str = ""  # the device id of the message (MSH-3) used when a row names none

    @property
    def readings(self) -> list[Reading]:
        return [i for i in self.items if isinstance(i, Reading)]

    @property
    def alarms(self) -> list[DeviceAlarm]:
        return [i for i in self.items if isinstance(i, DeviceAlarm)]


def read_header(msg: Message) -> Header:
    seg = msg.first("MSH")
    if seg is None:
        raise Refused("AE", 100, "no MSH segment")

    def f(n: int) -> str:
        return seg[n] if len(seg) > n else ""

    cs = msg.encoding.component
    mtype = f(9).split(cs)
    version = f(12).split(cs)[0].strip()
    return Header(
        msg_code=mtype[0].strip().upper(),
        trigger=mtype[1].strip().upper() if len(mtype) > 1 else "",
        control_id=f(10).strip(),
        version=version,
        sending_app=f(3),
        sending_facility=f(4),
        sent=f(7).strip(),
        processing_id=f(11).split(cs)[0].strip().upper(),
    )


def check_supported(header: Header) -> None:
    """Raise :class:`Refused` for what this adapter does not take (AR) or cannot identify (AE)."""
    if (header.msg_code, header.trigger) not in SUPPORTED_TYPES:
        shown = header.message_type if header.msg_code else "none"
        raise Refused("AR", 200, f"unsupported message type {shown} (accepted: ORU^R01, ORU^R40, ORF^R04)")
    parts = header.version.split(".")
    minor = parts[1] if len(parts) > 1 and parts[1].isascii() and parts[1].isdigit() else ""
    if parts[0] != "2" or not minor or int(minor) not in _SUPPORTED_MINOR:
        raise Refused("AR", 203, f"unsupported HL7 version {header.version or 'none'} (accepted: 2.3 to 2.8)")
    if not header.control_id:
        raise Refused("AE", 101, "MSH-10 (message control id) is empty")
    for name, value, limit in (
        ("MSH-10 (message control id)", header.control_id, limits.MAX_CONTROL_ID),
        ("MSH-3 (sending application)", header.sending_app, limits.MAX_SENDER),
        ("MSH-4 (sending facility)", header.sending_facility, limits.MAX_SENDER),
        ("MSH-7 (message time)", header.sent, limits.MAX_TIME),
    ):
        problem = limits.too_long(name, value, limit)
        if problem is not None:
            raise Refused("AE", 102, problem)


def _device_problem(source: str) -> str | None:
    problem = limits.too_long("device id", source, limits.MAX_DEVICE_ID)
    if problem is None and limits.has_control(source):
        problem = "device id holds control characters"
    return problem


#: HL7 table 0103.
PROCESSING_IDS = {"P": "production", "T": "training", "D": "debugging"}


def check_processing_id(header: Header, accepted: list[str]) -> bool:
    """True when the message is training/debugging data that was accepted; :class:`Refused` (AR) when not accepted.

    An empty MSH-11 is read as production: HL7 requires the field, and the
    devices in ``research/hl7.md`` all send it, so a sender leaving it out is
    a production sender with a sloppy header.
    """
    pid = header.processing_id or "P"
    if pid in accepted:
        return pid != "P"
    name = PROCESSING_IDS.get(pid, "unknown")
    raise Refused(
        "AR",
        202,
        f"MSH-11 processing id {pid} ({name}) not accepted here (accepted: {', '.join(accepted) or 'none'};"
        " [hl7] processing_ids)",
        location="MSH^1^11",
    )


def device_id(value: str, component: str = "^") -> str:
    """The id in an OBX-18 EI (``entity^namespace^universal^type``): the entity id, else the universal id."""
    parts = value.split(component)
    entity = parts[0].strip()
    return entity or (parts[2].strip() if len(parts) > 2 else "")


def sender_device(header: Header, component: str = "^") -> str:
    """The device id of a message without OBX-18: MSH-3's universal id, else app/facility ("" when none)."""
    parts = header.sending_app.split(component)
    if len(parts) >= 2 and parts[1].strip():
        return parts[1].strip()
    app = parts[0].strip()
    facility = header.sending_facility.split(component)[0].strip()
    return f"{app}/{facility}" if facility else app


def sensor_reference(obx18: str, component: str = "^") -> str:
    """The sensor an OBX-18 names when it is a code (Philips ``0002-4bb8^SpO2^MDIL``), not an equipment id.

    Philips pairs a pulse with its source this way (Efficia CM guide p.3-17):
    such a field names the measurement the value comes from, so it is neither
    the device id nor a reason to leave the row's device.
    """
    parts = obx18.split(component)
    if len(parts) >= 3 and parts[2].strip().upper() in SENSOR_SYSTEMS:
        return parts[1].strip() or parts[0].strip()
    return ""


def _paired_sensor(seg: list[str], cs: str) -> str:
    """The sensor a row names as its source: OBX-17 (observation method; where the Efficia CM guide's
    examples put it) or OBX-18 (equipment instance)."""
    return sensor_reference(seg[17], cs) or sensor_reference(seg[18], cs)


#: Words in an OBX-17/18 reference that name a pulse's sensor: the oximeter, the pleth, the cuff, a pressure line.
_PULSE_SENSOR_WORDS = ("SPO2", "SAT_O2", "OXIM", "PLETH", "PULS", "NBP", "NIBP", "CUFF", "PRESS", "ART", "ABP", "IBP")


def _pulse_source(sensor: str) -> bool:
    """A sensor that counts pulses: a heart rate measured there is a pulse rate.

    A positive list, because OBX-17 also carries measurement methods in MDC
    (IHE PCD's ``AMEAS^auto-measurement^MDC``) that say nothing about the sensor.
    """
    upper = sensor.upper()
    return "ECG" not in upper and any(word in upper for word in _PULSE_SENSOR_WORDS)


def _ids(value: str, component: str) -> list[str]:
    return [p.strip() for p in value.split(component) if p.strip() and p.strip().upper() != "EUI-64"]


_RowTime = Callable[[list[str]], float | None]
_RowDevice = Callable[[list[str], str], str]


def interpret(
    msg: Message,
    codes: CodeMap,
    binder: Bindings,
    *,
    default_tz: tzinfo = UTC,
    fallback_ts: float | None = None,
    header: Header | None = None,
    latest_ts: float | None = None,
    ledger: CodeLedger | None = None,
    peer: str = "",
    arrival: float | None = None,
) -> Interpreted:
    """The items a message carries.

    ``fallback_ts`` serves fragments without MSH/OBR times (tests); rows stamped
    after ``latest_ts`` (now + allowed clock skew) are refused: a device clock
    running ahead must not make its values look current. Rows stamped after
    ``arrival`` (but not after ``latest_ts``) are stored at ``arrival`` and
    flagged in ``warnings``: a stamp in the future could otherwise hold a
    chair's screen against the real monitor's newer readings. Every coded row
    is counted in ``ledger`` (the integrator's view) under the sender's device
    id and ``peer`` address.
    """
    enc = msg.encoding
    cs = enc.component
    msh_device = ""
    sender_ids: list[str] = []
    msg_ts_text = ""
    if msg.segments and msg.segments[0][0] == "MSH":
        header = header or read_header(msg)
        msh_device = sender_device(header, cs)
        sender_ids = [msh_device, *_ids(header.sending_app, cs)]
        msg_ts_text = header.sent
    out = Interpreted(header, device=msh_device or "unknown")
    alarm_message = header is not None and header.trigger == "R40"
    locations: tuple[str, ...] = ()
    group_ts_text = ""
    group_devices: dict[str, str] = {}
    alarm_rows: dict[str, dict[str, list[str]]] = {}
    seen: set[tuple[Vital, float, str]] = set()
    beds: dict[str, str | None] = {}
    bound = bool(binder)  # no bindings configured: every reading is unassigned
    location_device = ""  # PV1-3 as sent: the device id of a sender with no MSH-3 (IntelliVue Information Center)
    ledger_sender = ""

    def bed_for(source: str) -> str | None:
        if not binder:
            return None
        if source not in beds:
            beds[source] = binder.resolve([source], locations, sender_ids)
        return beds[source]

    # A message repeats the same few timestamps and device ids on every row: each is read once.
    good_times: dict[str, float] = {}
    device_ids: dict[str, str] = {}

    def row_time(seg: list[str]) -> float | None:
        text = seg[14] or group_ts_text or msg_ts_text
        ts = good_times.get(text)
        if ts is not None:
            return ts
        if not text:
            if fallback_ts is not None:
                return fallback_ts
            out.errors.append(f"OBX {_where(seg)}: no time in OBX-14, OBR-7 or MSH-7")
            return None
        try:
            ts = parse_ts(text, default_tz)
        except TimestampError as exc:
            out.errors.append(f"OBX {_where(seg)}: {exc}")
            return None
        if latest_ts is not None and ts > latest_ts:
            out.errors.append(f"OBX {_where(seg)}: time {text} is in the future (device clock ahead?)")
            return None
        if arrival is not None and ts > arrival:
            out.clamped += 1
            out.warnings.append(f"OBX {_where(seg)}: time {text} is after the message arrived; stored at its arrival")
            ts = arrival
        good_times[text] = ts
        return ts

    def row_device(seg: list[str], path: str) -> str:
        own = seg[18]
        if own and not sensor_reference(own, cs):
            found = device_ids.get(own)
            if found is None:
                found = device_ids[own] = device_id(own, cs)
            return found
        if group_devices:
            best = ""
            for prefix in group_devices:
                if (path == prefix or path.startswith(prefix + ".")) and len(prefix) >= len(best):
                    best = prefix
            if best or "" in group_devices:
                return group_devices[best]
        return msh_device or location_device or "unknown"

    # Device ids are few per message: each is checked once against the limits (adapters/hl7/limits.py).
    device_problems: dict[str, str | None] = {}

    def device_refused(source: str, seg: list[str]) -> bool:
        if source in device_problems:
            problem = device_problems[source]
        else:
            problem = device_problems[source] = _device_problem(source)
        if problem is not None:
            out.errors.append(f"OBX {_where(seg)}: {problem}")
            return True
        return False

    def add_alarm(alarm: DeviceAlarm, seg: list[str]) -> None:
        if device_refused(alarm.source, seg):
            return
        problem = limits.too_long("alarm code", alarm.code, limits.MAX_ALARM_CODE)
        if problem is None and limits.has_control(alarm.code):
            problem = "alarm code holds control characters"
        if problem is not None:
            out.errors.append(f"OBX {_where(seg)}: {problem}")
            return
        alarm.message = limits.display_text(alarm.message)
        alarm.bed = bed_for(alarm.source)
        out.items.append(alarm)

    def flush_alarms() -> None:
        for rows in alarm_rows.values():
            alarm = _device_alarm(rows, cs, codes, row_time, row_device)
            if alarm is not None:
                add_alarm(alarm, rows["1"])
        alarm_rows.clear()

    for seg in msg.segments:
        name = seg[0]
        if name == "OBX":
            if len(seg) < _OBX_FIELDS:
                # Padded once, so every field below is a plain index (absent fields are empty).
                seg.extend([""] * (_OBX_FIELDS - len(seg)))
            vtype = seg[2].strip().upper()
            path = seg[4].strip()
            status = seg[11].strip().upper()
            obx3 = qualify(seg[3], path, cs)  # WACS: the blood-pressure part is in OBX-4
            if vtype == "ST":
                st_vital, _, st_problem = codes.row(obx3, seg[6], cs)
                if st_vital is not None or st_problem:
                    vtype = "NM"  # a number sent as a string (WACS) under a code that names a vital
            if seg[8].strip() == "?":
                status = "X"  # WACS's "invalid" flag (no valid numeric, e.g. sensor off)
            if seg[18] and (not vtype or seg[11] == "X") and not sensor_reference(seg[18], cs):
                # A containment header naming its device: rows below it inherit it.
                group_devices[_trim_path(path)] = device_id(seg[18], cs)
            if alarm_message or (alarm_rows and path.count(".") >= 4):
                prefix, _, facet = path.rpartition(".")
                if facet.isascii() and facet.isdigit() and prefix:
                    alarm_rows.setdefault(prefix, {})[facet] = seg
                    continue
            if ledger is not None and vtype and seg[3]:
                if not ledger_sender:
                    device = msh_device or location_device or "unknown"
                    ledger_sender = f"{device} @ {peer}" if peer else device
                if vtype not in _NUMERIC_TYPES:
                    ledger.note(ledger_sender, obx3, seg[6], "", None, "")
                elif status == "X":
                    no_value, _, why = codes.row(obx3, seg[6], cs)
                    ledger.note(ledger_sender, obx3, seg[6], "", no_value, why)
            if not vtype or status == "X":
                out.skipped += 1  # containment header, or "no valid value" (Philips shows "?")
                continue
            if vtype not in _NUMERIC_TYPES:
                if vtype in ("TX", "ST", "CWE", "CE") and "ALERT" in _coding_system(seg, cs):
                    alarm = _text_alarm(seg, msg, row_time, row_device(seg, path))
                    if alarm is not None:
                        add_alarm(alarm, seg)
                        continue
                out.skipped += 1  # waveform arrays, coded and text rows
                continue
            vital, convert, problem = codes.row(obx3, seg[6], cs)
            if vital is Vital.HR and (seg[17] or seg[18]) and _pulse_source(_paired_sensor(seg, cs)):
                vital = Vital.PR  # a rate paired with a sensor (SpO2, NBP, arterial line): a pulse
            if ledger is not None:
                ledger.note(ledger_sender, obx3, seg[6], seg[5], vital, problem)
            if vital is None:
                if problem:
                    out.errors.append(f"OBX {_where(seg)}: {problem}")
                else:
                    out.skipped += 1  # a quantity ivmon does not track
                continue
            text = seg[5].strip()
            if vtype == "SN":  # structured numeric: comparator^number
                sn = text.split(cs)
                text = sn[1].strip() if len(sn) > 1 and not sn[0].strip() else ""
            if not text:
                out.skipped += 1
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                out.errors.append(f"OBX {_where(seg)}: {vital.value} value is not a number")
                continue
            if value in SENTINELS:
                out.skipped += 1  # "no value" markers (-100, 32767): never a reading
                continue
            if problem:
                out.errors.append(f"OBX {_where(seg)}: {problem}")
                continue
            value = convert(value)
            ts = row_time(seg)
            if ts is None:
                continue
            source = row_device(seg, path)
            if device_refused(source, seg):
                continue
            key = (vital, ts, source)
            if key in seen:
                out.skipped += 1  # a second channel of the same vital: the first one counts
                continue
            seen.add(key)
            quality = Quality.VALID if status in _VALID_STATUS else Quality.INVALID
            bed = bed_for(source) if bound else None
            out.items.append(Reading(vital, value, CANONICAL_UNIT[vital], ts, source, quality, bed))
        elif name == "OBR":
            flush_alarms()
            group_ts_text = (seg[7] if len(seg) > 7 else "").strip()
            group_devices = {}
            obr4 = (seg[4] if len(seg) > 4 else "").split(cs)
            if obr4[0].strip() in _ALARM_OBR_CODES or (len(obr4) > 1 and obr4[1].strip() == "MDC_EVT_ALARM"):
                alarm_rows.setdefault("", {})  # marks an alarm group for the rows that follow
        elif name == "PV1":
            raw = seg[3] if len(seg) > 3 else ""
            too_long = limits.too_long("PV1-3 (location)", raw, limits.MAX_LOCATION)
            if too_long is not None:
                raise Refused("AE", 102, too_long)
            out.location = raw
            location_device = raw.rstrip(cs).strip()
            locations = location_keys(raw, cs, enc.subcomponent)
            beds.clear()
    flush_alarms()
    return out


def interpret_fragment(text: str, codes: CodeMap, binder: Bindings, *, ts: float) -> Interpreted:
    """Segments quoted without their MSH (manual excerpts): rows without OBX-14 get ``ts``."""
    return interpret(parse_segments(text), codes, binder, fallback_ts=ts)


def _where(seg: list[str]) -> str:
    set_id = seg[1].strip() if len(seg) > 1 else ""
    path = seg[4].strip() if len(seg) > 4 else ""
    return f"{set_id or '-'} ({path or 'no OBX-4'})"


def _trim_path(path: str) -> str:
    """``1.13.0.0`` -> ``1.13``: zeros below a header mean "this whole subtree"."""
    parts = path.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts) if path else ""


def _coding_system(seg: list[str], cs: str) -> str:
    parts = (seg[3] if len(seg) > 3 else "").split(cs)
    return parts[2].upper() if len(parts) > 2 else ""


def _humanize(refid: str) -> str:
    text = refid
    for prefix in ("MDC_EVT_", "MDC_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.replace("_", " ").strip().capitalize() or "Device alarm"


def _text_alarm(seg: list[str], msg: Message, row_time: _RowTime, source: str) -> DeviceAlarm | None:
    """A vendor alarm sent as text (Philips ``2^Yellow Alarm^MDIL-ALERT``)."""
    ts = row_time(seg)
    if ts is None:
        return None
    label = msg.component(seg[3], 2).lower()
    priority = "high" if "red" in label else "medium" if "yellow" in label else "low"
    text = msg.unescape(seg[5]).strip() if len(seg) > 5 else ""
    code = msg.component(seg[3], 1)
    return DeviceAlarm(source=source, ts=ts, priority=priority, message=text or label or "Device alarm", code=code)


def _device_alarm(
    rows: dict[str, list[str]], cs: str, codes: CodeMap, row_time: _RowTime, row_device: _RowDevice
) -> DeviceAlarm | None:
    """One PCD-04 alarm from its facet rows (``x.y.z.<event>.1..7``)."""
    event = rows.get("1")
    if event is None:
        return None

    def value(facet: str) -> str:
        seg = rows.get(facet)
        return seg[5].strip() if seg is not None and len(seg) > 5 else ""

    ts = row_time(event)
    if ts is None:
        return None
    path = event[4].strip() if len(event) > 4 else ""
    ev = value("1").split(cs)
    code = ev[0].strip()
    label = ev[1].strip() if len(ev) > 1 else ""
    flags = [f.strip().upper() for f in (event[8] if len(event) > 8 else "").split("~")]
    priority = _PRIORITY.get(value("6").upper()) or next((_PRIORITY[f] for f in flags if f in _PRIORITY), "medium")
    phase = value("3").lower()
    state = value("4").lower()
    active = phase not in ("end", "reset") and state not in ("inactive", "off")
    vital: Vital | None = None
    src = value("2").split(cs)
    try:
        vital = codes.vital(src[0].strip(), src[1].strip() if len(src) > 1 else "", "MDC")
    except CodeError:
        vital = None
    text = label if label and not label.startswith("MDC_") else _humanize(label or code)
    return DeviceAlarm(
        source=row_device(event, path),
        ts=ts,
        priority=priority,
        message=text,
        code=code,
        vital=vital,
        active=active,
    )
