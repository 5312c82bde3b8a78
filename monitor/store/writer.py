"""The batched writer: many submissions, one transaction.

Adapters await the future of their submission; it resolves only after the
transaction holding it committed. That is what an HL7 ``AA`` waits for. A
failed commit is retried with backoff while the futures keep waiting (so
nothing is acknowledged that is not stored); the writer reports itself
unhealthy meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from monitor.model import Alarm, AlarmChange, DeviceStatus, Reading
from monitor.store import schema
from monitor.store.transaction import BATCH_KEY_PREFIX, EVENTS_CHANNEL, BatchRows, ReadingRow, Written, write_rows
from monitor.store.write_process import WriteProcess

log = logging.getLogger(__name__)

__all__ = ["EVENTS_CHANNEL", "BatchWriter", "prune_keys", "prune_keys_loop", "recent_keys"]


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

    def __len__(self) -> int:
        return len(self.readings) + len(self.statuses) + len(self.alarm_events) + len(self.events) + len(self.keys)

    def rows(self) -> BatchRows:
        """The batch as plain data, with a key of its own (a retried batch is written once)."""
        return BatchRows(
            # Time first (they sort together, at the end of the key index), then random (unique).
            batch_key=f"{BATCH_KEY_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:12]}",
            ts=time.time(),
            readings=self.readings,
            statuses=self.statuses,
            alarms=[alarm_row(a) for a in self.alarms.values()],
            alarm_events=self.alarm_events,
            events=list(self.events.values()),
            keys=self.keys,
        )


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


class BatchWriter:
    """Group commits for the event loop; the transactions run in a thread, or in a writer process.

    ``separate_process=True`` (the service, on a file or server database) moves them to
    :class:`~monitor.store.write_process.WriteProcess`; tests and tools keep them in a thread.
    """

    def __init__(
        self, engine: Engine, *, max_rows: int = 5000, max_delay_s: float = 0.02, separate_process: bool = False
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self._batch = _Batch()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Task[None] | None = None
        self._ready = False  # the writer process (if any) is up
        #: The batch being written and its rows (None: idle); retried as it is until it commits.
        self._inflight: tuple[_Batch, BatchRows] | None = None
        self._kick_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()  # nothing in flight, nothing gathered
        self._idle.set()
        self._backoff = 0.1
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
        #: COPY readings on PostgreSQL (False: executemany, bench/store_write.py's reference; thread mode only).
        self.copy_readings = True
        self._process: WriteProcess | None = None
        if separate_process:
            if engine.url.database in (None, "", ":memory:") and engine.dialect.name == "sqlite":
                raise ValueError("an in-memory SQLite database cannot be written from another process")
            self._process = WriteProcess(engine.url.render_as_string(hide_password=False))

    # -- submission (event-loop thread, cheap) ------------------------------------------
    def add_readings(self, readings: Sequence[Reading], key: str | None = None) -> None:
        """Queue readings; with ``key`` (HL7 MSH-7, sender, MSH-10) they are stored only if the key is new."""
        rows = self._batch.readings
        start = len(rows)
        rows.extend(
            # Vital and Quality are str enums: the drivers store them as their text.
            [(r.ts, r.vital, r.value, r.unit, r.quality, r.source, r.bed, r.session_id) for r in readings]
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

    @property
    def process_pid(self) -> int | None:
        """The writer process's pid (None: transactions run in a thread of this process)."""
        return self._process.pid if self._process is not None else None

    @property
    def process_restarts(self) -> int:
        """How often the writer process had to be started again (it died or was killed)."""
        return self._process.restarts if self._process is not None else 0

    # -- group commit ----------------------------------------------------------------------
    # Driven by callbacks, not by a task: the answer to one transaction sends the next batch in
    # the same callback. A task would resume only after every callback already queued on the
    # loop (hundreds of messages' worth under load), and each sender waits for its ACK on it.
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._process is not None:
            self._starting = self._loop.create_task(self._start_process(), name="writer-process")
        else:
            self._ready = True
            self._loop.call_soon(self._kick)  # what was added before the start

    async def _start_process(self) -> None:
        assert self._process is not None
        await self._process.start()
        self._ready = True
        self._kick()

    async def close(self) -> None:
        """Write what is pending, then stop."""
        if self._loop is not None:
            if self._starting is not None:
                await self._starting
            self._kick()
            await self._idle.wait()
        if self._process is not None:
            await self._process.stop()

    def _poke(self) -> None:
        """Something was added: commit soon (at once when someone waits, else within max_delay_s)."""
        self._idle.clear()
        if self._inflight is not None or self._kick_pending or self._loop is None:
            return  # the answer to the transaction in flight sends the next batch
        if len(self._batch) >= self.max_rows or self._batch.waiters:
            # After the callbacks already queued: the submissions of this loop turn share a commit.
            self._kick_pending = True
            self._loop.call_soon(self._kick)
        elif self._timer is None:
            self._timer = self._loop.call_later(self.max_delay_s, self._kick)

    def _kick(self) -> None:
        """Send the gathered batch if nothing is in flight."""
        self._kick_pending = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inflight is not None or not self._ready:
            return
        batch, self._batch = self._batch, _Batch()
        if len(batch) == 0 and not batch.alarms:
            for w in batch.waiters:
                if not w.done():
                    w.set_result(None)
            self._idle.set()
            return
        self._idle.clear()
        self._inflight = (batch, batch.rows())
        self._send()

    def _send(self) -> None:
        assert self._inflight is not None and self._loop is not None
        rows = self._inflight[1]
        self.writing_since = time.perf_counter()
        try:
            if self._process is not None:
                self._process.send(rows, self._done)
                return
            job = self._loop.run_in_executor(None, lambda: write_rows(self.engine, rows, copy=self.copy_readings))
        except Exception as exc:
            # Never a batch in flight that no answer will come for (its senders would wait for ever):
            # a send that fails is answered as a failed commit, and retried.
            self._loop.call_soon(self._done, None, exc)
            return
        job.add_done_callback(lambda f: self._done(None, f.exception()) if f.exception() else self._done(f.result()))

    def _done(self, written: Written | None, error: BaseException | None = None) -> None:
        """The answer to the transaction in flight (on the loop)."""
        assert self._inflight is not None and self._loop is not None
        started, self.writing_since = self.writing_since, None
        if error is not None or written is None:
            # The database is down or locked: keep the batch (its senders keep waiting), retry.
            self.healthy = False
            self.last_error = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            log.error("database write failed, retrying in %.1fs: %s", self._backoff, self.last_error)
            self._loop.call_later(self._backoff, self._send)
            self._backoff = min(self._backoff * 2, 5.0)
            return
        if started is not None:
            self.last_commit_s = time.perf_counter() - started
            if self.commit_observer is not None:
                self.commit_observer(self.last_commit_s)
        batch = self._inflight[0]
        self._inflight = None
        self._backoff = 0.1
        self.healthy = True
        self.commits += 1
        self.duplicates_skipped += written.duplicates_skipped
        self.rows_written += written.readings
        for w in batch.waiters:
            if not w.done():
                w.set_result(None)
        if len(self._batch) or self._batch.waiters or self._batch.alarms:
            self._kick()
        else:
            self._idle.set()


