"""WebSocket fan-out: every screen gets every event, and no screen can slow another.

Each client has its own lane: readings are coalesced to the latest per bed
(and vital) while the client lags; alarms, sessions and device events queue
in order and are never dropped. A sender task per client drains its lane at
most once per tick into a single frame; an alarm or session change does not
wait for the rest of the tick (it goes at once, with the pending readings). A client whose lane overflows, or
whose socket does not take a frame within ``send_timeout_s``, is disconnected
(it reconnects with ``?since=SEQ`` and catches up). The publisher's side is a
dict assignment per client: the pipeline never waits for a screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from typing import Any

from starlette.websockets import WebSocket

from monitor.bus import Event
from monitor.events import encode, unencoded
from monitor.waiting import wait_event, within

log = logging.getLogger(__name__)


class ClientLane:
    def __init__(self, ws: WebSocket, user: str, *, token: str = "", max_important: int = 5_000) -> None:
        self.ws = ws
        self.user = user
        self.token = token  # the login session's token hash: logout closes that session's screens only
        #: A central view: its open socket keeps the login from its idle timeout (dashboard/revocation.py).
        self.central = False
        self.max_important = max_important
        self.readings: dict[Any, Event] = {}  # (bed or source) -> latest (merged) reading event
        self.important: deque[Event] = deque()
        self.wake = asyncio.Event()
        self.urgent = asyncio.Event()  # an alarm or session change is waiting: do not sit out the tick
        self.overflowed = False
        self.closed = False
        self.frames_sent = 0
        self.sending_since: float | None = None  # loop time a send started that has not finished

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        if event["type"] == "reading":
            key = event["bed"] or ("source", event.get("source"))
            held = self.readings.get(key)
            if held is None:
                self.readings[key] = event
            else:  # the client lags: keep the latest value of every vital, drop the intermediate ones
                merged = unencoded(held)
                merged["vitals"] = {**held["vitals"], **event["vitals"]}
                merged["quality"] = {**held["quality"], **event["quality"]}
                for vital in event["vitals"]:
                    if vital not in event["quality"]:
                        merged["quality"].pop(vital, None)
                merged["ts"] = event["ts"]
                merged["seq"] = event["seq"]
                merged["session"] = event["session"]
                self.readings[key] = merged
        else:
            if event["type"] != "heartbeat":
                self.urgent.set()
            if len(self.important) >= self.max_important:
                # Never drop an alarm: a lane this far behind is closed instead (the screen resumes from its seq).
                self.overflowed = True
            self.important.append(event)
        self.wake.set()

    def drain(self) -> bytes | None:
        if not self.readings and not self.important:
            return None
        events = [*self.important, *self.readings.values()]
        self.important.clear()
        self.readings.clear()
        if len(events) == 1:
            return encode(events[0])
        # In seq order, so a screen sees seq increase within and across frames.
        events.sort(key=lambda e: e["seq"])
        return b'{"type":"batch","seq":%d,"messages":[' % events[-1]["seq"] + b",".join(map(encode, events)) + b"]}"


class Hub:
    def __init__(self, *, tick_s: float = 0.05, send_timeout_s: float = 5.0) -> None:
        self.tick_s = tick_s
        self.send_timeout_s = send_timeout_s
        self.clients: set[ClientLane] = set()
        self.disconnected_slow = 0
        #: This server instance. Seqs restart after a restart (readings are not in the replay log), so a
        #: screen's ``since`` only means something together with the epoch it was counted in.
        self.epoch = uuid.uuid4().hex[:12]

    def __call__(self, event: Event) -> None:
        """The bus subscriber: hand the event to every lane (never blocks)."""
        for lane in self.clients:
            lane.offer(event)

    async def serve(self, lane: ClientLane, first: bytes, backlog: list[Event]) -> None:
        """Send ``first`` (snapshot) and ``backlog``, then the live stream until the socket closes."""
        # The backlog goes into the lane before anything can be published meanwhile: live events
        # must follow it, or a resumed screen could see an alarm resolve before it started.
        for event in backlog:
            lane.offer(event)
        self.clients.add(lane)
        try:
            await within(lane.ws.send_text(first.decode()), self.send_timeout_s)
            receiver = asyncio.create_task(self._receive(lane))
            try:
                await self._send_loop(lane, receiver)
            finally:
                receiver.cancel()
                with contextlib.suppress(BaseException):
                    await receiver
        except TimeoutError:
            self.disconnected_slow += 1
            log.info("disconnecting a slow screen (%s)", lane.user)
        except Exception as exc:  # a socket that went away mid-send
            log.debug("screen connection ended: %s", exc)
        finally:
            lane.closed = True
            self.clients.discard(lane)
            with contextlib.suppress(Exception):
                await lane.ws.close(code=1013 if lane.overflowed else 1000)

    async def _send_loop(self, lane: ClientLane, receiver: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        while not receiver.done() and not lane.closed:
            await lane.wake.wait()
            lane.wake.clear()
            if lane.overflowed:
                self.disconnected_slow += 1
                log.info("screen lane overflowed, disconnecting (%s)", lane.user)
                return
            lane.urgent.clear()
            frame = lane.drain()
            if frame is None:
                continue
            started = lane.sending_since = loop.time()
            await within(lane.ws.send_text(frame.decode()), self.send_timeout_s)
            lane.sending_since = None
            lane.frames_sent += 1
            # Readings: one frame per tick at most; what arrives meanwhile is batched (and coalesced).
            # An alarm or session change ends the wait at once and takes the pending readings along.
            rest = self.tick_s - (loop.time() - started)
            if rest > 0 and not lane.urgent.is_set():
                await wait_event(lane.urgent, rest)

    async def _receive(self, lane: ClientLane) -> None:
        """Read (and ignore) what the client sends, to notice when it closes."""
        try:
            while True:
                msg = await lane.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return
        finally:
            lane.wake.set()  # the sender must not wait for the next event to notice

    async def close_user(self, username: str, token: str | None = None) -> None:
        """Logout closes the sockets of that login (``token``), or all of the user's with no token."""
        await self.close_lanes([c for c in self.clients if c.user == username and (token is None or c.token == token)])

    async def close_logins(self, tokens: set[str]) -> None:
        """Close the sockets of logins that ended (elsewhere, expired or idle)."""
        await self.close_lanes([c for c in self.clients if c.token in tokens])

    async def close_lanes(self, lanes: list[ClientLane]) -> None:
        for lane in lanes:
            lane.closed = True
            lane.wake.set()
            with contextlib.suppress(Exception):
                await lane.ws.close(code=4001, reason="logged out")
