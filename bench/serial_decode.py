"""Decoder throughput per serial protocol (bytes/s and frames/s), against what a device can send.

A serial line at 9600 baud carries about 960 bytes/s and at 19200 about 1920: the
ratio printed is how many such ports one core could decode.
Run: python bench/serial_decode.py
"""

from __future__ import annotations

import time

from adapters.serial.emulator import make_emulator
from adapters.serial.protocol import load_protocols, make_decoder
from monitor.model import Vital

CASES: list[tuple[str, str, dict[str, object]]] = [
    ("masimo-ascii1", "masimo-ascii1", {}),
    ("text-lines:nonin", "text-lines", {"preset": "nonin"}),
    ("text-lines:nellcor-n560", "text-lines", {"preset": "nellcor-n560"}),
    ("ivy-ansarb", "ivy-ansarb", {}),
    ("datex-s5", "datex-s5", {"interval_s": 1}),
]


def main() -> None:
    print(f"{'protocol':<26}{'MB/s':>8}{'frames/s':>11}{'line B/s':>10}{'ports/core':>12}")
    for emulator_name, protocol, options in CASES:
        emulator = make_emulator(emulator_name)
        decoder = make_decoder(protocol, "serial:bench", "chair-1", options)
        emulator.receive(decoder.poll(0.0))
        frames = [
            emulator.emit({Vital.HR: 70.0 + n % 9, Vital.PR: 71.0, Vital.SPO2: 97.0}, 1_700_000_000.0 + n)
            for n in range(2000)
        ]
        data = b"".join(frames)
        chunks = [data[i : i + 64] for i in range(0, len(data), 64)]  # what a port read typically returns
        start = time.perf_counter()
        for chunk in chunks:
            decoder.feed(chunk, 0.0)
        elapsed = time.perf_counter() - start
        line = load_protocols()[protocol].line
        line_bytes = line.baudrate / 10
        rate = len(data) / elapsed
        print(
            f"{emulator_name:<26}{rate / 1e6:>8.2f}{decoder.stats.frames_ok / elapsed:>11.0f}"
            f"{line_bytes:>10.0f}{rate / line_bytes:>12.0f}"
        )


if __name__ == "__main__":
    main()