#: Message keys are kept this long: a sender retransmits within minutes, a gateway replays its
#: backlog after an outage within hours. Older keys only cost disk (one row per message).
KEY_RETENTION_S = 7 * 86400.0


def prune_keys(engine: Engine, older_than: float) -> int:
    """Forget message keys stored before ``older_than``; returns how many."""
    c = schema.ingest_keys.c
    with engine.begin() as conn:
        return int(conn.execute(schema.ingest_keys.delete().where(c.ts < older_than)).rowcount or 0)


async def prune_keys_loop(engine: Engine, every_s: float = 3600.0) -> None:
    """Hourly: keys past :data:`KEY_RETENTION_S` (in a thread: a large delete must not stall the loop)."""
    while True:
        try:
            n = await asyncio.to_thread(prune_keys, engine, time.time() - KEY_RETENTION_S)
            if n:
                log.info("forgot %d message keys older than %d days", n, KEY_RETENTION_S // 86400)
        except Exception as exc:  # the database may be down: the next round tries again
            log.warning("pruning message keys failed: %s", type(exc).__name__)
        await asyncio.sleep(every_s)


def recent_keys(engine: Engine, since: float, limit: int = 100_000) -> dict[str, float]:
    """The newest message keys stored since ``since`` (key -> when), oldest first."""
    c = schema.ingest_keys.c
    query = (
        select(c.key, c.ts)
        .where(c.ts >= since, c.key.not_like(f"{BATCH_KEY_PREFIX}%"))
        .order_by(c.ts.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {key: ts for key, ts in reversed(rows)}
