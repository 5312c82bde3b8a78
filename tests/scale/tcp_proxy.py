"""A TCP proxy between a real ``ivmon serve`` and PostgreSQL that a test takes down and brings back.

The PostgreSQL server on the test machines is shared, so a test may not stop
it. Seen from ivmon, a proxy that resets every connection and takes no new
one is the same fault: the server went away.

The proxy reads the client's half of the wire protocol only far enough to spot
a chosen transaction's ``COMMIT``, so that an outage can start at the worst
moment: the server has committed, its reply is lost, and the client cannot
know whether its transaction is stored (it must retry without storing anything
twice, and without failing on what it already stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Awaitable
from typing import Literal, TypeVar

from sqlalchemy.engine import make_url

#: What a connection attempt meets while the database is down: ``refuse``, an immediate reset (the
#: server stopped); ``hang``, silence (the host froze or vanished: the client waits out its timeout).
NewConnections = Literal["refuse", "hang"]

_T = TypeVar("_T")
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
#: Simple-protocol ``COMMIT`` and ``ROLLBACK`` (how psycopg ends a transaction), and the server's
#: ``CommandComplete`` for a COMMIT.
_COMMIT_QUERY = b"Q" + struct.pack("!i", 4 + 7) + b"COMMIT\x00"
_ROLLBACK_QUERY = b"Q" + struct.pack("!i", 4 + 9) + b"ROLLBACK\x00"
_COMMIT_DONE = b"C" + struct.pack("!i", 4 + 7) + b"COMMIT\x00"


class FrontendScanner:
    """Splits what a client sends into protocol messages (observing only: the bytes are relayed as they come)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._startup = True  # SSL/GSS requests and the startup message carry no type byte

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by ``data``, each as its raw bytes."""
        self._buf += data
        done: list[bytes] = []
        while (size := self._next_size()) is not None and len(self._buf) >= size:
            message = bytes(self._buf[:size])
            del self._buf[:size]
            if self._startup and struct.unpack_from("!i", message, 4)[0] not in (_SSL_REQUEST, _GSSENC_REQUEST):
                self._startup = False
            done.append(message)
        return done

    def _next_size(self) -> int | None:
        if self._startup:
            size = int(struct.unpack_from("!i", self._buf, 0)[0]) if len(self._buf) >= 8 else None
        else:
            size = 1 + int(struct.unpack_from("!i", self._buf, 1)[0]) if len(self._buf) >= 5 else None
        if size is not None and size < 5:  # would never advance: not the protocol (TLS?)
            raise ValueError(f"not a PostgreSQL protocol message (length {size})")
        return size


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (linger 0), as a crashed server's kernel does: no orderly goodbye."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        #: The transaction under way sent the bytes the proxy is armed with.
        self.marked = False
        #: Its COMMIT was relayed: the reply is dropped, then everything cut.
        self.commit_in_flight = False

    def reset(self) -> None:
        _reset(self.client)
        _reset(self.server)


class PgProxy:
    """Relays 127.0.0.1:``port`` to PostgreSQL on its own thread and event loop (tests call it from theirs)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        #: While down: how new connections are met (None: up).
        self.down: NewConnections | None = None
        self.down_since: float | None = None  # time.monotonic() of the cut
        self.connections = 0
        self.cut = 0  # connections reset by the outage
        self.refused = 0
        self.held: list[asyncio.StreamWriter] = []  # accepted during a "hang" outage, never answered
        self.commits_lost = 0  # committed on the server, reply dropped
        self._links: set[_Link] = set()
        #: Armed: the outage starts after the COMMIT of a transaction that sent ``_marker``.
        self._armed: NewConnections | None = None
        self._marker = b""
        self._went_down = threading.Event()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)

    @classmethod
    def in_front_of(cls, url: str) -> PgProxy:
        parsed = make_url(url)
        return cls(parsed.host or "127.0.0.1", parsed.port or 5432)

    def url(self, url: str) -> str:
        """``url`` through this proxy. No TLS: the proxy reads the protocol (the test server has none anyway)."""
        through = make_url(url).set(host="127.0.0.1", port=self.port)
        through = through.update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
        return through.render_as_string(hide_password=False)

    # -- the test's side (its own thread) ------------------------------------------------
    def start(self) -> PgProxy:
        self._thread.start()
        self._server = self._on_loop(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def go_down(
        self, new_connections: NewConnections, *, after_commit_of: bytes | None = None, wait_s: float = 60.0
    ) -> float:
        """Cut every connection and meet new ones as ``new_connections`` says; returns when (monotonic).

        With ``after_commit_of``, the cut waits for the COMMIT of a transaction that sent those bytes
        (in its SQL: ``b""`` for any), lets the server commit it, and drops the server's reply.
        """
        self._went_down.clear()
        if after_commit_of is not None:
            self._on_loop(self._arm(new_connections, after_commit_of))
        else:
            self._on_loop(self._cut_now(new_connections))
        if not self._went_down.wait(wait_s):
            raise AssertionError(f"no matching COMMIT through the proxy in {wait_s:g} s: the outage never started")
        assert self.down_since is not None
        return self.down_since

    def come_back(self) -> float:
        """Take connections again (those held during a ``hang`` outage stay unanswered); returns when."""
        self._on_loop(self._bring_up())
        return time.monotonic()

    def close(self) -> None:
        if self._thread.is_alive():
            self._on_loop(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def _on_loop(self, coro: Awaitable[_T], timeout: float = 30.0) -> _T:
        async def run() -> _T:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    # -- the proxy's loop ----------------------------------------------------------------
    async def _arm(self, mode: NewConnections, marker: bytes) -> None:
        self._armed, self._marker = mode, marker

    async def _cut_now(self, mode: NewConnections) -> None:
        self._cut(mode)

    async def _bring_up(self) -> None:
        self.down = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.reset()
        for writer in self.held:
            _reset(writer)
        self.held.clear()

    def _cut(self, mode: NewConnections) -> None:
        self.down, self._armed = mode, None
        self.down_since = time.monotonic()
        self.cut += len(self._links)
        for link in list(self._links):
            link.reset()
        self._links.clear()
        self._went_down.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.down == "refuse":
            self.refused += 1
            _reset(writer)
            return
        if self.down == "hang":
            self.held.append(writer)  # never read, never answered: the client's connect timeout decides
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._to_server(link, reader), self._to_client(link, up_reader))
        except (ConnectionError, OSError):
            pass  # one side went away (or was cut): the other goes too
        finally:
            self._links.discard(link)
            writer.transport.abort()
            up_writer.transport.abort()

    async def _to_server(self, link: _Link, reader: asyncio.StreamReader) -> None:
        scanner = FrontendScanner()
        while data := await reader.read(65536):
            for message in scanner.feed(data):  # always: message boundaries are only known from the start
                self._watch(link, message)
            link.server.write(data)
            await link.server.drain()
        link.server.transport.abort()

    def _watch(self, link: _Link, message: bytes) -> None:
        if message in (_COMMIT_QUERY, _ROLLBACK_QUERY):
            link.commit_in_flight = message == _COMMIT_QUERY and link.marked and self._armed is not None
            link.marked = False  # the next transaction starts unmarked
        elif self._armed is not None and self._marker in message:
            link.marked = True

    async def _to_client(self, link: _Link, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65536):
            if link.commit_in_flight and self._armed is not None:
                if _COMMIT_DONE in data:  # stored on the server; the client never hears of it
                    self.commits_lost += 1
                    self._cut(self._armed)
                    return
                link.commit_in_flight = False  # the transaction had failed (the reply was ROLLBACK)
            link.client.write(data)
            await link.client.drain()
        link.client.transport.abort()
