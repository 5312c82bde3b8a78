"""Stored sessions as the offline replay reads them: which sessions, their valid readings, their alarms.

The replay of a clinic's history (``ivmon replay --db``, ``ivmon whatif``) reads thousands of sessions;
readings come back column-wise as numpy arrays (vital as a small code, as ``readings.read_series`` does),
a chunk of sessions per query, so a year of readings never exists as Python row objects all at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Select, case, select

from monitor.model import AlarmKind, Quality, Session, Vital
from monitor.store import schema
from monitor.store.readings import gc_paused
from monitor.store.sessions import find_sessions

#: Vital codes of :class:`SessionReadings` (index into this tuple).
VITAL_CODES: tuple[str, ...] = tuple(v.value for v in Vital)
#: Sessions per readings query: about a million rows of a 2-hour per-second session mix.
SESSIONS_PER_QUERY = 100


class NoProtocols(ValueError):
    """A protocol filter on a database whose sessions record no protocol."""


def stored_sessions(
    engine: Engine,
    *,
    start: float | None = None,
    end: float | None = None,
    bed: str | None = None,
    protocol: str | None = None,
) -> list[Session]:
    """Sessions started in [start, end) (at ``bed``, of ``protocol``), oldest first, with their phase changes."""
    found = find_sessions(engine, start=start, end=end, bed=bed, limit=0)
    if protocol is not None:
        column = schema.sessions.c.get("protocol")
        if column is None:
            raise NoProtocols("this database records no protocol per session")
        with engine.connect() as conn:
            ids = set(conn.scalars(select(schema.sessions.c.id).where(column == protocol)))
        found = [s for s in found if s.id in ids]
    return sorted(found, key=lambda s: (s.started, s.id))


@dataclass(slots=True)
class SessionReadings:
    """Valid readings of sessions, grouped by session (ascending id), then vital (code), then time and storage.

    ``offsets[i]:offsets[i + 1]`` are the rows of session ``session_ids[i]``; within them each vital's
    readings are one run, in time order, so a session's series are views, not copies.
    """

    session_ids: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]
    vital: npt.NDArray[np.int8]  # index into VITAL_CODES
    ts: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]

    def rows_of(self, session_id: int) -> slice:
        i = int(np.searchsorted(self.session_ids, session_id))
        if i == self.session_ids.size or self.session_ids[i] != session_id:
            return slice(0, 0)
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def series_of(self, session_id: int) -> dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """``{vital: (times, values)}`` of one session (views into the arrays)."""
        rows = self.rows_of(session_id)
        codes = self.vital[rows]
        if codes.size == 0:
            return {}
        present = np.unique(codes)
        bounds = [*np.searchsorted(codes, present, side="left").tolist(), codes.size]
        base = rows.start
        return {
            VITAL_CODES[int(code)]: (
                self.ts[base + bounds[k] : base + bounds[k + 1]],
                self.value[base + bounds[k] : base + bounds[k + 1]],
            )
            for k, code in enumerate(present.tolist())
        }


def _chunk(session_ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(session_ids), size):
        yield session_ids[i : i + size]


@gc_paused()
def valid_readings(engine: Engine, session_ids: Sequence[int]) -> SessionReadings:
    """The valid readings the alarm engine judged for these sessions (stored with the session's id)."""
    c = schema.readings.c
    code = case({v: i for i, v in enumerate(VITAL_CODES)}, value=c.vital, else_=-1)
    ids_sorted = np.unique(np.asarray(session_ids, dtype=np.int64))
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.float64], npt.NDArray[np.float64]]]
    parts = []
    with engine.connect() as conn:
        for ids in _chunk(ids_sorted.tolist(), SESSIONS_PER_QUERY):
            query = (
                select(c.session_id, code, c.ts, c.value)
                .where(c.session_id.in_(ids), c.quality == Quality.VALID.value)
                .order_by(c.session_id, c.ts, c.id)  # the index's order; grouped by vital below
            )
            if conn.dialect.name == "postgresql":
                sids, codes, ts, value = _copy_binary(conn, query)
            else:
                rows = conn.execute(query).cursor.fetchall()
                n = len(rows)
                if n == 0:
                    continue
                sid, vcode, ts_t, value_t = zip(*rows, strict=True)
                sids = np.fromiter(sid, dtype=np.int64, count=n)
                codes = np.fromiter(vcode, dtype=np.int64, count=n)
                ts = np.fromiter(ts_t, dtype=np.float64, count=n)
                value = np.fromiter(value_t, dtype=np.float64, count=n)
            # by session, then vital, keeping time and storage order within (lexsort is stable)
            order = np.lexsort((codes, sids))
            order = order[codes[order] >= 0]  # a vital this code does not know: no rule can judge it
            parts.append((sids[order], codes[order].astype(np.int8), ts[order], value[order]))
    sids = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    offsets = np.searchsorted(sids, np.append(ids_sorted, np.iinfo(np.int64).max)).astype(np.int64)
    offsets[-1] = sids.size
    if not parts:
        return SessionReadings(ids_sorted, offsets, np.empty(0, np.int8), np.empty(0), np.empty(0))
    return SessionReadings(
        ids_sorted,
        offsets,
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
    )


