"""The command channel: typed user actions (``monitor.commands``) from a web process to the ingest process.

The path: the web process inserts a ``commands`` row and ``NOTIFY ivmon_commands``
in one transaction; the ingest claims pending rows (``pending -> running``,
once), runs them through its own engine and pipeline (so the change is stored
and published exactly as in one process), writes the result, and
``NOTIFY ivmon_command_done``. The web request waits for that answer, so a
nurse's acknowledgement returns only once it is stored and on every screen.

A command the ingest has not taken within ``timeout_s`` is withdrawn (the
request fails with 503, nothing happens later); the ingest also refuses
commands older than ``max_age_s`` (an ingest restarting after an outage must
not replay a phase change a nurse was told had failed). Both sides poll as
well as listen: a lost notification costs a second, never the action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import Engine

from monitor.commands import (
    Command,
    CommandFailed,
    CommandResult,
    IngestUnavailable,
    Publish,
    decode_command,
    decode_result,
    encode_command,
    encode_result,
)
from monitor.events import Event
from monitor.live import LiveState
from monitor.store import commands as command_store
from monitor.waiting import wait_event

log = logging.getLogger(__name__)

COMMANDS_CHANNEL = "ivmon_commands"
DONE_CHANNEL = "ivmon_command_done"

#: The ingest's way of running a command (``LocalCommands.run``).
Runner = Callable[[Command, str], Awaitable[CommandResult]]


class CommandClient:
    """The web side: :meth:`call` returns the ingest's result or raises :class:`CommandFailed`."""

    def __init__(self, engine: Engine, *, timeout_s: float = 10.0, poll_s: float = 0.5) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._waiting: dict[int, asyncio.Event] = {}

    def on_done(self, payload: str | None) -> None:
        """PgListener handler for :data:`DONE_CHANNEL` (``None`` after a reconnect: wake every waiter)."""
        if payload is None:
            for waiter in self._waiting.values():
                waiter.set()
        elif payload.isdigit() and (found := self._waiting.get(int(payload))) is not None:
            found.set()

    async def call(self, command: Command, user: str) -> CommandResult:
        kind, payload = encode_command(command)
        command_id = await asyncio.to_thread(self._insert, kind, payload, user)
        done = self._waiting[command_id] = asyncio.Event()
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                await wait_event(done, self.poll_s)
                done.clear()
                status, result = await asyncio.to_thread(self._status, command_id)
                if status in ("done", "error", "expired"):
                    return decode_result(_result(status, result))
                if time.monotonic() > deadline and await asyncio.to_thread(self._withdraw, command_id):
                    raise IngestUnavailable(
                        f"the ingest process did not take the action within {self.timeout_s:g} s; it was not done"
                    )
                if time.monotonic() > deadline + self.timeout_s:  # taken, but not finished (storage down?)
                    raise IngestUnavailable(
                        "the ingest process took the action but has not confirmed it; check the screen before retrying"
                    )
        finally:
            self._waiting.pop(command_id, None)

    def submit_nowait(self, command: Command, user: str) -> None:
        """Fire and forget (a note's screen event): the ingest publishes it when it can."""
        kind, payload = encode_command(command)
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._insert, kind, payload, user))
        task.add_done_callback(_log_failure)

    def _insert(self, kind: str, payload: dict[str, Any], user: str) -> int:
        return command_store.insert_command(self.engine, kind, payload, user, COMMANDS_CHANNEL)

    def _status(self, command_id: int) -> tuple[str, str | None]:
        return command_store.command_status(self.engine, command_id)

    def _withdraw(self, command_id: int) -> bool:
        return command_store.withdraw_command(self.engine, command_id)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("could not queue a command for the ingest process: %s", task.exception())


def _result(status: str, result: str | None) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(result) if result else {}
    if status == "done":
        return data
    if status == "expired":
        raise IngestUnavailable(str(data.get("error", "the action expired before the ingest process took it")))
    raise CommandFailed(str(data.get("error", "the ingest process refused the action")), int(data.get("status", 409)))


class RemoteCommands:
    """:class:`monitor.commands.Commands` in a web process: the ingest runs them, this process shows the result.

    The alarm changes the ingest made are applied to this process's screens before the request
    returns (the event log brings them too, later; applying one twice changes nothing).
    """

    def __init__(self, client: CommandClient, live: LiveState) -> None:
        self.client = client
        self.live = live

    async def run(self, command: Command, user: str) -> CommandResult:
        result = await self.client.call(command, user)
        for change in result.changes:
            self.live.update_alarm(change.alarm)
        return result

    def publish(self, event: Event) -> None:
        self.client.submit_nowait(Publish(event=event), str(event.get("user") or "web"))


class CommandExecutor:
    """The ingest side: runs pending commands, in order, with ``run`` (the ingest's ``LocalCommands.run``)."""

    def __init__(self, engine: Engine, run: Runner, *, max_age_s: float = 30.0, poll_s: float = 1.0) -> None:
        self.engine = engine
        self.run_command = run
        self.max_age_s = max_age_s
        self.poll_s = poll_s
        self.wake = asyncio.Event()
        self.executed = 0
        self.failed = 0
        self.expired = 0

    def on_command(self, _payload: str | None) -> None:
        """PgListener handler for :data:`COMMANDS_CHANNEL`."""
        self.wake.set()

    async def run(self) -> None:
        while True:
            await wait_event(self.wake, self.poll_s)
            self.wake.clear()
            try:
                await self.run_pending()
            except Exception:
                log.exception("running commands failed; retrying")

    async def run_pending(self) -> int:
        claimed = await asyncio.to_thread(self._claim)
        for command_id, ts, kind, payload, user in claimed:
            # Wall time, not the clinic's clock: the age of a row written by another process.
            if time.time() - ts > self.max_age_s:
                self.expired += 1
                await asyncio.to_thread(self._finish, command_id, "expired", {"error": "too old when taken"})
                continue
            result: dict[str, Any]
            try:
                command = decode_command(kind, orjson.loads(payload))
                result = encode_result(await self.run_command(command, user))
                status = "done"
                self.executed += 1
            except CommandFailed as exc:
                result, status = {"error": str(exc), "status": exc.status}, "error"
                self.failed += 1
            except Exception as exc:  # a bug, not the user's fault: answer, never leave the nurse hanging
                log.exception("command %s (%s) failed", command_id, kind)
                result, status = {"error": f"internal error: {type(exc).__name__}", "status": 500}, "error"
                self.failed += 1
            await asyncio.to_thread(self._finish, command_id, status, result)
        return len(claimed)

    def _claim(self) -> list[tuple[int, float, str, str, str]]:
        return command_store.claim_commands(self.engine)

    def _finish(self, command_id: int, status: str, result: dict[str, Any]) -> None:
        command_store.finish_command(self.engine, command_id, status, result, DONE_CHANNEL)
