"""The batched writer: many submissions, one transaction.

Adapters await the future of their submission; it resolves only after the
transaction holding it committed. That is what an HL7 ``AA`` waits for.

A commit that fails for the database's sake (connection lost, lock, timeout)
is retried with backoff while the futures keep waiting (so nothing is
acknowledged that is not stored); the writer reports itself unhealthy
meanwhile. A commit that fails for the data's sake (a constraint, a value too
long, text the database cannot encode: :mod:`monitor.store.failures`) would
fail at every retry: the batch is split in halves, again and again, so that
everything else commits and only the submission holding the offending rows is
refused (its future raises :class:`DataRefused` with the reason). No single
submission can stall the queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from monitor.events import alarm_row
from monitor.model import Alarm, AlarmChange, DataRefused, DeviceStatus, Reading, StorageUnavailable
from monitor.retry import Backoff
from monitor.store import schema
from monitor.store.failures import FailureKind, classify, describe
from monitor.store.transaction import BATCH_KEY_PREFIX, EVENTS_CHANNEL, BatchRows, ReadingRow, Written, write_rows
from monitor.store.write_process import WriteFailed, WriteProcess

log = logging.getLogger(__name__)

__all__ = [
    "EVENTS_CHANNEL",
    "BatchWriter",
    "DataRefused",
    "StorageUnavailable",
    "prune_keys",
    "prune_keys_loop",
    "recent_keys",
]

#: Failed attempts of an unrecognised cause before the rows are suspected (and the batch split).
UNKNOWN_FAILURE_RETRIES = 3


#: Where one submission's rows end in a batch: readings, statuses, alarm events, events, message keys.
_Bound = tuple[int, int, int, int, int]


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
    #: The end of each submission's rows and its waiter (None: rows added outside a submission, such
    #: as the alarm ticker's). Read only when a data failure splits the batch.
    marks: list[tuple[_Bound, asyncio.Future[None] | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.readings) + len(self.statuses) + len(self.alarm_events) + len(self.events) + len(self.keys)

    def bound(self) -> _Bound:
        return (len(self.readings), len(self.statuses), len(self.alarm_events), len(self.events), len(self.keys))

    def mark(self, waiter: asyncio.Future[None] | None) -> None:
        bound = self.bound()
        if waiter is None and (bound == (self.marks[-1][0] if self.marks else (0, 0, 0, 0, 0))):
            return  # nothing added since the last mark
        self.marks.append((bound, waiter))

    def rows(self) -> BatchRows:
        """The batch as plain data, with a key of its own (a retried batch is written once)."""
        return BatchRows(
            batch_key=_batch_key(),
            # machine time: the batch's own bookkeeping.
            ts=time.time(),
            readings=self.readings,
            statuses=self.statuses,
            alarms=[alarm_row(a) for a in self.alarms.values()],
            alarm_events=self.alarm_events,
            events=list(self.events.values()),
            keys=self.keys,
        )


def _batch_key() -> str:
    # Time first (they sort together, at the end of the key index), then random (unique).
    return f"{BATCH_KEY_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


@dataclass(slots=True)
class _Piece:
    """Submissions ``lo`` to ``hi`` of a batch in flight (all of it, unless a data failure split it)."""

    rows: BatchRows
    waiters: list[asyncio.Future[None]]
    lo: int = 0
    hi: int = -1  # -1: the whole batch, not yet split into submissions
    unknown_failures: int = 0


@dataclass(slots=True)
class _Flight:
    """A batch being written: its pieces still to commit, in order (one, unless it was split)."""

    batch: _Batch
    whole: BatchRows
    todo: deque[_Piece]
    #: Submission boundaries (from 0 to the batch's end) and waiters, computed at the first split.
    bounds: list[_Bound] = field(default_factory=list)
    seg_waiters: list[asyncio.Future[None] | None] = field(default_factory=list)


def _segments(batch: _Batch) -> tuple[list[_Bound], list[asyncio.Future[None] | None]]:
    bounds: list[_Bound] = [(0, 0, 0, 0, 0)]
    waiters: list[asyncio.Future[None] | None] = []
    for bound, waiter in batch.marks:
        bounds.append(bound)
        waiters.append(waiter)
    end = batch.bound()
    if end != bounds[-1] or (batch.alarms and not waiters):
        bounds.append(end)  # rows added after the last submission (timers, ticker)
        waiters.append(None)
    return bounds, waiters


def _slice(whole: BatchRows, bounds: list[_Bound], lo: int, hi: int) -> BatchRows:
    """The rows of submissions ``lo`` to ``hi`` (exclusive), with a batch key of their own."""
    (r0, s0, a0, e0, k0), (r1, s1, a1, e1, k1) = bounds[lo], bounds[hi]
    alarm_events = whole.alarm_events[a0:a1]
    ids = {ev["alarm_id"] for ev in alarm_events}
    if hi == len(bounds) - 1:  # alarms no event of the batch names go with its last submission
        ids |= {a["id"] for a in whole.alarms} - {ev["alarm_id"] for ev in whole.alarm_events}
    return BatchRows(
        batch_key=_batch_key(),
        ts=whole.ts,
        readings=whole.readings[r0:r1],
        statuses=whole.statuses[s0:s1],
        alarms=[a for a in whole.alarms if a["id"] in ids],
        alarm_events=alarm_events,
        events=whole.events[e0:e1],
        keys=[(key, ts, start - r0, end - r0) for key, ts, start, end in whole.keys[k0:k1]],
    )


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
        self._inflight: _Flight | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._stopped = False  # closed with the database unavailable: nothing more is written
        self._kick_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()  # nothing in flight, nothing gathered
        self._idle.set()
        self._backoff = Backoff(first_s=0.1, max_s=5.0)
        self.healthy = True
        self.last_error: str | None = None
        #: Submissions the database refused for their data (each refused alone, the rest stored).
        self.refused_submissions = 0
        self.refused_rows = 0
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
            # machine time: message keys expire in real minutes.
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
        """A future resolving when everything added so far is committed.

        It closes a submission: if the database refuses data of this batch for good, the
        future raises :class:`DataRefused` only when the offending rows were added since the
        previous :meth:`segment` or :meth:`durable` call.
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.waiters.append(fut)
        self._batch.mark(fut)
        self._poke()
        return fut

    def segment(self) -> None:
        """A submission begins: rows added before (timers, the alarm ticker) are not held against it."""
        self._batch.mark(None)

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

    async def close(self, timeout_s: float = 5.0) -> None:
        """Write what is pending, then stop; after ``timeout_s`` (the database unreachable) give up.

        What could not be written is refused (:class:`StorageUnavailable`): nothing of it was
        acknowledged, so the monitors send it again to the next run.
        """
        clean = True
        if self._loop is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    if self._starting is not None:
                        await asyncio.shield(self._starting)
                    self._kick()
                    await self._idle.wait()
            except TimeoutError:
                clean = False
                self._abandon()
        if self._process is not None:
            await self._process.stop(grace_s=10.0 if clean else 1.0)

    def _abandon(self) -> None:
        """Stop writing: every waiting submission is told its data was not stored."""
        self._stopped = True
        if self._retry is not None:
            self._retry.cancel()
        waiters = list(self._batch.waiters)
        if self._inflight is not None:
            for piece in self._inflight.todo:
                waiters.extend(piece.waiters)
            waiters.extend(self._inflight.batch.waiters)
        self._inflight = None
        self._batch = _Batch()
        unstored = 0
        for w in waiters:
            if not w.done():
                unstored += 1
                w.set_exception(StorageUnavailable("storage unavailable: the service stopped before writing"))
                w.exception()  # retrieved here: nobody may be waiting any more
        log.error("stopping with the database unavailable: %d submission(s) not stored (not acknowledged)", unstored)
        self._idle.set()

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
        if self._inflight is not None or not self._ready or self._stopped:
            return
        batch, self._batch = self._batch, _Batch()
        if len(batch) == 0 and not batch.alarms:
            for w in batch.waiters:
                if not w.done():
                    w.set_result(None)
            self._idle.set()
            return
        self._idle.clear()
        rows = batch.rows()
        self._inflight = _Flight(batch, rows, deque([_Piece(rows, batch.waiters)]))
        self._send()

    def _send(self) -> None:
        self._retry = None
        if self._inflight is None or self._loop is None:
            return  # abandoned while a retry was due
        rows = self._inflight.todo[0].rows
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
        flight = self._inflight
        if flight is None or self._loop is None:
            return  # abandoned at shutdown: nobody waits for this answer any more
        started, self.writing_since = self.writing_since, None
        piece = flight.todo[0]
        if error is not None or written is None:
            error = error or WriteFailed("no answer from the writer")
            if self._failure_kind(piece, error) == "data":
                self._isolate(flight, describe_failure(error))
            else:
                # The database is down or locked: keep the rows (their senders keep waiting), retry.
                self.healthy = False
                self.last_error = describe_failure(error)
                delay = self._backoff.next_delay()
                log.error("database write failed, retrying in %.1fs: %s", delay, self.last_error)
                self._retry = self._loop.call_later(delay, self._send)
                return
        else:
            if started is not None:
                self.last_commit_s = time.perf_counter() - started
                if self.commit_observer is not None:
                    self.commit_observer(self.last_commit_s)
            self._backoff.reset()
            self.healthy = True
            self.commits += 1
            self.duplicates_skipped += written.duplicates_skipped
            self.rows_written += written.readings
            flight.todo.popleft()
            for w in piece.waiters:
                if not w.done():
                    w.set_result(None)
        if flight.todo:
            self._send()  # the next piece of a split batch
            return
        self._inflight = None
        if len(self._batch) or self._batch.waiters or self._batch.alarms:
            self._kick()
        else:
            self._idle.set()

    @staticmethod
    def _failure_kind(piece: _Piece, error: BaseException) -> FailureKind:
        kind = error.kind if isinstance(error, WriteFailed) else classify(error)
        if kind == "unknown":
            piece.unknown_failures += 1
            return "data" if piece.unknown_failures >= UNKNOWN_FAILURE_RETRIES else "transient"
        return kind

    def _isolate(self, flight: _Flight, reason: str) -> None:
        """A data failure: split the failed piece in halves, or refuse it when it is one submission."""
        piece = flight.todo.popleft()
        if not flight.bounds:
            flight.bounds, flight.seg_waiters = _segments(flight.batch)
        hi = len(flight.seg_waiters) if piece.hi < 0 else piece.hi
        if hi - piece.lo <= 1:
            self._refuse(piece, reason)
            return
        mid = (piece.lo + hi) // 2
        halves = [
            _Piece(_slice(flight.whole, flight.bounds, lo, up), waiters, lo, up)
            for lo, up in ((piece.lo, mid), (mid, hi))
            for waiters in [[w for w in flight.seg_waiters[lo:up] if w is not None]]
        ]
        flight.todo.extendleft(reversed(halves))

    def _refuse(self, piece: _Piece, reason: str) -> None:
        self.refused_submissions += 1
        self.refused_rows += len(piece.rows.readings) + len(piece.rows.statuses) + len(piece.rows.alarm_events)
        log.error(
            "the database refused one submission's data (%d reading(s), %d alarm change(s)); "
            "everything else is stored: %s",
            len(piece.rows.readings),
            len(piece.rows.alarm_events),
            reason,
        )
        for w in piece.waiters:
            if not w.done():
                w.set_exception(DataRefused(reason))


def describe_failure(error: BaseException) -> str:
    return str(error) if isinstance(error, WriteFailed) else describe(error)


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
            # machine time: message keys expire in real minutes.
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
