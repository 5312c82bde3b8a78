"""``ivmon serial``: what protocols ivmon speaks, and which serial ports this machine has."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from adapters.serial.protocol import load_protocols


def add_serial_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true", help="list the serial protocols (names for `protocol = ...`)")
    parser.add_argument("--ports", action="store_true", help="list the serial ports found on this machine")


def serial_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not (args.list or args.ports):
        args.list = True
    if args.list:
        protocols = load_protocols()
        width = max(len(name) for name in protocols)
        out.write("protocols (line settings are defaults; override with baudrate/bytesize/parity/stopbits):\n")
        for name in sorted(protocols):
            info = protocols[name]
            out.write(f"  {name:<{width}}  {info.line.describe():<22} {info.description}\n")
    if args.ports:
        from serial.tools import list_ports

        ports = sorted(list_ports.comports(), key=lambda p: p.device)
        if not ports:
            out.write("no serial ports found\n")
        for port in ports:
            ids = f" [{port.hwid}]" if port.hwid and port.hwid != "n/a" else ""
            out.write(f"  {port.device}  {port.description}{ids}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivmon serial")
    add_serial_arguments(parser)
    return serial_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
