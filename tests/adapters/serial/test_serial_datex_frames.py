"""Datex S/5 Computer Interface frames built by hand from the record description.

Vectors are written out byte by byte here (not produced by the code under
test): the request record, byte stuffing, the 8-bit checksum, a basic-class
physiological record at its documented offsets, and the invalid markers.
"""

from __future__ import annotations

import struct

from adapters.serial.datex import frame, parse_record, stuff, transmission_request, unstuff
from adapters.serial.datex.emulator import DatexEmulator, basic_block, phdb_record
from adapters.serial.protocol import make_decoder
from monitor.model import Quality, Reading, Vital

# Request: r_len 49, r_nbr 0, DRI level 9, plug 0, time 0, reserved, maintype 0 (PHDB),
# subrecord 0 = (offset 0, type 0 "request"), seven (0, 0xFF) end-of-list descriptors,
# then displayed values (1), every 5 s, basic class (0), reserved. Checksum: 0x31+9+7*0xFF+1+5 = 0x739 -> 0x39.
REQUEST_5S_LEVEL9 = bytes.fromhex("7e31000009000000000000000000000000000000" + "0000ff" * 7 + "010500000000000000397e")


def test_transmission_request_matches_the_hand_built_frame() -> None:
    assert transmission_request(5, dri_level=9) == REQUEST_5S_LEVEL9
    assert len(unstuff(REQUEST_5S_LEVEL9[1:-1])) == 49 + 1


def test_stuffing_escapes_flag_and_escape_bytes_and_round_trips() -> None:
    assert stuff(b"\x01\x7e\x02\x7d\x03") == b"\x01\x7d\x5e\x02\x7d\x5d\x03"
    assert unstuff(b"\x01\x7d\x5e\x02\x7d\x5d\x03") == b"\x01\x7e\x02\x7d\x03"
    # A checksum that is itself 0x7E is stuffed too: 0x40 + 0x3E = 0x7E.
    assert frame(b"\x40\x3e") == b"\x7e\x40\x3e\x7d\x5e\x7e"


def _hand_record(hr: int, sys_: int, dia: int, mean: int, spo2: int, pr: int, t: int = 1_700_000_000) -> bytes:
    block = bytearray(270)
    for off, value in ((6, hr), (78, sys_), (80, dia), (82, mean), (124, spo2), (126, pr)):
        struct.pack_into("<h", block, off, value)
    sub = struct.pack("<I", t) + bytes(block) + b"\x00\x00" + struct.pack("<H", 0x0001)  # class basic, displayed
    head = struct.pack("<hBBHIBBHh", 40 + 278, 1, 9, 0, t, 0, 0, 0, 0) + struct.pack("<hB", 0, 1)
    head += struct.pack("<hB", 0, 0xFF) * 7
    return head + sub


def test_hand_built_physiological_record_decodes_to_its_values() -> None:
    record = _hand_record(72, 12150, 7525, 9200, 9750, 71)
    [values] = parse_record(record)
    assert (values.hr, values.nibp_sys, values.nibp_dia, values.nibp_mean, values.spo2, values.pr) == (
        72,
        12150,
        7525,
        9200,
        9750,
        71,
    )
    decoder = make_decoder("datex-s5", "serial:dx", "chair-5")
    items = decoder.feed(frame(record), 10.0)
    got = {(i.vital, i.value, i.quality) for i in items if isinstance(i, Reading)}
    assert got == {
        (Vital.HR, 72.0, Quality.VALID),
        (Vital.SPO2, 97.5, Quality.VALID),
        (Vital.PR, 71.0, Quality.VALID),
        # First cuff result after connecting: its age is unknown.
        (Vital.SBP, 121.5, Quality.QUESTIONABLE),
        (Vital.DBP, 75.25, Quality.QUESTIONABLE),
        (Vital.MAP, 92.0, Quality.QUESTIONABLE),
    }


def test_invalid_markers_produce_no_reading() -> None:
    decoder = make_decoder("datex-s5", "serial:dx", None)
    # HR under range, NIBP no data, SpO2 not updated, PR over range.
    record = _hand_record(-32764, -32767, -32767, -32767, -32766, -32763)
    assert decoder.feed(frame(record), 1.0) == []
    assert decoder.stats.frames_ok == 1
    # A later cuff result is then a fresh measurement: valid.
    items = decoder.feed(frame(_hand_record(70, 13000, 8000, 9700, 9800, 70)), 2.0)
    assert {(i.vital, i.quality) for i in items if isinstance(i, Reading) and i.vital is Vital.SBP} == {
        (Vital.SBP, Quality.VALID)
    }


def test_emulator_record_equals_the_hand_built_one() -> None:
    """The emulator's encoder (its own group table) agrees with the documented offsets."""
    t = 1_700_000_000
    ours = phdb_record(basic_block(72, (121.5, 75.25, 92), 97.5, 71), t, record_no=1, dri_level=9)
    [a] = parse_record(ours)
    [b] = parse_record(_hand_record(72, 12150, 7525, 9200, 9750, 71, t))
    assert a == b


def test_garbage_and_bad_checksum_are_skipped_counted_and_the_next_frame_decoded() -> None:
    decoder = make_decoder("datex-s5", "serial:dx", None)
    good = frame(_hand_record(65, -32767, -32767, -32767, 9900, 66))
    bad = bytearray(frame(_hand_record(99, -32767, -32767, -32767, 9000, 99)))
    bad[-2] ^= 0x01  # corrupt the checksum byte
    stream = b"\x13\x37 line noise \x7d" + bytes(bad) + b"\x00\xffjunk" + good
    items = decoder.feed(stream, 5.0)
    assert [(i.vital, i.value) for i in items if isinstance(i, Reading)] == [
        (Vital.HR, 65.0),
        (Vital.SPO2, 99.0),
        (Vital.PR, 66.0),
    ]
    assert decoder.stats.checksum_errors == 1
    assert decoder.stats.bytes_skipped > len(bad)
    assert decoder.stats.frames_ok == 1


def test_request_round_trips_into_the_emulator_and_is_repeated() -> None:
    decoder = make_decoder("datex-s5", "serial:dx", None, {"interval_s": 10, "rerequest_s": 60})
    emulator = DatexEmulator()
    assert emulator.emit({Vital.HR: 70.0}, 0.0) == b""  # silent until asked
    first = decoder.poll(0.0)
    assert first.count(b"\x7e") == 6  # three requests (DRI levels 2005, 2003, 2001), two flags each
    emulator.receive(first[:7])
    emulator.receive(first[7:])  # split anywhere
    assert emulator.requests == 3 and emulator.interval_s == 10
    assert decoder.poll(5.0) == b""
    decoder.feed(emulator.emit({Vital.HR: 70.0}, 0.0), 5.0)
    assert decoder.poll(15.0) == b""
    # Silent for more than two intervals: asked again before the periodic re-request is due.
    assert decoder.poll(26.5) != b""
    assert decoder.poll(27.0) == b""
    assert decoder.poll(26.5 + 60) != b""
