"""Recorded device output decoded to the values it carries, whole and in random chunks.

Recordings (adapters/serial/<device>/fixtures; origins in tests/fixtures/SOURCES.md): the real Ivy
450C ANSAR-B bytes from OpenICE (mdpnp/mdpnp, BSD-2-Clause); Masimo Rad-8 ASCII 1 lines and a table
of Datex AS/3 numerics written by the project in the devices' documented formats (the real captures
they replace carry no licence that allows redistribution).
"""

from __future__ import annotations

import csv
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.serial.datex.emulator import DatexEmulator
from adapters.serial.ivy import IvyFramer, parse_text
from adapters.serial.protocol import DecoderStats, make_decoder
from monitor.model import DeviceAlarm, DeviceState, DeviceStatus, IngestItem, Quality, Reading, Vital
from tests.fixtures import SERIAL_FIXTURES

IVY = SERIAL_FIXTURES["ivy"] / "ivy450c_ansarB_raw_serial__mdpnp_Ivy450C.1.data"
MASIMO = SERIAL_FIXTURES["masimo"] / "ivmon_masimo_ascii1_5s.txt"
DATEX_CSV = SERIAL_FIXTURES["datex"] / "ivmon_datex_numerics_13x5s.csv"


def summary(items: list[IngestItem]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, Reading):
            out.append(("r", item.vital, item.value, item.quality, item.ts))
        elif isinstance(item, DeviceStatus):
            out.append(("s", item.state, item.vital, item.ts))
        else:
            out.append(("a", item.message, item.active, item.ts))
    return out


def feed_chunks(
    protocol: str, data: bytes, cuts: list[int], options: dict[str, object] | None = None
) -> tuple[list[IngestItem], DecoderStats]:
    decoder = make_decoder(protocol, "serial:test", "chair-1", dict(options or {}))
    items: list[IngestItem] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        items.extend(decoder.feed(data[a:b], 100.0))  # one arrival time: the chunking must not matter
    return items, decoder.stats


# --- Ivy 450C ---------------------------------------------------------------------------------------


def test_ivy_every_message_carries_the_simulator_values() -> None:
    data = IVY.read_bytes()
    stats = DecoderStats()
    texts = IvyFramer(stats).feed(data)
    assert len(texts) == 27  # as OpenICE's own test expects
    for text in texts:
        msg = parse_text(text)
        assert (msg.hr, msg.spo2, msg.pr) == (80, 100, 80)
        assert msg.nibp == (121, 75, 92)
        assert msg.nibp_pulse == 80
        assert msg.rr == 35
        assert msg.alarms[Vital.RR] == "APNEA: 20 SEC"
    # The file starts in the middle of a message: that tail is skipped and counted.
    assert stats.bytes_skipped == data.index(b"\xffANSAR-B ")


def test_ivy_stream_yields_readings_one_nibp_and_the_device_alarm() -> None:
    items, stats = feed_chunks("ivy-ansarb", IVY.read_bytes(), [])
    readings = [i for i in items if isinstance(i, Reading)]
    by_vital: dict[Vital, list[Reading]] = {}
    for r in readings:
        by_vital.setdefault(r.vital, []).append(r)
    assert [r.value for r in by_vital[Vital.HR]] == [80.0] * 27
    assert [r.value for r in by_vital[Vital.SPO2]] == [100.0] * 27
    assert [r.value for r in by_vital[Vital.PR]] == [80.0] * 27
    # One cuff measurement repeated in every message -> one reading each; its age is unknown
    # (it was on screen before we connected), so it is not judged as current.
    assert [(r.value, r.quality) for r in by_vital[Vital.SBP]] == [(121.0, Quality.QUESTIONABLE)]
    assert [r.value for r in by_vital[Vital.DBP]] == [75.0]
    assert [r.value for r in by_vital[Vital.MAP]] == [92.0]
    assert all(r.bed == "chair-1" and r.source == "serial:test" and r.unit for r in readings)
    alarms = [i for i in items if isinstance(i, DeviceAlarm)]
    assert [(a.message, a.vital, a.priority, a.active) for a in alarms] == [("APNEA: 20 SEC", Vital.RR, "high", True)]
    assert stats.frames_ok == 27 and stats.checksum_errors == 0 and stats.parse_errors == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=200))
