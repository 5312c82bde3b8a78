"""Configuring a serial port: the ``serial:`` spec, ``[[serial]]`` entries, ``ivmon serial --list``."""

from __future__ import annotations

import argparse
import io

import pytest

import adapters.base
from adapters.serial.cli import add_serial_arguments, serial_command
from adapters.serial.transport import SerialTransport, parse_spec
from monitor.config import SerialPort


def test_spec_splits_ivmon_keys_from_the_pyserial_url() -> None:
    assert parse_spec("serial:/dev/ttyUSB0?protocol=masimo-ascii1&bed=chair-3") == (
        "/dev/ttyUSB0",
        {"protocol": "masimo-ascii1", "bed": "chair-3"},
    )
    port, ours = parse_spec("serial:spy:///dev/ttyUSB1?file=/tmp/log.txt&protocol=datex-s5&bed=b")
    assert port == "spy:///dev/ttyUSB1?file=%2Ftmp%2Flog.txt"
    assert ours == {"protocol": "datex-s5", "bed": "b"}
    with pytest.raises(ValueError, match="no port"):
        parse_spec("serial:?protocol=x")


def test_registered_serial_scheme_builds_a_transport_with_protocol_line_settings() -> None:
    factory = adapters.base._registry["serial"]
    t = factory("serial:socket://127.0.0.1:7000?protocol=datex-s5&bed=chair-9&opt.interval_s=10", {})
    assert isinstance(t, SerialTransport)
    assert (t.port, t.protocol, t.bed) == ("socket://127.0.0.1:7000", "datex-s5", "chair-9")
    assert t.line.describe() == "19200 8E1, RTS/CTS"
    assert t.decoder.silence_s == 30.0  # 3 x the requested interval
    assert t.health()["connected"] is False
    with pytest.raises(ValueError, match="protocol"):
        factory("serial:/dev/ttyUSB0?bed=x", {})
    with pytest.raises(ValueError, match="unknown serial protocol"):
        factory("serial:/dev/ttyUSB0?protocol=philips-mib", {})


def test_config_entry_overrides_line_settings_and_passes_options() -> None:
    cfg = SerialPort(
        port="/dev/ttyUSB2",
        protocol="text-lines",
        bed="chair-2",
        baudrate=4800,
        stopbits=2,
        options={"preset": "nellcor-n560"},
    )
    t = SerialTransport.from_config(cfg)
    assert t.line.describe() == "4800 8N2"
    assert t.bed == "chair-2" and t.source == "serial:/dev/ttyUSB2"
    with pytest.raises(ValueError, match="unknown text-lines option"):
        SerialTransport.from_config(SerialPort(port="x", protocol="text-lines", bed="b", options={"bogus": 1}))


def test_serial_list_names_every_protocol_with_its_line_settings() -> None:
    parser = argparse.ArgumentParser()
    add_serial_arguments(parser)
    out = io.StringIO()
    assert serial_command(parser.parse_args(["--list"]), out) == 0
    text = out.getvalue()
    for name, line in (
        ("masimo-ascii1", "9600 8N1"),
        ("text-lines", "9600 8N1"),
        ("ivy-ansarb", "9600 8N1"),
        ("datex-s5", "19200 8E1, RTS/CTS"),
    ):
        assert name in text and line in text
    assert "nellcor-n560" in text and "nonin" in text
