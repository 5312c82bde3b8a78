"""HL7 v2 messages: bytes -> text -> segments -> fields, components, timestamps.

Hand-written on purpose: ``hl7.parse`` builds a container object per field,
component and sub-component (about 1,300 messages/s here), while an MLLP
listener only needs a handful of fields per OBX. Here a message is split into
segments and fields once (plain ``str.split``); components are split only
when asked for. This keeps parsing several times faster than ``hl7.parse``
and tolerant of the real-world quirks in ``research/hl7.md`` (LF separators,
17-digit timestamps, missing MSH-18, lying charsets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

#: HL7 charset names (MSH-18, table 0211) -> Python codecs. ASCII is read as
#: UTF-8 (a superset) because senders that declare ASCII still send names in UTF-8.
_CHARSETS: dict[str, str] = {
    "ASCII": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "GB 18030-2000": "gb18030",
    "BIG-5": "big5",
    "KS X 1001": "euc-kr",
    "ISO IR87": "iso2022-jp",
    "ISO IR159": "iso2022-jp",
    "ISO IR6": "utf-8",
    "ISO IR100": "latin-1",
}

DEFAULT_SEPARATORS = "|^~\\&"


class HL7Error(ValueError):
    """A message that cannot be read at all (no MSH, bad encoding characters)."""


class TimestampError(ValueError):
    """A timestamp in none of the forms devices send."""


@dataclass(slots=True, frozen=True)
class Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def is_default(self) -> bool:
        return (self.field, self.component, self.repetition, self.escape, self.subcomponent) == tuple(
            DEFAULT_SEPARATORS
        )


DEFAULT_ENCODING = Encoding()


def charset_of(raw: bytes) -> str | None:
    """MSH-18 read from the raw bytes (before decoding: it says how to decode)."""
    if not raw.startswith(b"MSH") or len(raw) < 4:
        return None
    end = len(raw)
    for sep in (b"\r", b"\n"):
        pos = raw.find(sep)
        if pos != -1 and pos < end:
            end = pos
    parts = raw[:end].split(raw[3:4])
    # parts[0] = "MSH", parts[1] = MSH-2, so MSH-n = parts[n - 1]
    if len(parts) < 18:
        return None
    value = parts[17].split(b"~", 1)[0].strip()
    return value.decode("ascii", "replace") if value else None


def decode(raw: bytes) -> tuple[str, str]:
    """Text of a message and the codec used: MSH-18 honoured, UTF-8 by default, Latin-1 as last resort.

    Never raises: Latin-1 maps every byte, so a lying or unknown charset still
    yields the numeric fields we need (names may then look odd, values do not).
    """
    declared = charset_of(raw)
    codec = _CHARSETS.get(declared.upper(), "utf-8") if declared else "utf-8"
    try:
        return raw.decode(codec), codec
    except (UnicodeDecodeError, LookupError):
        if codec != "utf-8":
            try:
                return raw.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        return raw.decode("latin-1"), "latin-1"


class Message:
    """Segments of one message, each a list of fields where ``fields[n]`` is field n.

    For MSH the field separator is inserted as MSH-1 so that MSH-n is
    ``fields[n]`` as for every other segment.
    """

    __slots__ = ("encoding", "segments")

    def __init__(self, segments: list[list[str]], encoding: Encoding) -> None:
        self.segments = segments
        self.encoding = encoding

    def first(self, name: str) -> list[str] | None:
        for seg in self.segments:
            if seg[0] == name:
                return seg
        return None

    def msh(self, n: int) -> str:
        seg = self.first("MSH")
        return field(seg, n) if seg is not None else ""

    def components(self, value: str) -> list[str]:
        return value.split(self.encoding.component)

    def component(self, value: str, n: int) -> str:
        """Component n (1-based) of a field value, unescaped; '' when absent."""
        parts = value.split(self.encoding.component)
        return self.unescape(parts[n - 1]) if len(parts) >= n else ""

    def unescape(self, value: str) -> str:
        return unescape(value, self.encoding)


def field(seg: list[str], n: int) -> str:
    return seg[n] if len(seg) > n else ""


_BLANK = "\x00 \t"


def _split_segments(text: str) -> list[str]:
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    # Segments are skipped only when empty or blank (NUL padding, stray spaces between segments).
    return [s for s in text.split("\r") if s and (s[0] not in _BLANK or s.strip(_BLANK))]


#: Encodings by MSH-1 + MSH-2 as sent: checked once per sender's spelling, not per message.
_ENCODINGS: dict[str, Encoding] = {}


def _encoding(fs: str, chars: str) -> Encoding:
    key = fs + chars
    known = _ENCODINGS.get(key)
    if known is not None:
        return known
    if len(chars) < 2 or fs.isalnum() or fs in "\r\n" or any(c.isalnum() or c in "\r\n" for c in chars):
        raise HL7Error("invalid MSH encoding characters")
    encoding = Encoding(
        fs,
        chars[0],
        chars[1] if len(chars) > 1 else "~",
        chars[2] if len(chars) > 2 else "\\",
        chars[3] if len(chars) > 3 else "&",
    )
    if len({encoding.field, encoding.component, encoding.repetition, encoding.escape, encoding.subcomponent}) < 5:
        raise HL7Error("MSH encoding characters are not distinct")
    if len(_ENCODINGS) < 64:  # bounded: random input cannot grow it
        _ENCODINGS[key] = encoding
    return encoding


def parse(text: str) -> Message:
    """Split a message (starting with MSH) into segments and fields."""
    text = text.lstrip("\x00\r\n\t ")
    if not text.startswith("MSH") or len(text) < 8:
        raise HL7Error("message does not start with an MSH segment")
    fs = text[3]
    enc_end = text.find(fs, 4)
    encoding = _encoding(fs, text[4:enc_end] if enc_end != -1 else text[4:8])
    segments: list[list[str]] = []
    for raw in _split_segments(text):
        fields = raw.split(fs)
        if fields[0] == "MSH":
            fields.insert(1, fs)
        segments.append(fields)
    return Message(segments, encoding)


def parse_segments(text: str, encoding: Encoding = DEFAULT_ENCODING) -> Message:
    """Segments without an MSH (fragments quoted in manuals, tests): default encoding characters."""
    segments = [raw.split(encoding.field) for raw in _split_segments(text)]
    return Message(segments, encoding)


_ESCAPES = {"F": "field", "S": "component", "T": "subcomponent", "R": "repetition", "E": "escape"}


def unescape(value: str, enc: Encoding = DEFAULT_ENCODING) -> str:
    r"""Resolve \F\ \S\ \T\ \R\ \E\ and \Xhh\; formatting escapes (\.br\ ...) become a space."""
    esc = enc.escape
    if esc not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch != esc:
            out.append(ch)
            i += 1
            continue
        end = value.find(esc, i + 1)
        if end == -1:  # a lone escape character: keep it as text
            out.append(value[i:])
            break
        seq = value[i + 1 : end]
        if seq in _ESCAPES:
            out.append(getattr(enc, _ESCAPES[seq]))
        elif seq.startswith("X") and len(seq) % 2 == 1:
            try:
                out.append(bytes.fromhex(seq[1:]).decode("latin-1"))
            except ValueError:
                out.append(seq)
        else:
            out.append(" ")
        i = end + 1
    return "".join(out)


def escape(value: str, enc: Encoding = DEFAULT_ENCODING) -> str:
    """Make free text safe inside a field (ACK texts)."""
    e = enc.escape
    out = value.replace(e, f"{e}E{e}")
    for ch, code in ((enc.field, "F"), (enc.component, "S"), (enc.subcomponent, "T"), (enc.repetition, "R")):
        out = out.replace(ch, f"{e}{code}{e}")
    return out.replace("\r", " ").replace("\n", " ")


#: Fixed-offset zones by minutes east of UTC (at most 28 * 60 + 1 of them): one per offset, not per message.
_OFFSETS: dict[int, tzinfo] = {}

_TS = re.compile(r"(\d{4,})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(\d{2})?)?$", re.ASCII)


def parse_ts(value: str, default_tz: tzinfo = UTC) -> float:
    """An HL7 DTM/TS -> POSIX seconds, honouring the offset it carries.

    Accepts ``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``, Mindray's 17-digit
    form (milliseconds without the dot), and the v2.3 ``TS^precision`` form.
    Without an offset the sender's local time is meant: ``default_tz``.
    """
    text = value.split("^", 1)[0].strip()
    m = _TS.match(text)
    if m is None:
        raise TimestampError("timestamp not in HL7 form")
    digits, frac, sign, oh, om = m.groups()
    if len(digits) > 14:  # 17-digit Mindray form: fractional digits without a dot
        if frac is not None or len(digits) > 20:
            raise TimestampError("timestamp has too many digits")
        digits, frac = digits[:14], digits[14:]
    if len(digits) % 2:
        raise TimestampError("timestamp has an odd number of digits")
    year = int(digits[0:4])
    month = int(digits[4:6]) if len(digits) >= 6 else 1
    day = int(digits[6:8]) if len(digits) >= 8 else 1
    hour = int(digits[8:10]) if len(digits) >= 10 else 0
    minute = int(digits[10:12]) if len(digits) >= 12 else 0
    second = int(digits[12:14]) if len(digits) >= 14 else 0
    if sign is not None:
        offset = int(oh) * 60 + (int(om) if om else 0)
        if offset > 14 * 60:
            raise TimestampError("timestamp offset out of range")
        minutes = -offset if sign == "-" else offset
        tz: tzinfo | None = _OFFSETS.get(minutes)
        if tz is None:
            tz = _OFFSETS[minutes] = timezone(timedelta(minutes=minutes))
    else:
        tz = default_tz
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        raise TimestampError("timestamp out of range") from None
    ts = dt.timestamp()
    if frac:
        ts += int(frac) / 10 ** len(frac)
    return ts
