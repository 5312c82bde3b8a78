"""Reading recorded traces (CSV or Parquet) into the wide frame the replay takes.

Wide format: a ``ts`` column (seconds, or ISO 8601 date-times) and one column
per vital key; an empty cell means no reading. ``rename`` maps source column
names to vital keys (``--map HR_bpm=hr``). The long format of the PhysioNet
Challenge 2012 files (``Time,Parameter,Value``, ``HH:MM``, -1 = missing) is
recognised and pivoted; the result is labelled by its real times, not
interpolated.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitor.model import Vital
from monitor.validate import PLAUSIBLE, implausible

VITAL_KEYS = frozenset(v.value for v in Vital)


class TraceError(ValueError):
    """A trace file that cannot be replayed, with the reason."""


def _seconds(col: pd.Series) -> npt.NDArray[np.float64]:
    numeric = col if pd.api.types.is_numeric_dtype(col) else pd.to_numeric(col, errors="coerce")
    if numeric.notna().all() or pd.api.types.is_numeric_dtype(col):
        return np.asarray(numeric, dtype=np.float64)
    try:
        stamps = pd.to_datetime(col, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise TraceError(f"ts must be seconds or ISO 8601 date-times: {exc}") from None
    return np.asarray((stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), dtype=np.float64)


def _text_column(name: str) -> bool:
    """Quality columns, and the patient and phase columns of ``ivmon simulate --to csv`` traces."""
    return name in ("patient", "phase") or (name.endswith("_quality") and name[: -len("_quality")] in VITAL_KEYS)


def _long_to_wide(frame: pd.DataFrame) -> pd.DataFrame:
    hhmm = frame["Time"].astype(str).str.split(":", expand=True)
    seconds = hhmm[0].astype(float) * 3600 + hhmm[1].astype(float) * 60
    values = pd.to_numeric(frame["Value"], errors="coerce").where(lambda v: v != -1)
    long = pd.DataFrame({"ts": seconds, "p": frame["Parameter"].astype(str), "v": values})
    wide = long.pivot_table(index="ts", columns="p", values="v", aggfunc="last")
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def load_trace(path: Path | str, rename: Mapping[str, str] | None = None, *, plausibility: bool = True) -> pd.DataFrame:
    """A trace as a frame with float ``ts`` seconds and float vital columns (NaN = no reading).

    With ``plausibility`` (the default), values outside ``monitor.validate.PLAUSIBLE``
    get quality ``invalid`` in a ``<vital>_quality`` column, as the live pipeline
    would mark them, so the replay does not judge a pulse of 277 from a loose probe.
    """
    path = Path(path)
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise TraceError(f"cannot read trace {path}: {exc}") from None
    if {"Time", "Parameter", "Value"} <= set(frame.columns):
        frame = _long_to_wide(frame)
    if rename:
        missing = sorted(set(rename) - set(frame.columns))
        if missing:
            raise TraceError(f"{path}: --map names column(s) not in the file: {', '.join(missing)}")
        frame = frame.rename(columns=dict(rename))
    if "ts" not in frame.columns:
        raise TraceError(f"{path}: no ts column (columns: {', '.join(map(str, frame.columns))})")
    out = {"ts": _seconds(frame["ts"])}
    if np.isnan(out["ts"]).any():
        raise TraceError(f"{path}: empty ts cell(s)")
    for col in frame.columns:
        if col in VITAL_KEYS:
            values = pd.to_numeric(frame[col], errors="coerce")
            bad = values.isna() & frame[col].notna() & (frame[col].astype(str).str.strip() != "")
            if bad.any():
                raise TraceError(f"{path}: column {col} has non-numeric value {frame[col][bad].iloc[0]!r}")
            out[col] = values.to_numpy(dtype=np.float64)
        elif _text_column(str(col)):
            out[col] = frame[col].astype(str).to_numpy()
    if plausibility:
        for vital in PLAUSIBLE:
            qcol = f"{vital.value}_quality"
            if vital.value in out and qcol not in out:
                bad = implausible(vital, out[vital.value])
                if bad.any():
                    out[qcol] = np.where(bad, "invalid", "valid")
    if len(set(out) - {"ts", "patient", "phase"}) == 0:
        raise TraceError(f"{path}: no vital columns (expected some of {', '.join(sorted(VITAL_KEYS))}; use --map)")
    return pd.DataFrame(out)


def select_patient(frame: pd.DataFrame, patient: str | None) -> pd.DataFrame:
    """One patient's rows of a multi-patient trace (a ``patient`` column); the frame as is without one."""
    if "patient" not in frame.columns:
        if patient is not None:
            raise TraceError("--patient given but the trace has no patient column")
        return frame
    ids = list(dict.fromkeys(frame["patient"]))
    if patient is None:
        if len(ids) > 1:
            shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
            raise TraceError(f"the trace holds {len(ids)} patients ({shown}): choose one with --patient")
        return frame
    if patient not in ids:
        raise TraceError(f"no patient {patient!r} in the trace")
    return frame[frame["patient"] == patient].reset_index(drop=True)


def split_patients(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Every patient's rows of a trace, in order of first appearance (one unnamed patient without the column)."""
    if "patient" not in frame.columns:
        return [("", frame)]
    return [
        (str(patient), rows.reset_index(drop=True))
        for patient, rows in frame.groupby("patient", sort=False, dropna=False)
    ]


def phases_from_column(frame: pd.DataFrame) -> list[tuple[str, float]] | None:
    """Phase changes from a ``phase`` column (each row's phase at its ``ts``), or None without one."""
    if "phase" not in frame.columns or len(frame) == 0:
        return None
    ordered = frame.sort_values("ts", kind="stable")
    phase = ordered["phase"].to_numpy()
    ts = ordered["ts"].to_numpy(dtype=np.float64)
    change = np.ones(phase.size, dtype=bool)
    change[1:] = phase[1:] != phase[:-1]
    return [(str(p), float(t)) for p, t in zip(phase[change], ts[change], strict=True)]
