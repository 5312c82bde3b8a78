from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.hl7.message import HL7Error, TimestampError, decode, escape, parse, parse_ts, unescape


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20250610015127+0800", utc(2025, 6, 9, 17, 51, 27)),
        ("20260124124738000+0800", utc(2026, 1, 24, 4, 47, 38)),  # Mindray: 17 digits, ms without a dot
        ("20260124124738250+0800", utc(2026, 1, 24, 4, 47, 38) + 0.25),
        ("20150615145531.000", utc(2015, 6, 15, 14, 55, 31)),
        ("20150615145531.5-0130", utc(2015, 6, 15, 16, 25, 31) + 0.5),
        ("19910120082615.471+0100", utc(1991, 1, 20, 7, 26, 15) + 0.471),
        ("201301221341", utc(2013, 1, 22, 13, 41)),
        ("20130122", utc(2013, 1, 22)),
        ("20130122134100^S", utc(2013, 1, 22, 13, 41)),  # v2.3 TS with a precision component
    ],
)
def test_timestamps_in_every_device_form(text: str, expected: float) -> None:
    assert parse_ts(text) == pytest.approx(expected, abs=1e-6)


def test_timestamp_without_offset_is_the_senders_local_time() -> None:
    # 2013-01-22 13:41 in Berlin (winter, +0100) is 12:41 UTC
    assert parse_ts("20130122134100", ZoneInfo("Europe/Berlin")) == utc(2013, 1, 22, 12, 41)


@pytest.mark.parametrize(
    "text", ["", "2013", "garbage", "201301221", "20131322000000", "20130122134100+2500", "20130230"]
)
def test_bad_timestamps_are_refused(text: str) -> None:
    if text == "2013":
        assert parse_ts(text) == utc(2013, 1, 1)  # year precision is valid HL7
        return
    with pytest.raises(TimestampError):
        parse_ts(text)


def test_decode_honours_msh18_and_falls_back_to_latin1() -> None:
    name = "Lófasz"
    utf8 = f"MSH|^~\\&|A|B|||20250101||ORU^R01|1|P|2.6||||||UNICODE UTF-8\rPID|||1||{name}\r".encode()
    assert decode(utf8) == (utf8.decode("utf-8"), "utf-8")
    latin = f"MSH|^~\\&|A|B|||20250101||ORU^R01|1|P|2.4||||||8859/1\rPID|||1||{name}\r".encode("latin-1")
    assert decode(latin)[1] == "latin-1" and name in decode(latin)[0]
    lying = f"MSH|^~\\&|A|B|||20250101||ORU^R01|1|P|2.6||||||UNICODE UTF-8\rPID|||1||{name}\r".encode("latin-1")
    text, codec = decode(lying)  # says UTF-8, is Latin-1: read, not dropped
    assert codec == "latin-1" and name in text
    assert decode(b"\xff\xfe\x00garbage")[1] == "latin-1"


def test_segments_split_on_cr_lf_and_crlf_with_msh_numbering() -> None:
    msg = parse("MSH|^~\\&|APP|FAC|||20250101||ORU^R01|42|P|2.6\nPID|||1\r\nOBX|1|NM|x\r")
    assert [s[0] for s in msg.segments] == ["MSH", "PID", "OBX"]
    assert msg.msh(3) == "APP" and msg.msh(9) == "ORU^R01" and msg.msh(10) == "42" and msg.msh(2) == "^~\\&"


def test_custom_encoding_characters_are_honoured() -> None:
    msg = parse("MSH#:!?$#APP#FAC####ORU:R01#7#P#2.6\rOBX#1#NM#150456:MDC_PULS_OXIM_SAT_O2:MDC##97")
    obx = msg.first("OBX")
    assert obx is not None and msg.component(obx[3], 2) == "MDC_PULS_OXIM_SAT_O2" and obx[5] == "97"


@pytest.mark.parametrize("text", ["", "PID|||1", "MSH", "MSH|^^~\\&|x", "MSHA^~\\&|"])
def test_not_a_message(text: str) -> None:
    with pytest.raises(HL7Error):
        parse(text)


def test_escape_round_trip() -> None:
    text = "a|b^c~d\\e&f"
    assert unescape(escape(text)) == text
    assert unescape("\\X4C6F\\ok") == "Lo" + "ok"
