"""The batch writer's transactions in a process of their own.

Why a process: the database driver releases the GIL around every row it
steps, and takes it back before the next. In the service's process the event
loop holds the GIL most of the time under load, so each commit crawled from
row to row while the loop waited for it: at thousands of messages a second
the two threads throttled each other (bench/hl7_ingest.py). In its own process
the writer has an interpreter to itself.

The service's side is plain event-loop I/O on the pipe (no thread): a batch
is pickled (plain tuples) and written, the answer read when it comes. A thread
in between would wait for the GIL twice per commit (to pickle, to unpickle)
and hand the answer back through the loop's queue, lengthening every commit
cycle, which is what a sender waiting for its ACK waits on.

One request at a time (the writer commits one batch after another). The
child exits when the pipe closes, i.e. when the service's process goes away
by any means, SIGKILL included. A child that dies is started again and the
batch retried; the batch's own key (:mod:`monitor.store.transaction`) makes
that retry harmless if the lost answer was a commit.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import cast

from monitor.store.failures import FailureKind
from monitor.store.transaction import BatchRows, Written

log = logging.getLogger(__name__)

#: multiprocessing.Connection's framing: a signed 4-byte big-endian length, then the pickle.
_LENGTH = struct.Struct("!i")


class WriteFailed(RuntimeError):
    """The child could not write a batch (nothing of it was committed, or it was and will be found so).

    ``kind`` is the child's reading of the error (:func:`monitor.store.failures.classify`): the
    exception itself stays in the child.
    """

    def __init__(self, text: str, kind: FailureKind = "transient") -> None:
        super().__init__(text)
        self.kind: FailureKind = kind


def _serve(conn: Connection, url: str) -> None:
    """The child: answer each batch with ``("ok", Written)`` or ``(kind, text)`` until the pipe closes."""
    # Ctrl-C and a service stop signal the whole process group: the child must outlive them, so
    # that the service can write what it still holds; it leaves when the pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from monitor.store import database  # imported in the child: it holds its own engine
    from monitor.store.failures import classify, describe
    from monitor.store.transaction import write_rows

    engine = database.make_engine(url)
    # Each batch is a few thousand short-lived tuples: collect them by reference count, not by scans.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    while True:
        try:
            rows = conn.recv()
        except (EOFError, OSError):  # the service's process is gone
            return
        try:
            answer: tuple[str, object] = ("ok", write_rows(engine, rows))
        except Exception as exc:
            kind = classify(exc)
            answer = (kind, describe(exc))
            if kind != "data":
                engine.dispose()  # a broken connection must not be handed out again
        try:
            conn.send(answer)
        except (BrokenPipeError, OSError):
            return


Done = Callable[[Written | None, BaseException | None], None]


class WriteProcess:
    """Owns the child and the service's end of its pipe; used from the event loop by one writer.

    :meth:`send` writes a batch; its ``done`` callback gets the answer from the pipe's own
    callback, so the writer can send the next batch without waiting for a turn of the loop.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._process: BaseProcess | None = None
        self._pipe: _Pipe | None = None
        self._restarting: asyncio.Task[None] | None = None
        self.restarts = 0

    async def start(self) -> None:
        parent, child = self._context.Pipe()  # duplex: a socket pair
        process = self._context.Process(target=_serve, args=(child, self.url), name="ivmon-writer", daemon=True)
        process.start()
        child.close()
        sock = socket.socket(fileno=os.dup(parent.fileno()))
        parent.close()
        loop = asyncio.get_running_loop()
        _transport, self._pipe = await loop.create_connection(_Pipe, sock=sock)
        self._process = process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def send(self, rows: BatchRows, done: Done) -> None:
        """Write ``rows``; ``done(written, None)`` or ``done(None, error)`` is called once, on the loop."""
        pipe = self._pipe
        if pipe is None or pipe.lost or self._process is None or not self._process.is_alive():
            self._restart_soon()
            asyncio.get_running_loop().call_soon(done, None, WriteFailed("the writer process is starting again"))
            return
        pipe.request(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL), done)

    def _restart_soon(self) -> None:
        if self._restarting is None or self._restarting.done():
            self._restarting = asyncio.get_running_loop().create_task(self._restart(), name="writer-process-restart")

    async def _restart(self) -> None:
        if self._process is not None:
            self.restarts += 1
            log.error("the writer process (pid %s) is gone; starting another", self._process.pid)
        await self.stop()
        await self.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Close the pipe; the child exits after its current batch, or is killed after ``grace_s``."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.close()  # the child sees EOF and exits after its current batch
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(_join, process, grace_s)


class _Pipe(asyncio.Protocol):
    """The service's end of the pipe: one request at a time, answers framed as multiprocessing's."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._done: Done | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass asyncio.Transport

    def request(self, data: bytes, done: Done) -> None:
        assert self._done is None and self.transport is not None, "one request at a time"
        self._done = done
        self.transport.write(_LENGTH.pack(len(data)) + data)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) < _LENGTH.size:
            return
        (size,) = _LENGTH.unpack_from(self._buffer)
        if len(self._buffer) < _LENGTH.size + size:
            return
        status, result = pickle.loads(self._buffer[_LENGTH.size : _LENGTH.size + size])
        del self._buffer[: _LENGTH.size + size]
        done, self._done = self._done, None
        if done is None:
            return
        if status == "ok" and isinstance(result, Written):
            done(result, None)
        else:
            kind: FailureKind = status if status in ("data", "unknown") else "transient"
            done(None, WriteFailed(str(result), kind))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        done, self._done = self._done, None
        if done is not None:
            done(None, WriteFailed(f"the writer process ended ({type(exc).__name__ if exc else 'EOF'})"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _join(process: BaseProcess, grace_s: float) -> None:
    process.join(grace_s)
    if process.is_alive():
        process.kill()
        process.join(5)
