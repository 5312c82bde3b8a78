"""Delivery of the outbox: one sender per destination, in order, retried while the EHR is down.

The outbox is the only queue: a sender holds nothing the database does not. It sends the oldest
pending entry of its destination and moves on only when the destination has answered it:

- accepted (HL7 ``AA``, HTTP 2xx): the entry is ``sent``;
- refused for the data (HL7 ``AE``, HTTP 4xx): the entry is ``failed`` with the reason, shown on the
  row, never retried blindly (the same message would be refused again);
- not taken (HL7 ``AR``, HTTP 5xx, refused connection, timeout): retried with backoff, the same
  message under the same identity (``MSH-10``, FHIR identifier), so a receiver that got it before
  keeps one copy. Later entries wait: a patient's rows are filed in order.

A restart resumes from the database. A destination failing longer than ``notice_after_s`` is a
site-wide technical notice (``monitor.outage.OutageAlarm``, wired in ``monitor.service``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from monitor.retry import Backoff
from monitor.store import charting as store
from monitor.store.charting import OutboxEntry
from monitor.waiting import wait_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a destination answered: ``ok``; else ``retry`` (transient) or not (refused for good)."""

    ok: bool
    retry: bool = False
    reason: str = ""


ACCEPTED = Outcome(ok=True)


def refused(reason: str) -> Outcome:
    return Outcome(ok=False, retry=False, reason=reason)


def transient(reason: str) -> Outcome:
    return Outcome(ok=False, retry=True, reason=reason)


class Destination(Protocol):
    """An EHR endpoint (``adapters.ehr``): encodes one outbox entry and delivers it."""

    name: str

    async def deliver(self, entry: OutboxEntry) -> Outcome: ...

    async def close(self) -> None: ...


class OutboxSender:
    """Delivers one destination's outbox entries; run it as a background task."""

    def __init__(
        self,
        engine: Engine,
        destination: Destination,
        *,
        poll_s: float = 0.5,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.destination = destination
        self.poll_s = poll_s
        self.backoff = backoff or Backoff(first_s=1.0, max_s=60.0)
        self.clock = clock
        self.sent = 0
        self.failed = 0
        self.retries = 0
        #: Since when the destination has not taken anything (None: it is taking messages).
        self.failing_since: float | None = None
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        #: The commit marking the last delivered entry as sent, running while the next one is sent.
        self._marking: asyncio.Future[None] | None = None

    @property
    def name(self) -> str:
        return self.destination.name

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    def down_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._marked()  # an entry not yet marked sent must not be read as pending
                    entries = await asyncio.to_thread(store.pending, self.engine, self.name)
                    for entry in entries:
                        await self._deliver_until_answered(entry)
                except Exception as exc:  # the database is away: the outbox waits for it
                    log.warning("EHR outbox %s: database unavailable (%s)", self.name, type(exc).__name__)
                    entries = []
                if not entries:
                    self._wake.clear()
                    await wait_event(self._wake, self.poll_s)
        finally:
            with contextlib.suppress(Exception):
                await self._marked()
            await self.destination.close()

    async def _marked(self) -> None:
        marking, self._marking = self._marking, None
        if marking is not None:
            await marking

    async def _deliver_until_answered(self, entry: OutboxEntry) -> None:
        while True:
            try:
                outcome = await self.destination.deliver(entry)
            except Exception as exc:  # an encoder bug must not stop every later row
                log.exception("EHR %s: entry %d could not be encoded", self.name, entry.id)
                outcome = refused(f"could not be encoded: {type(exc).__name__}")
            now = self.clock()
            if outcome.ok:
                # Committed while the next entry is on the wire: the commit and the round trip overlap.
                # A crash before it commits resends this entry, under the same identity (MSH-10,
                # FHIR identifier), which the receiver keeps once.
                await self._marked()
                self._marking = asyncio.ensure_future(asyncio.to_thread(store.mark_sent, self.engine, entry.id, now))
                self.sent += 1
                self._healthy()
                return
            await self._marked()
            if not outcome.retry:
                # The reason goes to the row on screen, not to the log: an EHR's text may name the patient.
                log.warning("EHR %s refused entry %d (%s)", self.name, entry.id, _kind(outcome.reason))
                await asyncio.to_thread(store.mark_failed, self.engine, entry.id, outcome.reason[:2000], now)
                self.failed += 1
                self._healthy()  # it answered: the destination is up
                return
            self.retries += 1
            self.last_error = outcome.reason
            if self.failing_since is None:
                self.failing_since = now
                log.warning("EHR %s not taking messages (%s): retrying", self.name, _kind(outcome.reason))
            await asyncio.to_thread(store.note_attempt, self.engine, entry.id, outcome.reason)
            await asyncio.sleep(self.backoff.next_delay())

    def _healthy(self) -> None:
        if self.failing_since is not None:
            log.warning("EHR %s taking messages again", self.name)
        self.failing_since = None
        self.last_error = None
        self.backoff.reset()


def _kind(reason: str) -> str:
    """The class of a failure (``HL7 AE``, ``HTTP 503``, ``ConnectionRefusedError``) without its text."""
    return reason.split(":", 1)[0][:40]