def test_ivy_chunking_does_not_change_the_result(cuts: list[int]) -> None:
    data = IVY.read_bytes()
    whole, whole_stats = feed_chunks("ivy-ansarb", data, [])
    chunked, chunked_stats = feed_chunks("ivy-ansarb", data, cuts)
    assert summary(chunked) == summary(whole)
    assert chunked_stats == whole_stats


# --- Masimo Rad-8 -----------------------------------------------------------------------------------


def test_masimo_capture_decodes_spo2_and_pulse_rate() -> None:
    items, stats = feed_chunks("masimo-ascii1", MASIMO.read_bytes(), [])
    got = [(i.vital, i.value, i.quality) for i in items if isinstance(i, Reading)]
    assert got == [
        (Vital.SPO2, 97.0, Quality.VALID),
        (Vital.PR, 72.0, Quality.VALID),
        (Vital.SPO2, 97.0, Quality.VALID),
        (Vital.PR, 71.0, Quality.VALID),
        (Vital.SPO2, 98.0, Quality.VALID),
        (Vital.PR, 71.0, Quality.VALID),
        (Vital.SPO2, 97.0, Quality.VALID),
        (Vital.PR, 73.0, Quality.VALID),
        (Vital.SPO2, 96.0, Quality.VALID),
        (Vital.PR, 74.0, Quality.VALID),
    ]
    assert not [i for i in items if not isinstance(i, Reading)]  # EXC=000800 is the normal state
    assert stats.frames_ok == 5 and stats.bytes_skipped == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=80))
def test_masimo_chunking_does_not_change_the_result(cuts: list[int]) -> None:
    data = MASIMO.read_bytes()
    assert summary(feed_chunks("masimo-ascii1", data, cuts)[0]) == summary(feed_chunks("masimo-ascii1", data, [])[0])


def test_masimo_exception_bits_become_states_and_quality() -> None:
    d = make_decoder("masimo-ascii1", "serial:m", "chair-2")
    line = "02/22/16 22:47:{s:02d} SN=0000056661 SPO2={spo2} BPM={bpm} PI=--.--% ALARM={alarm} EXC={exc}\r\n"
    seq = [
        ("098%", "097", "0000", "000800"),  # normal
        ("097%", "099", "0000", "000808"),  # searching: values questionable
        ("---%", "---", "0000", "000820"),  # sensor off patient: no values
        ("---%", "---", "0000", "000820"),  # repeated: no new event
        ("096%", "095", "0002", "000800"),  # back to normal; device SpO2-low alarm bit set
    ]
    events: list[list[tuple[object, ...]]] = []
    for n, (spo2, bpm, alarm, exc) in enumerate(seq):
        items = d.feed(line.format(s=n, spo2=spo2, bpm=bpm, alarm=alarm, exc=exc).encode(), float(n))
        events.append(
            [
                ("r", i.vital, i.value, i.quality)
                if isinstance(i, Reading)
                else ("s", i.state)
                if isinstance(i, DeviceStatus)
                else ("a", i.message, i.active)
                for i in items
            ]
        )
    assert events[0] == [("r", Vital.SPO2, 98.0, Quality.VALID), ("r", Vital.PR, 97.0, Quality.VALID)]
    assert events[1] == [
        ("s", DeviceState.SEARCHING),
        ("r", Vital.SPO2, 97.0, Quality.QUESTIONABLE),
        ("r", Vital.PR, 99.0, Quality.QUESTIONABLE),
    ]
    assert events[2] == [("s", DeviceState.SENSOR_OFF)]
    assert events[3] == []
    assert events[4] == [
        ("s", DeviceState.OK),
        ("r", Vital.SPO2, 96.0, Quality.VALID),
        ("r", Vital.PR, 95.0, Quality.VALID),
        ("a", "SpO2 low (device)", True),
    ]


