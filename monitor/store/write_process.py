"""The batch writer's transactions in a process of their own.

Why a process: the database driver releases the GIL around every row it
steps, and takes it back before the next. In the service's process the event
loop holds the GIL most of the time under load, so each commit crawled from
row to row while the loop waited for it: at thousands of messages a second
the two threads throttled each other (bench/hl7_ingest.py). In its own process
the writer has an interpreter to itself; the service's process only pickles
each batch (plain tuples) and waits on a pipe, with the GIL released.

One request at a time (the writer commits one batch after another). The
child exits when the pipe closes, i.e. when the service's process goes away
by any means, SIGKILL included. A child that dies is started again and the
batch retried; the batch's own key (:mod:`monitor.store.transaction`) makes
that retry harmless if the lost answer was a commit.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from monitor.store.transaction import BatchRows, Written

log = logging.getLogger(__name__)


class WriteFailed(RuntimeError):
    """The child could not write a batch (nothing of it was committed, or it was and will be found so)."""


def _serve(conn: Connection, url: str) -> None:
    """The child: answer each batch with ``("ok", Written)`` or ``("error", text)`` until the pipe closes."""
    from monitor.store import database  # imported in the child: it holds its own engine
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
            answer = ("error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
            engine.dispose()  # a broken connection must not be handed out again
        try:
            conn.send(answer)
        except (BrokenPipeError, OSError):
            return


class WriteProcess:
    """Owns the child; :meth:`write` is called from one thread at a time (the writer's)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.url), name="ivmon-writer", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def write(self, rows: BatchRows) -> Written:
        with self._lock:
            if self._conn is None or self._process is None or not self._process.is_alive():
                self._restart()
            assert self._conn is not None
            try:
                self._conn.send(rows)
                status, result = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._restart()
                raise WriteFailed(f"the writer process ended ({type(exc).__name__}); restarted") from None
        if status != "ok":
            raise WriteFailed(str(result))
        assert isinstance(result, Written)
        return result

    def _restart(self) -> None:
        if self._process is not None:
            self.restarts += 1
            log.error("the writer process (pid %s) is gone; starting another", self._process.pid)
        self.stop()
        self.start()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the child sees EOF and exits after its current batch
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
            self._process = None
