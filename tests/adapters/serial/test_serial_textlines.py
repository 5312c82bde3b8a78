"""The configurable line parser and its Nonin and Nellcor presets."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.serial.protocol import make_decoder
from monitor.model import DeviceState, DeviceStatus, Quality, Reading, Vital


def readings(items: Sequence[object]) -> list[tuple[Vital, float, Quality]]:
    return [(i.vital, i.value, i.quality) for i in items if isinstance(i, Reading)]


def test_nonin_preset_reads_spo2_and_pulse_rate_and_dashes_as_absent() -> None:
    d = make_decoder("text-lines", "serial:n", "chair-1", {"preset": "nonin"})
    items = d.feed(b"SPO2=097 HR=072\r\nSPO2=--- HR=---\r\n12:00:01 SPO2=096 HR=070 F*\r\n", 1.0)
    assert readings(items) == [
        (Vital.SPO2, 97.0, Quality.VALID),
        (Vital.PR, 72.0, Quality.VALID),
        (Vital.SPO2, 96.0, Quality.VALID),
        (Vital.PR, 70.0, Quality.VALID),
    ]
    assert d.stats.frames_ok == 3


def test_nellcor_preset_columns_headers_and_status_codes() -> None:
    d = make_decoder("text-lines", "serial:nel", "chair-2", {"preset": "nellcor-n560"})
    text = (
        "N-560 VERSION 1.61.00 CRC:XXXX SpO2 Limit: 95-100% PR Limit: 59-148BPM\r\n"
        "ADULT 25SAT-S\r\n"
        "TIME                 %SpO2   BPM     PA    Status\r\n"
        "07-Jan-04 11:24:54   100     102      36\r\n"
        "07-Jan-04 11:24:56    98     101      35    MO             AO\r\n"
        "07-Jan-04 11:24:58   ---     ---     ---    SO\r\n"
        "07-Jan-04 11:25:00    97      99      30\r\n"
    )
    items = d.feed(text.encode(), 3.0)
    assert readings(items) == [
        (Vital.SPO2, 100.0, Quality.VALID),
        (Vital.PR, 102.0, Quality.VALID),
        (Vital.SPO2, 98.0, Quality.QUESTIONABLE),
        (Vital.PR, 101.0, Quality.QUESTIONABLE),  # motion
        (Vital.SPO2, 97.0, Quality.VALID),
        (Vital.PR, 99.0, Quality.VALID),
    ]
    assert [i.state for i in items if isinstance(i, DeviceStatus)] == [
        DeviceState.INTERFERENCE,
        DeviceState.SENSOR_OFF,
        DeviceState.OK,
    ]
    assert d.stats.bytes_skipped == 0  # headers are recognised, not counted as garbage
    assert d.stats.frames_ok == 4


def test_custom_columns_with_separator_and_null_tokens() -> None:
    d = make_decoder(
        "text-lines",
        "serial:c",
        None,
        {
            "mode": "columns",
            "separator": ",",
            "columns": ["", "hr", "spo2", "sbp", "dbp", "map"],
            "null_tokens": ["NA"],
        },
    )
    items = d.feed(b"t1,70,98,NA,NA,NA\nt2,71,97,120,80,93\nbroken line\n", 1.0)
    assert readings(items) == [
        (Vital.HR, 70.0, Quality.VALID),
        (Vital.SPO2, 98.0, Quality.VALID),
        (Vital.HR, 71.0, Quality.VALID),
        (Vital.SPO2, 97.0, Quality.VALID),
        (Vital.SBP, 120.0, Quality.VALID),
        (Vital.DBP, 80.0, Quality.VALID),
        (Vital.MAP, 93.0, Quality.VALID),
    ]
    assert d.stats.bytes_skipped == len(b"broken line\n")


def test_a_malformed_number_is_counted_not_guessed() -> None:
    d = make_decoder("text-lines", "serial:n", None, {"preset": "nonin"})
    assert d.feed(b"SPO2=9x7 HR=072\r\n", 1.0) == []
    assert d.stats.parse_errors == 1


def test_overlong_garbage_is_dropped_and_the_stream_resyncs() -> None:
    d = make_decoder("text-lines", "serial:n", None, {"preset": "nonin"})
    items = d.feed(b"\xaa" * 5000 + b"tail of noise\r\nSPO2=099 HR=060\r\n", 1.0)
    assert readings(items) == [(Vital.SPO2, 99.0, Quality.VALID), (Vital.PR, 60.0, Quality.VALID)]
    assert d.stats.bytes_skipped >= 5000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "nope"}, "unknown text-lines preset"),
        ({"mode": "kv", "keys": {"X": "temperature"}}, "temperature"),
        ({"mode": "csv", "keys": {"X": "hr"}}, "mode"),
        ({"preset": "nonin", "colour": "red"}, "unknown text-lines option"),
        ({"mode": "columns"}, "at least one vital"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_decoder("text-lines", "serial:n", None, options)
