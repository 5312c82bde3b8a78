"""``--to csv:FILE``: simulated sessions as CSV (``-`` = standard output).

Columns ``patient,ts,phase,hr,pr,spo2,sbp,dbp,map``; ``ts`` in seconds from
the patient's session start; an empty cell = no reading at that second;
whole numbers without ``.0``. Two ways in, same bytes out: ``write_sessions``
(whole traces, written by pyarrow's C++ CSV writer: the fast path the command
uses) and the ``Target`` methods (one patient-second at a time).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from monitor.model import Vital
from simulators.physiology import PHASES, VITAL_COLUMNS, SessionTrace
from simulators.targets import register_target

COLUMNS: tuple[str, ...] = ("patient", "ts", "phase", *VITAL_COLUMNS)
HEADER = ",".join(COLUMNS) + "\n"
_VITALS: tuple[Vital, ...] = tuple(Vital(c) for c in VITAL_COLUMNS)
_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")
#: Traces per pyarrow table: bounds memory for large ``--patients``.
_CHUNK = 64


def format_number(value: float | None) -> str:
    """An empty cell for no value; whole numbers without ``.0``."""
    if value is None or value != value:  # NaN
        return ""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class CsvTarget:
    def __init__(self, path: str) -> None:
        self.path = path
        self._out: BinaryIO | None = None
        self._start: dict[int, float] = {}
        self.rows = 0

    # -- the file ---------------------------------------------------------------
    def _open(self) -> BinaryIO:
        out = sys.stdout.buffer if self.path == "-" else open(self.path, "wb")  # noqa: SIM115 (closed in _close)
        out.write(HEADER.encode())
        self._out = out
        return out

    def _close(self) -> None:
        if self._out is None:
            return
        if self._out is sys.stdout.buffer:
            self._out.flush()
        else:
            self._out.close()
        self._out = None

    # -- fast path: whole sessions ----------------------------------------------
    def write_sessions(self, traces: Iterable[SessionTrace]) -> int:
        """Write the traces (each ending with its discharge row); returns the rows written."""
        out = self._open()
        try:
            chunk: list[SessionTrace] = []
            for trace in traces:
                chunk.append(trace)
                if len(chunk) == _CHUNK:
                    self._write_chunk(out, chunk)
                    chunk = []
            if chunk:
                self._write_chunk(out, chunk)
        finally:
            self._close()
        return self.rows

    def _write_chunk(self, out: BinaryIO, traces: list[SessionTrace]) -> None:
        frames = [t.frame for t in traces]
        sizes = [len(f) for f in frames]
        columns: dict[str, pa.Array] = {
            "patient": pa.array(np.repeat([t.patient for t in traces], sizes).astype(np.int64)),
            "ts": pa.array(np.concatenate([f["ts"].to_numpy() for f in frames])),
            "phase": pa.DictionaryArray.from_arrays(
                pa.array(np.concatenate([f["phase"].cat.codes.to_numpy() for f in frames])),
                pa.array([p.value for p in PHASES]),
            ).cast(pa.string()),
        }
        for name in VITAL_COLUMNS:
            values = np.concatenate([f[name].to_numpy() for f in frames])
            missing = np.isnan(values)
            # The simulator shows whole numbers only; as int64 they print without ".0".
            columns[name] = pa.array(np.where(missing, 0.0, values).astype(np.int64), mask=missing)
        pacsv.write_csv(pa.table(columns), out, _OPTIONS)
        self.rows += sum(sizes)

    # -- Target: one patient-second at a time -----------------------------------
    async def open(self) -> None:
        self._open()

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        """Append one row; the first ``ts`` sent for a patient is its session start (second 0)."""
        assert self._out is not None, "open() first"
        offset = round(ts - self._start.setdefault(patient, ts), 6)
        cells = [str(patient), format_number(offset), phase, *(format_number(vitals.get(v)) for v in _VITALS)]
        self._out.write((",".join(cells) + "\n").encode())
        self.rows += 1

    async def close(self) -> None:
        self._close()


@register_target("csv")
def _factory(to: str, args: argparse.Namespace) -> CsvTarget:
    path = to.split(":", 1)[1] if ":" in to else ""
    if not path:
        raise ValueError("csv target needs a file: --to csv:FILE (or csv:- for standard output)")
    return CsvTarget(path)