#: One row of ``COPY (session_id int4, code int4, ts float8, value float8) TO STDOUT (FORMAT BINARY)``:
#: the field count, then each field's length and its big-endian value.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("sid_len", ">i4"),
        ("sid", ">i4"),
        ("code_len", ">i4"),
        ("code", ">i4"),
        ("ts_len", ">i4"),
        ("ts", ">f8"),
        ("value_len", ">i4"),
        ("value", ">f8"),
    ]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _copy_binary(
    conn: Connection, query: Select[Any]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The query's rows through PostgreSQL's binary COPY, parsed by numpy: no Python object per row.

    Several times faster than fetching rows; the layout is checked (every row 4 fields of the
    expected widths, no NULL), so a change of column types fails loudly instead of misreading.
    """
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    if not data.startswith(_COPY_SIGNATURE) or data[-2:] != b"\xff\xff":
        raise ValueError("unexpected COPY BINARY framing")
    start = 19 + int.from_bytes(data[15:19], "big")  # signature, flags, header extension length
    body = memoryview(data)[start:-2]
    if len(body) % _COPY_ROW.itemsize:
        raise ValueError("unexpected COPY BINARY row layout")
    rows = np.frombuffer(body, dtype=_COPY_ROW)
    widths = (rows["sid_len"] == 4) & (rows["code_len"] == 4) & (rows["ts_len"] == 8) & (rows["value_len"] == 8)
    if not bool(np.all(rows["fields"] == 4)) or not bool(np.all(widths)):
        raise ValueError("unexpected COPY BINARY row layout")
    return (
        rows["sid"].astype(np.int64),
        rows["code"].astype(np.int64),
        rows["ts"].astype(np.float64),
        rows["value"].astype(np.float64),
    )


@dataclass(frozen=True, slots=True)
class StoredAlarm:
    """A physiological alarm as the live engine raised it, and what the nurse answered (None: not asked)."""

    session_id: int
    rule_id: str
    vital: str
    started: float
    ended: float | None
    actionable: bool | None


def physiological_alarms(engine: Engine, session_ids: Sequence[int]) -> list[StoredAlarm]:
    """The physiological alarms of these sessions, by session then start."""
    c = schema.alarms.c
    actionable: Any = c.get("actionable")  # added by the actionable tagging (issue 17); absent before it
    columns = [c.session_id, c.rule_id, c.vital, c.started, c.ended]
    out: list[StoredAlarm] = []
    with engine.connect() as conn:
        for ids in _chunk(list(session_ids), 500):
            query = select(*columns, *([actionable] if actionable is not None else [])).where(
                c.session_id.in_(list(ids)), c.kind == AlarmKind.PHYSIOLOGICAL.value
            )
            for row in conn.execute(query.order_by(c.session_id, c.started, c.rule_id)):
                flag = row[5] if actionable is not None else None
                out.append(
                    StoredAlarm(
                        int(row[0]),
                        str(row[1]),
                        str(row[2] or ""),
                        float(row[3]),
                        None if row[4] is None else float(row[4]),
                        None if flag is None else bool(flag),
                    )
                )
    return out