def test_masimo_skips_and_counts_lines_that_are_not_ascii1() -> None:
    d = make_decoder("masimo-ascii1", "serial:m", None)
    noise = b"\x00\x13garbage at the wrong baud \xf0\xf1\r\n09/21/08 09:56:08 SpO2=000 PR=000 PI=00.00 EXC=820\r\n"
    good = b"02/22/16 22:47:45 SN=1 SPO2=095% BPM=088 PI=03.60% ALARM=0000 EXC=000800\r\n"
    items = d.feed(noise + good, 1.0)
    # The trend format ("SpO2=", "PR=") is not live ASCII 1 output and must not be taken for it.
    assert [(i.vital, i.value) for i in items if isinstance(i, Reading)] == [(Vital.SPO2, 95.0), (Vital.PR, 88.0)]
    assert d.stats.bytes_skipped > 40 and d.stats.frames_ok == 1


# --- Datex AS/3 (decoded numerics -> frames -> decoder) -----------------------------------------------


def test_datex_as3_numerics_round_trip_through_emulator_and_decoder() -> None:
    """A table of AS/3 numerics at 5 s (HR, SpO2, no cuff measurement '-'); encoding each row as the
    monitor sends it and decoding it again must give the same HR and SpO2, and no NIBP."""
    rows = list(csv.reader(DATEX_CSV.read_text(encoding="utf-8").splitlines()[1:]))
    assert len(rows) == 13
    emulator = DatexEmulator()
    decoder = make_decoder("datex-s5", "serial:datex", "chair-4")
    emulator.receive(decoder.poll(0.0))
    assert emulator.interval_s == 5
    stream = b""
    for n, row in enumerate(rows):
        hr, sbp, spo2 = row[1], row[2], row[3]
        assert sbp == "-"
        vitals = {Vital.HR: float(hr), Vital.SPO2: float(spo2)}
        stream += emulator.emit(vitals, 1463316656.0 + 5 * n)
    items = decoder.feed(stream, 1.0)
    got = [(i.vital, i.value) for i in items if isinstance(i, Reading)]
    expected: list[tuple[Vital, float]] = []
    for row in rows:
        expected += [(Vital.HR, float(row[1])), (Vital.SPO2, float(row[3]))]
    assert got == expected
    assert decoder.stats.frames_ok == 13 and decoder.stats.checksum_errors == 0


def _datex_stream() -> bytes:
    """Records whose values force byte stuffing (126 = 0x7E, 125 = 0x7D) and a stuffed checksum."""
    emulator = DatexEmulator()
    decoder = make_decoder("datex-s5", "serial:datex", None)
    emulator.receive(decoder.poll(0.0))
    stream = b"\x00\x7d noise before the first flag"
    for n, (hr, pr) in enumerate([(126, 125), (125, 126), (72, 70), (126, 126)]):
        stream += emulator.emit({Vital.HR: float(hr), Vital.PR: float(pr), Vital.SPO2: 97.0}, 1000.0 + 5 * n)
    assert stream.count(b"\x7d\x5e") >= 2 and stream.count(b"\x7d\x5d") >= 2
    return stream


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=120))
def test_datex_chunking_across_escapes_does_not_change_the_result(cuts: list[int]) -> None:
    data = _datex_stream()
    whole, whole_stats = feed_chunks("datex-s5", data, [])
    assert [(i.vital, i.value) for i in whole if isinstance(i, Reading) and i.vital is Vital.HR] == [
        (Vital.HR, 126.0),
        (Vital.HR, 125.0),
        (Vital.HR, 72.0),
        (Vital.HR, 126.0),
    ]
    chunked, chunked_stats = feed_chunks("datex-s5", data, cuts)
    assert summary(chunked) == summary(whole)
    assert chunked_stats == whole_stats


def test_ivy_truncated_message_and_stray_markers_are_dropped_and_counted() -> None:
    data = IVY.read_bytes()
    first = data.index(b"\xffANSAR-B ")
    second = data.index(b"\xffANSAR-B ", first + 1)
    message = data[first:second]  # one whole message, 0xFF ... 0xFE
    truncated = message[: len(message) - 60]  # cut inside its text lines: no 0xFE
    stream = b"\xff\xfe\xffANSAR-X junk" + truncated + message
    d = make_decoder("ivy-ansarb", "serial:ivy", None)
    items = d.feed(stream, 1.0)
    assert [i.value for i in items if isinstance(i, Reading) and i.vital is Vital.HR] == [80.0]
    assert d.stats.frames_ok == 1
    assert d.stats.bytes_skipped >= len(truncated)
