"""The event bus across processes, on PostgreSQL: the ``events`` table is the log, NOTIFY the doorbell.

Design (why not NOTIFY payloads): the ingest process gives every event its
``seq`` and the :class:`~monitor.store.writer.BatchWriter` stores it in the
``events`` table in the same transaction as the readings and alarms it
describes, then ``pg_notify('ivmon_events', last_seq)`` in that transaction
(delivered at commit, so nobody is woken before the rows are visible). A web
process (:class:`PgEventBus`) only ever reads ``events WHERE seq > last``:

- no 8000-byte payload limit, one NOTIFY per batch (not per event);
- a lost notification (listener reconnecting, network blip) costs latency,
  not data: the bus also polls every ``poll_s``;
- every web process sees the same seqs, so a screen moved to another web
  process resumes with ``?since=SEQ`` from the ring or from the table.

Readings get their seq the same way (their screen events are logged): replay
from the ``readings`` table by id would need a second numbering merged with
the events' one. Reading, heartbeat and device events are pruned after
``keep_s`` (the resume window); alarms, sessions and notes stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy import Engine

from monitor.bus import Event, InMemoryBus, Subscriber, Subscribers
from monitor.events import TRANSIENT_TYPES, decode, encode
from monitor.retry import Backoff
from monitor.store import events as event_store
from monitor.store.transaction import EVENTS_CHANNEL
from monitor.store.writer import BatchWriter
from monitor.waiting import wait_event

log = logging.getLogger(__name__)


class LoggedBus(InMemoryBus):
    """The in-memory bus (local screens) whose events also go to the event log, each stored once.

    ``types``: the event types logged (None: all, for web processes on PostgreSQL; a single process
    on SQLite keeps only alarms, sessions and notes). ``shared``: other processes read this log, so
    its seq space is named after the database (``epoch``) rather than after this process.
    """

    def __init__(
        self,
        writer: BatchWriter,
        *,
        start_seq: int = 0,
        keep: int = 200_000,
        types: frozenset[str] | None = None,
        shared: bool = True,
    ) -> None:
        super().__init__(start_seq=start_seq, keep=keep)
        self.writer = writer
        self.types = types
        self.epoch = log_epoch(writer.engine) if shared else None

    def publish(self, event: Event) -> int:
        seq = super().publish(event)
        kind = event["type"]
        if self.types is None or kind in self.types:
            # Stamped with the machine's time: the log's age decides pruning and the web's lag figures.
            self.writer.add_event(seq, time.time(), kind, encode(event).decode())
        return seq


def prune_events(engine: Engine, keep_s: float, now: float | None = None) -> int:
    """Drop transient events older than ``keep_s`` (never the newest event: it carries the seq on restart)."""
    # machine time: the log's age decides pruning.
    cutoff = (time.time() if now is None else now) - keep_s
    return event_store.prune_events(engine, cutoff, TRANSIENT_TYPES)


def log_epoch(engine: Engine) -> str:
    """The seq space's name: the same for every process on this database (a screen's ``since``
    from one web process is good on another). Seqs never repeat within it (``monitor.roles``)."""
    url = engine.url
    return "log-" + hashlib.sha256(f"{url.host}:{url.port}/{url.database}".encode()).hexdigest()[:12]


def psycopg_dsn(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


NotifyHandler = Callable[[str | None], None]


class PgListener:
    """One dedicated LISTEN connection (psycopg's ``notifies()`` blocks other queries on it).

    Handlers get the payload, or ``None`` after every (re)connect: notifications
    may have been missed, so they must look at the table themselves.
    """

    def __init__(self, dsn: str, *, retry_max_s: float = 5.0) -> None:
        self.dsn = dsn
        self.retry_max_s = retry_max_s
        self.handlers: dict[str, list[NotifyHandler]] = {}
        self.connected = False
        self.reconnects = 0
        self.last_error: str | None = None
        self.backend_pid: int | None = None

    def on(self, channel: str, handler: NotifyHandler) -> None:
        self.handlers.setdefault(channel, []).append(handler)

    def _dispatch(self, channel: str, payload: str | None) -> None:
        for handler in self.handlers.get(channel, []):
            try:
                handler(payload)
            except Exception:
                log.exception("notification handler for %s failed", channel)

    async def run(self) -> None:
        backoff = Backoff(first_s=0.2, max_s=self.retry_max_s)
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                async with conn:
                    for channel in self.handlers:
                        await event_store.listen(conn, channel)
                    self.connected, self.backend_pid = True, conn.info.backend_pid
                    backoff.reset()
                    for channel in self.handlers:
                        self._dispatch(channel, None)
                    async for note in conn.notifies():
                        self._dispatch(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                log.warning("LISTEN connection lost (%s); reconnecting with backoff", self.last_error)
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(backoff.next_delay())


class PgEventBus:
    """The web side of :class:`LoggedBus`: delivers logged events in seq order to this process's subscribers."""

    def __init__(
        self,
        engine: Engine,
        listener: PgListener,
        *,
        start_seq: int | None = None,
        keep: int = 50_000,  # ~1 min at 1,000 beds; older resumes read the log
        poll_s: float = 1.0,
        max_replay: int = 100_000,
        fetch_rows: int = 5000,
    ) -> None:
        self.engine = engine
        self.epoch = log_epoch(engine)
        self.listener = listener
        self.poll_s = poll_s
        self.max_replay = max_replay
        self.fetch_rows = fetch_rows
        self._seq = event_store.newest_seq(engine) if start_seq is None else start_seq
        self._ring: deque[Event] = deque(maxlen=keep)
        self._subscribers = Subscribers()
        self._wake = asyncio.Event()
        listener.on(EVENTS_CHANNEL, lambda _payload: self._wake.set())
        #: Health: the log is readable; when it last was; gaps seen (should stay 0).
        self.db_ok = True
        self.db_error: str | None = None
        self.db_failing_since: float | None = None
        # machine time: the health of the log reader.
        self.last_fetch_ok = time.time()
        self.gaps = 0
        self.delivered = 0
        self.lag_observer: Callable[[float], None] | None = None

    # -- EventBus ------------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, event: Event) -> int:
        """Local-only events (this process's outage alarm): not logged, no new seq.

        Heartbeats are dropped: screens get the ingest's, through the log, so a
        heartbeat proves the whole path from the devices is alive, not just this process.
        """
        if event.get("type") == "heartbeat":
            return self._seq
        event["seq"] = self._seq
        self._notify(event)
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(subscriber)

    def since(self, seq: int) -> list[Event] | None:
        if seq > self._seq:  # the screen came from a web process a little ahead of this one
            with contextlib.suppress(Exception):
                self._deliver(self._fetch(self._seq, self.max_replay))
        if seq > self._seq:
            return None
        if seq == self._seq:
            return []
        if self._ring and self._ring[0]["seq"] <= seq + 1:
            start = seq + 1 - self._ring[0]["seq"]
            if start < len(self._ring) and self._ring[start]["seq"] == seq + 1:  # no gap: arithmetic holds
                return [self._ring[i] for i in range(start, len(self._ring))]
        try:
            rows = self._fetch(seq, min(self.max_replay, self._seq - seq))
        except Exception:
            log.exception("replay from the event log failed; sending a snapshot")
            return None
        # Contiguous from seq+1 to what this process has delivered, or a snapshot (pruned, too old).
        if len(rows) != self._seq - seq or (rows and rows[0][0] != seq + 1):
            return None
        return [decode(payload, s) for s, _ts, payload in rows]

    # -- the pump ------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver what the log holds beyond ``last_seq``: on NOTIFY, and every ``poll_s`` regardless."""
        listener = asyncio.create_task(self.listener.run(), name="pg-listener")
        try:
            while True:
                await wait_event(self._wake, self.poll_s)
                self._wake.clear()
                await self.pump_once()
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener

    async def pump_once(self) -> int:
        delivered = 0
        try:
            while True:
                rows = await asyncio.to_thread(self._fetch, self._seq, self.fetch_rows)
                delivered += self._deliver(rows)
                self._fetched_ok()
                if len(rows) < self.fetch_rows:
                    return delivered
        except Exception as exc:
            self._fetch_failed(exc)
            return delivered

    def _fetch(self, after: int, limit: int) -> list[tuple[int, float, str]]:
        return event_store.events_after(self.engine, after, limit)

    def _deliver(self, rows: list[tuple[int, float, str]]) -> int:
        # machine time: delivery lag across processes.
        now = time.time()
        n = 0
        for seq, ts, payload in rows:
            if seq <= self._seq:  # already delivered (since() caught up meanwhile)
                continue
            if seq != self._seq + 1:
                self.gaps += 1
                log.warning("event log gap: %d -> %d (pruned or an ingest restart)", self._seq, seq)
            event = decode(payload, seq)
            self._seq = seq
            self._ring.append(event)
            self._notify(event)
            if self.lag_observer is not None:
                self.lag_observer(max(0.0, now - ts))
            n += 1
        self.delivered += n
        return n

    def _notify(self, event: Event) -> None:
        self._subscribers.notify(event)

    def _fetched_ok(self) -> None:
        self.db_ok, self.db_error, self.db_failing_since = True, None, None
        # machine time: the health of the log reader.
        self.last_fetch_ok = time.time()

    def _fetch_failed(self, exc: Exception) -> None:
        if self.db_ok:
            log.error("cannot read the event log: %s", exc)
        self.db_ok = False
        self.db_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if self.db_failing_since is None:
            # machine time: the health of the log reader.
            self.db_failing_since = time.time()

    def health(self) -> dict[str, Any]:
        return {
            "kind": "postgres-listen",
            "listening": self.listener.connected,
            "listen_reconnects": self.listener.reconnects,
            "log_readable": self.db_ok,
            "last_error": self.db_error or self.listener.last_error,
            # machine time: the health of the log reader.
            "last_read_age_s": round(time.time() - self.last_fetch_ok, 1),
            "delivered": self.delivered,
            "gaps": self.gaps,
            "seq": self._seq,
        }


async def prune_loop(engine: Engine, keep_s: float, every_s: float = 60.0) -> None:
    """The ingest's janitor: keep the transient part of the log to the resume window."""
    while True:
        await asyncio.sleep(every_s)
        try:
            n = await asyncio.to_thread(prune_events, engine, keep_s)
            if n:
                log.debug("pruned %d transient events", n)
        except Exception as exc:
            log.warning("pruning the event log failed: %s", exc)


Background = Callable[[], Awaitable[None]]
