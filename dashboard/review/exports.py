"""Export tables of a session (readings, alarms, events) as CSV, Parquet or JSON.

Format decisions (documented for users in the API description):

* **Long layout, a ``unit`` column**: one row per stored reading
  (``time, epoch_s, vital, value, unit, quality, source``). Every stored
  reading appears exactly once with its own quality and source, which a wide
  ``hr_bpm`` layout could not hold without inventing a common time grid.
* **Times**: ``time`` is ISO 8601 in UTC with an explicit offset
  (``2026-11-25T14:03:07.250000+00:00``); ``epoch_s`` is the stored POSIX
  seconds, bit-for-bit (CSV writes the shortest repr that reads back to the
  same double; in Parquet ``time`` is ``timestamp[us, tz=UTC]``).
* **Values** are the stored values, unrounded; in Parquet the units are also
  in the file's key-value metadata (``ivmon.units``).
* Alarm tables carry the unit of their vital's values in ``unit``; event
  tables have no values.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from monitor.inert import inert_cell
from monitor.model import CANONICAL_UNIT, Alarm, Session

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "json": ("application/json", "json"),
}
UNITS: dict[str, str] = {v.value: u for v, u in CANONICAL_UNIT.items()}


def iso_times(epoch: Sequence[float] | np.ndarray | pd.Series) -> pd.Series:
    """ISO 8601 with offset (UTC), microseconds; vectorised."""
    stamps = utc_times(epoch)
    return pd.Series(stamps.strftime("%Y-%m-%dT%H:%M:%S.%f"), dtype="object") + "+00:00"


def utc_times(epoch: Sequence[float] | np.ndarray | pd.Series) -> pd.DatetimeIndex:
    micros = np.round(np.asarray(epoch, dtype=np.float64) * 1e6).astype("int64")
    return pd.to_datetime(micros, unit="us", utc=True)


def _iso_or_none(x: float | None) -> str | None:
    if x is None:
        return None
    return str(iso_times([x]).iloc[0])


def readings_table(readings: pd.DataFrame) -> pd.DataFrame:
    """Stored readings (ts, vital, value, unit, quality, source) -> the export layout."""
    return pd.DataFrame(
        {
            "time": utc_times(readings["ts"]),
            "epoch_s": readings["ts"].to_numpy(dtype=np.float64),
            "vital": readings["vital"].to_numpy(dtype=object),
            "value": readings["value"].to_numpy(dtype=np.float64),
            "unit": readings["unit"].to_numpy(dtype=object),
            "quality": readings["quality"].to_numpy(dtype=object),
            "source": readings["source"].to_numpy(dtype=object),
        }
    )


def alarms_table(alarms: Iterable[Alarm]) -> pd.DataFrame:
    rows = []
    for a in alarms:
        vital = a.vital.value if a.vital else None
        rows.append(
            {
                "id": a.id,
                "rule": a.rule_id,
                "kind": a.kind.value,
                "priority": a.priority.value,
                "vital": vital,
                "message": a.message,
                "started": a.started,
                "ended": a.ended,
                "duration_s": None if a.ended is None else a.ended - a.started,
                "worst": a.worst,
                "limit": a.limit,
                "unit": UNITS.get(vital or ""),
                "state": a.state.value,
                "acknowledged_by": a.acknowledged_by,
                "acknowledged_at": a.acknowledged_at,
                "time_to_ack_s": None if a.acknowledged_at is None else a.acknowledged_at - a.started,
                "escalated": a.escalated,
                "actionable": a.actionable,
                "rule_set_version": a.rule_set_version,
            }
        )
    columns = [
        "id",
        "rule",
        "kind",
        "priority",
        "vital",
        "message",
        "started",
        "ended",
        "duration_s",
        "worst",
        "limit",
        "unit",
        "state",
        "acknowledged_by",
        "acknowledged_at",
        "time_to_ack_s",
        "escalated",
        "actionable",
        "rule_set_version",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("started", "ended", "acknowledged_at"):
        frame[f"{col}_time"] = [_iso_or_none(x) if pd.notna(x) else None for x in frame[col]]
    return frame


def events_table(
    session: Session,
    notes: Iterable[dict[str, Any]],
    devices: Iterable[dict[str, Any]],
    alarm_events: Iterable[dict[str, Any]],
    alarms: Iterable[Alarm],
) -> pd.DataFrame:
    """The session's story in time order: phase changes, notes, device states, alarm transitions."""
    rules = {a.id: (a.rule_id, a.priority.value) for a in alarms}
    rows: list[dict[str, Any]] = []
    for ch in session.phases:
        rows.append({"epoch_s": ch.ts, "kind": "phase", "what": ch.phase.value, "user": ch.user, "detail": ""})
    for n in notes:
        rows.append(
            {
                "epoch_s": n["ts"],
                "kind": n.get("kind", "note"),
                "what": "note",
                "user": n.get("user"),
                "detail": n.get("text", ""),
            }
        )
    for d in devices:
        detail = " ".join(x for x in (d.get("vital") or "", d.get("detail") or "") if x)
        rows.append(
            {
                "epoch_s": d["ts"],
                "kind": "device",
                "what": d["state"],
                "user": None,
                "detail": f"{d['source']} {detail}".strip(),
            }
        )
    for e in alarm_events:
        rule, priority = rules.get(e["alarm_id"], ("?", "?"))
        rows.append(
            {
                "epoch_s": e["ts"],
                "kind": "alarm",
                "what": e["transition"],
                "user": e.get("user"),
                "detail": f"{rule} ({priority}) alarm {e['alarm_id']}",
            }
        )
    frame = pd.DataFrame(rows, columns=["epoch_s", "kind", "what", "user", "detail"])
    frame = frame.sort_values("epoch_s", kind="stable").reset_index(drop=True)
    frame.insert(0, "time", iso_times(frame["epoch_s"]) if len(frame) else pd.Series(dtype="object"))
    return frame


def inert_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula (notes, device ids) made inert; numbers stay numbers."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = [inert_cell(x) if isinstance(x, str) else x for x in out[col]]
    return out


def encode(frame: pd.DataFrame, fmt: str, *, session_id: int, name: str) -> bytes:
    """One table as CSV, Parquet or JSON (``{"session", "units", "<name>": [records]}``)."""
    if fmt == "parquet":
        import pyarrow as pa  # only when asked for: it is a heavy import
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"ivmon.units"] = json.dumps(UNITS).encode()
        meta[b"ivmon.session"] = str(session_id).encode()
        table = table.replace_schema_metadata(meta)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        return buf.getvalue()
    text = frame.copy()
    if "time" in text.columns and pd.api.types.is_datetime64_any_dtype(text["time"]):
        text["time"] = iso_times(text["epoch_s"]).to_numpy()
    if fmt == "csv":
        # float_format=None: pandas writes repr(), the shortest text that reads back to the same double.
        # Rows end in CRLF (RFC 4180): a field holding a carriage return or a newline is then quoted,
        # so a note cannot end its row early in any reader.
        return str(inert_text_columns(text).to_csv(index=False, lineterminator="\r\n")).encode()
    if fmt == "json":
        records = text.astype(object).where(text.notna(), None).to_dict(orient="records")
        body: bytes = orjson.dumps(
            {"session": session_id, "units": UNITS, name: records}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        return body
    raise ValueError(f"unknown format {fmt!r} (csv, parquet or json)")
