"""The batched writer: many submissions, one transaction.

Adapters await the future of their submission; it resolves only after the
transaction holding it committed. That is what an HL7 ``AA`` waits for. A
failed commit is retried with backoff while the futures keep waiting (so
nothing is acknowledged that is not stored); the writer reports itself
unhealthy meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from monitor.model import Alarm, AlarmChange, DeviceStatus, Reading
from monitor.store import schema

log = logging.getLogger(__name__)


#: A reading row, in the order of ``_READING_COLUMNS``: tuples, not dicts, because the driver's
#: executemany (and COPY) take them as they are; this is the per-reading hot path.
ReadingRow = tuple[float, str, float, str, str, str, "str | None", "int | None"]


@dataclass(slots=True)
class _Batch:
    readings: list[ReadingRow] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    alarms: dict[str, Alarm] = field(default_factory=dict)
    alarm_events: list[dict[str, Any]] = field(default_factory=list)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)  # by seq: adding twice is harmless
    #: (dedupe key, when, first and end index of its readings in ``readings``)
    keys: list[tuple[str, float, int, int]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    #: An attempt failed: it may have committed all the same (a COMMIT whose reply was lost).
    retried: bool = False

    def __len__(self) -> int:
        return len(self.readings) + len(self.statuses) + len(self.alarm_events) + len(self.events) + len(self.keys)


def alarm_row(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "rule_id": alarm.rule_id,
        "kind": alarm.kind.value,
        "priority": alarm.priority.value,
        "message": alarm.message,
        "bed_id": alarm.bed,
        "session_id": alarm.session_id,
        "vital": alarm.vital.value if alarm.vital else None,
        "state": alarm.state.value,
        "started": alarm.started,
        "ended": alarm.ended,
        "value": alarm.value,
        "worst": alarm.worst,
        "limit_value": alarm.limit,
        "acknowledged_by": alarm.acknowledged_by,
        "acknowledged_at": alarm.acknowledged_at,
        "silenced_until": alarm.silenced_until,
        "escalated": alarm.escalated,
    }


#: Channel NOTIFYed (with the batch's last seq) in the transaction that stores events, on PostgreSQL:
#: web processes wake and read the events table from their last seq (``monitor.bus_pg``).
EVENTS_CHANNEL = "ivmon_events"

_READING_COLUMNS = ("ts", "vital", "value", "unit", "quality", "source", "bed_id", "session_id")
_INSERT_READINGS_SQLITE = (
    f"INSERT INTO readings ({', '.join(_READING_COLUMNS)}) VALUES ({', '.join('?' * len(_READING_COLUMNS))})"
)
#: Two parameters a key: far below SQLite's and PostgreSQL's limits on parameters per statement.
_KEYS_PER_STATEMENT = 500
_KEY_WIDTH: int = schema.ingest_keys.c.key.type.length or 255  # type: ignore[attr-defined]


class BatchWriter:
    def __init__(self, engine: Engine, *, max_rows: int = 5000, max_delay_s: float = 0.02) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self._batch = _Batch()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.healthy = True
        self.last_error: str | None = None
        self.rows_written = 0
        self.duplicates_skipped = 0
        self.commits = 0
        self.last_commit_s = 0.0
        #: perf_counter() when the transaction in flight began (None: idle): a commit stuck on a
        #: locked database shows here long before it fails.
        self.writing_since: float | None = None
        #: Called with each commit's duration (metrics histogram); None: nobody is measuring.
        self.commit_observer: Callable[[float], None] | None = None
        dialect = engine.dialect.name
        self._postgres = dialect == "postgresql"
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        excluded = upsert(schema.alarms).excluded
        #: One statement for every alarm row of a batch (executemany): an alarm's row is rewritten
        #: with its latest state.
        self._upsert_alarm = upsert(schema.alarms).on_conflict_do_update(
            index_elements=["id"], set_={c.name: excluded[c.name] for c in schema.alarms.c if c.name != "id"}
        )

    # -- submission (event-loop thread, cheap) ------------------------------------------
    def add_readings(self, readings: Sequence[Reading], key: str | None = None) -> None:
        """Queue readings; with ``key`` (HL7 sender + MSH-10) they are stored only if the key is new."""
        rows = self._batch.readings
        start = len(rows)
        rows.extend(
            [(r.ts, r.vital.value, r.value, r.unit, r.quality.value, r.source, r.bed, r.session_id) for r in readings]
        )
        if key is not None:
            self._batch.keys.append((key, time.time(), start, len(rows)))
        self._poke()

    def add_status(self, status: DeviceStatus, session_id: int | None) -> None:
        self._batch.statuses.append(
            {
                "ts": status.ts,
                "source": status.source,
                "state": status.state.value,
                "bed_id": status.bed,
                "session_id": session_id,
                "vital": status.vital.value if status.vital else None,
                "detail": status.detail,
            }
        )
        self._poke()

    def add_alarm_changes(self, changes: Sequence[AlarmChange]) -> None:
        for ch in changes:
            self._batch.alarms[ch.alarm.id] = ch.alarm
            self._batch.alarm_events.append(
                {
                    "alarm_id": ch.alarm.id,
                    "ts": ch.ts,
                    "transition": ch.transition,
                    "state": ch.alarm.state.value,
                    "user": ch.user,
                    "value": ch.alarm.value,
                }
            )
        self._poke()

    def add_event(self, seq: int, ts: float, type_: str, payload: str) -> None:
        self._batch.events[seq] = {"seq": seq, "ts": ts, "type": type_, "payload": payload}
        self._poke()

    def durable(self) -> asyncio.Future[None]:
        """A future resolving when everything added so far is committed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.waiters.append(fut)
        self._poke()
        return fut

    @property
    def queue_depth(self) -> int:
        return len(self._batch)

    def _poke(self) -> None:
        if len(self._batch) >= self.max_rows or self._batch.waiters:
            self._wake.set()

    # -- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batch-writer")

    async def close(self) -> None:
        """Write what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self._closing:
                # Group commit: while one transaction is being written, the next batch
                # gathers; a waiter (an adapter awaiting durability) starts it at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.max_delay_s)
            self._wake.clear()
            batch, self._batch = self._batch, _Batch()
            if len(batch) == 0 and not batch.alarms:
                for w in batch.waiters:
                    if not w.done():
                        w.set_result(None)
                if self._closing:
                    return
                continue
            while True:
                try:
                    started = self.writing_since = time.perf_counter()
                    await asyncio.to_thread(self._write, batch)
                    self.last_commit_s = time.perf_counter() - started
                    if self.commit_observer is not None:
                        self.commit_observer(self.last_commit_s)
                    break
                except Exception as exc:  # the database is down or locked: keep the batch, retry
                    batch.retried = True
                    self.healthy = False
                    self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    log.error("database write failed, retrying in %.1fs: %s", backoff, self.last_error)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                finally:
                    self.writing_since = None
            backoff = 0.1
            self.healthy = True
            self.commits += 1
            self.rows_written += len(batch.readings)
            for w in batch.waiters:
                if not w.done():
                    w.set_result(None)
            if self._closing and len(self._batch) == 0 and not self._batch.waiters:
                return

    def _new_keys_only(self, conn: Connection, batch: _Batch) -> list[ReadingRow]:
        """Record each message key; the readings of a key already stored are dropped.

        The database is the authority on what was stored (the pipeline's memory of keys is
        only a short window), so a retransmission is stored once even across restarts.
        """
        wanted: dict[str, float] = {}
        for key, ts, _start, _end in batch.keys:
            wanted.setdefault(column_key(key), ts)
        inserted = self._insert_keys(conn, list(wanted.items()))
        skip: list[tuple[int, int]] = []
        for key, _ts, start, end in batch.keys:
            stored_key = column_key(key)
            if stored_key in inserted:
                inserted.discard(stored_key)  # a second copy in the same batch is a duplicate
            else:
                self.duplicates_skipped += 1
                skip.append((start, end))
        if not skip:
            return batch.readings
        keep = [True] * len(batch.readings)
        for start, end in skip:
            keep[start:end] = [False] * (end - start)
        return [row for row, k in zip(batch.readings, keep, strict=True) if k]

    def _insert_keys(self, conn: Connection, keys: list[tuple[str, float]]) -> set[str]:
        """Insert the keys not yet stored; returns those inserted (one statement per chunk).

        RETURNING, not rowcount: neither driver reports per-row outcomes of an executemany,
        and psycopg reports no rowcount for ON CONFLICT DO NOTHING.
        """
        mark = "%s" if self._postgres else "?"
        inserted: set[str] = set()
        for i in range(0, len(keys), _KEYS_PER_STATEMENT):
            chunk = keys[i : i + _KEYS_PER_STATEMENT]
            values = ", ".join([f"({mark}, {mark})"] * len(chunk))
            sql = f"INSERT INTO ingest_keys (key, ts) VALUES {values} ON CONFLICT DO NOTHING RETURNING key"
            params = tuple(v for pair in chunk for v in pair)
            inserted.update(row[0] for row in conn.exec_driver_sql(sql, params))
        return inserted

    def _write(self, batch: _Batch) -> None:
        with self.engine.begin() as conn:
            if batch.retried and _committed_before(conn, batch):
                return  # a retry must not store it twice, nor fail forever on the events' seqs
            readings = batch.readings
            if batch.keys:
                readings = self._new_keys_only(conn, batch)
            if readings:
                if self._postgres:
                    _copy_readings(conn, readings)
                else:
                    # The driver's executemany on tuples: Core's per-row parameter processing
                    # cost more than the insert itself (bench/hl7_ingest.py).
                    # The driver's executemany on tuples: Core's per-row parameter processing
                    # cost more than the insert itself (bench/hl7_ingest.py).
                    conn.exec_driver_sql(_INSERT_READINGS_SQLITE, readings)
            if batch.statuses:
                conn.execute(insert(schema.device_events), batch.statuses)
            if batch.alarms:
                conn.execute(self._upsert_alarm, [alarm_row(a) for a in batch.alarms.values()])
            if batch.alarm_events:
                conn.execute(insert(schema.alarm_events), batch.alarm_events)
            if batch.events:
                conn.execute(insert(schema.events), list(batch.events.values()))
                if self._postgres:
                    # Delivered at commit, so a listener never reads ahead of what is stored.
                    last = str(max(batch.events))
                    conn.execute(text("SELECT pg_notify(:ch, :seq)"), {"ch": EVENTS_CHANNEL, "seq": last})


def _committed_before(conn: Connection, batch: _Batch) -> bool:
    """Whether an earlier attempt at ``batch`` committed although the writer saw it fail.

    A connection lost during COMMIT leaves the outcome unknown (the server may have committed
    before the reply was lost). The batch's events are its own (each seq is written once, by
    this batch), so its last seq being stored proves the whole transaction is. A batch without
    events (SQLite, readings only) relies on its message keys alone.
    """
    if not batch.events:
        return False
    last = max(batch.events)
    return conn.scalar(select(schema.events.c.seq).where(schema.events.c.seq == last)) is not None


def column_key(key: str) -> str:
    """A message key as stored: one longer than the column is replaced by its digest.

    A sender may fill MSH-3/4/10/7 with anything; a key over the column width would fail
    the whole batch on PostgreSQL at every retry. The digest keeps retransmissions equal.
    """
    if len(key) <= _KEY_WIDTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _copy_readings(conn: Connection, rows: list[ReadingRow]) -> None:
    """COPY the readings on PostgreSQL: ~5x executemany (bench/store_write.py), same transaction."""
    raw: Any = conn.connection.driver_connection  # the psycopg connection under this transaction
    with raw.cursor() as cur, cur.copy(f"COPY readings ({', '.join(_READING_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def recent_keys(engine: Engine, since: float, limit: int = 100_000) -> dict[str, float]:
    """The newest message keys stored since ``since`` (key -> when), oldest first."""
    c = schema.ingest_keys.c
    query = select(c.key, c.ts).where(c.ts >= since).order_by(c.ts.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {key: ts for key, ts in reversed(rows)}
