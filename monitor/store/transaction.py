"""One group commit: everything a batch holds, written in one transaction.

Plain data in (:class:`BatchRows`, picklable), a count out: the same function
runs in the batch writer's thread or in its writer process
(:mod:`monitor.store.write_process`). The batch carries a key of its own,
stored with it, so a batch retried after an ambiguous failure (the commit
went through but its answer was lost) is written once: without it a retried
batch of events would fail on their primary key at every retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Insert, func, insert, text
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store import schema

#: A reading row, in the order of ``READING_COLUMNS``: tuples, not dicts, because the driver's
#: executemany (and COPY) take them as they are; this is the per-reading hot path.
ReadingRow = tuple[float, str, float, str, str, str, "str | None", "int | None"]

READING_COLUMNS = ("ts", "vital", "value", "unit", "quality", "source", "bed_id", "session_id")

#: Channel NOTIFYed (with the batch's last seq) in the transaction that stores events, on PostgreSQL:
#: web processes wake and read the events table from their last seq (``monitor.bus_pg``).
EVENTS_CHANNEL = "ivmon_events"

#: Batch keys share the message keys' table: a message key always holds a "|" (MSH-7|sender|MSH-10),
#: a batch key never does, so the two cannot collide.
BATCH_KEY_PREFIX = "batch:"

_INSERT_READINGS_SQLITE = (
    f"INSERT INTO readings ({', '.join(READING_COLUMNS)}) VALUES ({', '.join('?' * len(READING_COLUMNS))})"
)
_INSERT_READINGS_PG = _INSERT_READINGS_SQLITE.replace("?", "%s")
#: Two parameters a key: far below SQLite's and PostgreSQL's limits on parameters per statement.
_KEYS_PER_STATEMENT = 500
_KEY_WIDTH: int = schema.ingest_keys.c.key.type.length or 255  # type: ignore[attr-defined]


@dataclass(slots=True)
class BatchRows:
    """What one transaction writes (plain values only: it may cross to the writer process)."""

    batch_key: str
    ts: float
    readings: list[ReadingRow] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)  # rows of schema.alarms, latest state each
    alarm_events: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: (message key, when, first and end index of its readings in ``readings``)
    keys: list[tuple[str, float, int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Written:
    readings: int = 0  # readings stored
    duplicates_skipped: int = 0  # messages whose key was already stored: their readings were dropped
    already_written: bool = False  # the whole batch was committed by an earlier attempt


def column_key(key: str) -> str:
    """A message key as stored: one longer than the column is replaced by its digest.

    A sender may fill MSH-3/4/10/7 with anything; a key over the column width would fail
    the whole batch on PostgreSQL at every retry. The digest keeps retransmissions equal.
    """
    if len(key) <= _KEY_WIDTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def write_rows(engine: Engine, rows: BatchRows, *, copy: bool = True) -> Written:
    """Write ``rows`` in one transaction; raises (nothing committed) when the database fails.

    ``copy=False`` inserts readings with executemany on PostgreSQL too (bench/store_write.py's reference).
    """
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        wanted: dict[str, float] = {rows.batch_key: rows.ts}
        for key, ts, _start, _end in rows.keys:
            wanted.setdefault(column_key(key), ts)
        inserted = _insert_keys(conn, list(wanted.items()), postgres)
        if rows.batch_key not in inserted:
            return Written(already_written=True)
        readings, duplicates = _new_messages_only(rows, inserted)
        if readings:
            if postgres and copy:
                _copy_readings(conn, readings)
            else:
                # The driver's executemany on tuples: Core's per-row parameter processing
                # cost more than the insert itself (bench/hl7_ingest.py).
                conn.exec_driver_sql(_INSERT_READINGS_PG if postgres else _INSERT_READINGS_SQLITE, readings)
        if rows.statuses:
            conn.execute(insert(schema.device_events), rows.statuses)
        if rows.alarms:
            conn.execute(_upsert_alarm(postgres), rows.alarms)
        if rows.alarm_events:
            conn.execute(insert(schema.alarm_events), rows.alarm_events)
        if rows.events:
            conn.execute(insert(schema.events), rows.events)
            if postgres:
                # Delivered at commit, so a listener never reads ahead of what is stored.
                last = str(max(e["seq"] for e in rows.events))
                conn.execute(text("SELECT pg_notify(:ch, :seq)"), {"ch": EVENTS_CHANNEL, "seq": last})
    return Written(len(readings), duplicates)


def _new_messages_only(rows: BatchRows, inserted: set[str]) -> tuple[list[ReadingRow], int]:
    """The readings of messages whose key was new; the database is the authority on what was stored.

    (The pipeline's memory of keys is only a short window, so a retransmission is stored once
    even across restarts.)
    """
    skip: list[tuple[int, int]] = []
    for key, _ts, start, end in rows.keys:
        stored_key = column_key(key)
        if stored_key in inserted:
            inserted.discard(stored_key)  # a second copy in the same batch is a duplicate
        else:
            skip.append((start, end))
    if not skip:
        return rows.readings, 0
    keep = [True] * len(rows.readings)
    for start, end in skip:
        keep[start:end] = [False] * (end - start)
    return [row for row, k in zip(rows.readings, keep, strict=True) if k], len(skip)


def _insert_keys(conn: Connection, keys: list[tuple[str, float]], postgres: bool) -> set[str]:
    """Insert the keys not yet stored; returns those inserted (one statement per chunk).

    RETURNING, not rowcount: neither driver reports per-row outcomes of an executemany,
    and psycopg reports no rowcount for ON CONFLICT DO NOTHING.
    """
    mark = "%s" if postgres else "?"
    inserted: set[str] = set()
    for i in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[i : i + _KEYS_PER_STATEMENT]
        values = ", ".join([f"({mark}, {mark})"] * len(chunk))
        sql = f"INSERT INTO ingest_keys (key, ts) VALUES {values} ON CONFLICT DO NOTHING RETURNING key"
        params = tuple(v for pair in chunk for v in pair)
        inserted.update(row[0] for row in conn.exec_driver_sql(sql, params))
    return inserted


_UPSERTS: dict[bool, Insert] = {}


def _upsert_alarm(postgres: bool) -> Insert:
    """One statement for every alarm row of a batch (executemany): a row is rewritten with its latest state."""
    stmt = _UPSERTS.get(postgres)
    if stmt is None:
        upsert = postgresql.insert if postgres else sqlite.insert
        excluded = upsert(schema.alarms).excluded
        columns: dict[str, Any] = {c.name: excluded[c.name] for c in schema.alarms.c if c.name != "id"}
        # The actionable answer is stored by its own update (store/alarms.record_actionable): the engine's
        # copy of the alarm may not have it, and must not erase it.
        columns["actionable"] = func.coalesce(schema.alarms.c.actionable, excluded.actionable)
        stmt = _UPSERTS[postgres] = upsert(schema.alarms).on_conflict_do_update(index_elements=["id"], set_=columns)
    return stmt


def _copy_readings(conn: Connection, rows: list[ReadingRow]) -> None:
    """COPY the readings on PostgreSQL: ~5x executemany (bench/store_write.py), same transaction."""
    raw: Any = conn.connection.driver_connection  # the psycopg connection under this transaction
    with raw.cursor() as cur, cur.copy(f"COPY readings ({', '.join(READING_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
