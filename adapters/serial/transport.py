"""The serial transport: owns one port, its reconnection, and hands bytes to a protocol decoder.

Reading happens in one dedicated daemon thread per port doing blocking
``read()`` calls with a short timeout. Why not ``loop.add_reader`` on the
file descriptor: pyserial's URL handlers (``socket://``, ``rfc2217://``,
``spy://``, USB-HID bridges) do not all expose a pollable fd, and
``add_reader`` is unavailable on Windows' proactor loop; a thread works for
every port pyserial can open. Why not ``asyncio.to_thread`` per read: each
port would pin a worker of the shared default executor for its lifetime.

State machine (pushed to the sink as :class:`DeviceStatus` events):
``CONNECTED`` after a successful open; ``DISCONNECTED`` when opening fails,
when the port errors or vanishes (USB unplug, pty closed), and when the
device stays silent longer than the decoder's ``silence_s`` (an unplugged
device cable behind a still-present USB adapter looks exactly like that);
``CONNECTED`` again on the next good frame or the next successful open.
Reopening retries with exponential backoff. After every (re)open the input
buffer is flushed and the decoder reset, so stale bytes are never decoded as
current and the decoder resynchronises on the next frame boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

import serial

from adapters.base import Adapter, IngestSink, register
from adapters.serial.protocol import Decoder, LineSettings, load_protocols, make_decoder
from monitor.config import SerialPort
from monitor.model import DeviceState, DeviceStatus, IngestItem
from monitor.retry import Backoff, retry
from monitor.waiting import within

log = logging.getLogger(__name__)

#: Query keys of a ``serial:`` spec that configure ivmon; any other key stays in the pyserial URL.
SPEC_KEYS = ("protocol", "bed", "baudrate", "bytesize", "parity", "stopbits", "rtscts", "name")
LINE_KEYS = ("baudrate", "bytesize", "parity", "stopbits", "rtscts")
#: Decoder options in a spec: ``opt.preset=nonin``, ``opt.interval_s=10``.
OPTION_PREFIX = "opt."


def _line_settings(protocol: str, overrides: dict[str, Any]) -> LineSettings:
    base = load_protocols()[protocol].line if protocol in load_protocols() else LineSettings()
    values: dict[str, Any] = {
        "baudrate": base.baudrate,
        "bytesize": base.bytesize,
        "parity": base.parity,
        "stopbits": base.stopbits,
        "rtscts": base.rtscts,
    }
    for key in LINE_KEYS:
        value = overrides.get(key)
        if value is None:
            continue
        if key == "rtscts":
            values[key] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        elif key == "parity":
            values[key] = str(value).upper()[:1]
        elif key == "stopbits":
            values[key] = float(value)
        else:
            values[key] = int(value)
    return LineSettings(**values)


class SerialTransport:
    """One bedside device on one serial port: an :class:`adapters.base.Adapter`."""

    def __init__(
        self,
        port: str,
        protocol: str,
        bed: str | None,
        *,
        options: dict[str, Any] | None = None,
        line: LineSettings | None = None,
        name: str | None = None,
        source: str | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        read_timeout_s: float = 0.1,
    ) -> None:
        self.port = port
        self.protocol = protocol
        self.bed = bed
        self.name = name or f"serial:{port}"
        self.source = source or f"serial:{port}"
        self.decoder: Decoder = make_decoder(protocol, self.source, bed, options or {})
        self.line = line or load_protocols()[protocol].line
        self.backoff = backoff or Backoff(first_s=0.5, max_s=10.0)
        self.clock = clock
        self.read_timeout_s = read_timeout_s
        self.silence_s = self.decoder.silence_s
        self.connected = False  # the device is talking to us (what the screens care about)
        self.port_open = False
        self.state = DeviceState.DISCONNECTED
        self.reconnects = 0
        self.open_failures = 0
        self.submit_errors = 0
        self.last_error = ""
        self.last_data: float | None = None
        self._announced: DeviceState | None = None

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, cfg: SerialPort, **kwargs: Any) -> SerialTransport:
        """From a ``[[serial]]`` entry; its line fields override the protocol's."""
        options = dict(cfg.options)
        overrides = {
            "baudrate": cfg.baudrate,
            "bytesize": cfg.bytesize,
            "parity": cfg.parity,
            "stopbits": cfg.stopbits,
            "rtscts": options.pop("rtscts", None),
        }
        line = _line_settings(cfg.protocol, overrides)
        return cls(cfg.port, cfg.protocol, cfg.bed, options=options, line=line, **kwargs)

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, object] | None = None, **kwargs: Any) -> SerialTransport:
        """``serial:/dev/ttyUSB0?protocol=masimo-ascii1&bed=chair-3`` (any pyserial URL after ``serial:``)."""
        port, params = parse_spec(spec)
        merged: dict[str, Any] = dict(options or {})
        merged.update(params)
        protocol = merged.pop("protocol", None)
        if not protocol:
            raise ValueError(f"serial adapter {spec!r} needs protocol=NAME (see `ivmon serial --list`)")
        bed = merged.pop("bed", None)
        name = merged.pop("name", None)
        line = _line_settings(str(protocol), merged)
        for key in LINE_KEYS:
            merged.pop(key, None)
        nested = merged.pop("options", None)
        if isinstance(nested, dict):
            merged.update(nested)
        return cls(
            port,
            str(protocol),
            None if bed is None else str(bed),
            options=merged,
            line=line,
            name=None if name is None else str(name),
            **kwargs,
        )

    # --- Adapter -----------------------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        now = self.clock()
        return {
            "name": self.name,
            "port": self.port,
            "protocol": self.protocol,
            "bed": self.bed,
            "line": self.line.describe(),
            "connected": self.connected,
            "port_open": self.port_open,
            "state": self.state.value,
            "reconnects": self.reconnects,
            "open_failures": self.open_failures,
            "submit_errors": self.submit_errors,
            "last_error": self.last_error,
            "last_data_age_s": None if self.last_data is None else round(now - self.last_data, 3),
            **self.decoder.stats.as_dict(),
        }

    async def run(self, sink: IngestSink) -> None:
        delays = self.backoff.delays()
        first = True
        while True:
            try:
                port = await asyncio.to_thread(self._open)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.open_failures += 1
                self.last_error = f"open failed: {exc}"
                if first or self._announced is not DeviceState.DISCONNECTED:
                    log.warning("%s: cannot open %s: %s", self.name, self.port, exc)
                await self._announce(sink, DeviceState.DISCONNECTED, f"cannot open port: {exc}")
                first = False
                await asyncio.sleep(next(delays))
                continue
            first = False
            delays = self.backoff.delays()
            try:
                reason = await self._session(port, sink)
            finally:
                await asyncio.to_thread(_close_quietly, port)
                self.port_open = False
                self.connected = False  # also when cancelled (service stopping): nothing is read any more
            self.reconnects += 1
            log.warning("%s: port lost: %s", self.name, reason)
            await self._announce(sink, DeviceState.DISCONNECTED, reason)
            await asyncio.sleep(next(delays))

    # --- internals ---------------------------------------------------------------------------------

    def _open(self) -> serial.SerialBase:
        port = serial.serial_for_url(
            self.port,
            do_not_open=True,
            baudrate=self.line.baudrate,
            bytesize=self.line.bytesize,
            parity=self.line.parity,
            stopbits=self.line.stopbits,
            rtscts=self.line.rtscts,
            timeout=self.read_timeout_s,
            write_timeout=2.0,
        )
        with contextlib.suppress(AttributeError, ValueError):
            port.exclusive = True  # a second ivmon (or a terminal) on the same port would steal bytes
        port.open()
        # Whatever sat in the driver's buffer was sent before we listened: never decode it as current.
        port.reset_input_buffer()
        return port

    async def _session(self, port: serial.SerialBase, sink: IngestSink) -> str:
        """Pumps one open port until it fails; returns why."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        stop = threading.Event()
        reader = threading.Thread(
            target=_read_loop, args=(port, queue, loop, stop), name=f"ivmon-{self.name}", daemon=True
        )
        self.decoder.reset()
        self.port_open = True
        opened = self.clock()
        self.last_data = None
        await self._announce(sink, DeviceState.CONNECTED, f"opened {self.port} ({self.line.describe()})")
        reader.start()
        try:
            while True:
                await self._write(port, self.decoder.poll(self.clock()))
                try:
                    chunk = await within(queue.get(), min(1.0, self.silence_s / 2))
                except TimeoutError:
                    chunk = b""
                if isinstance(chunk, BaseException):
                    self.last_error = f"read failed: {chunk}"
                    return self.last_error
                now = self.clock()
                if chunk:
                    frames_before = self.decoder.stats.frames_ok
                    items = self.decoder.feed(chunk, now)
                    # Any good frame proves the device is talking, even one with no valid value in it
                    # (sensor off, all invalid markers): that is the sensor's state, not a lost link.
                    if self.decoder.stats.frames_ok > frames_before:
                        self.last_data = now
                        if self._announced is not DeviceState.CONNECTED:
                            await self._announce(sink, DeviceState.CONNECTED, "data resumed")
                    if items:
                        await self._submit(sink, items)
                quiet_since = self.last_data if self.last_data is not None else opened
                if now - quiet_since > self.silence_s and self._announced is not DeviceState.DISCONNECTED:
                    # Port open but the device says nothing: cable out, device off, wrong baud rate.
                    self.decoder.reset()
                    await self._announce(
                        sink, DeviceState.DISCONNECTED, f"no data for {self.silence_s:g} s (port still open)"
                    )
        finally:
            stop.set()
            await asyncio.to_thread(reader.join, 2.0)

    async def _write(self, port: serial.SerialBase, data: bytes) -> None:
        if not data:
            return
        try:
            await asyncio.to_thread(port.write, data)
        except (serial.SerialException, OSError) as exc:
            # A failed request is retried by the decoder's schedule; a dead port shows up on the read side.
            self.last_error = f"write failed: {exc}"
            log.warning("%s: %s", self.name, self.last_error)

    async def _announce(self, sink: IngestSink, state: DeviceState, detail: str) -> None:
        self.state = state
        self.connected = state is DeviceState.CONNECTED
        if state is self._announced:
            return
        self._announced = state
        status = DeviceStatus(self.source, state, self.clock(), bed=self.bed, detail=detail)
        await self._submit(sink, [status])

    async def _submit(self, sink: IngestSink, items: Sequence[IngestItem]) -> None:
        """Hands items to the sink; retries rather than drop (a lost reading or status must never be silent)."""

        def failed(exc: BaseException, delay: float) -> None:  # the sink's failure must not kill the port
            self.submit_errors += 1
            log.error("%s: submit failed (%s), retrying in %.1f s", self.name, type(exc).__name__, delay)

        result = await retry(lambda: sink.submit(items), Backoff(first_s=0.1, max_s=5.0), on_failure=failed)
        if result.rejected:
            log.warning("%s: %d item(s) rejected: %s", self.name, result.rejected, "; ".join(result.errors))


def _read_loop(
    port: serial.SerialBase,
    queue: asyncio.Queue[bytes | BaseException],
    loop: asyncio.AbstractEventLoop,
    stop: threading.Event,
) -> None:
    """Reader thread: blocking reads, results posted to the loop; ends on ``stop`` or the first error."""
    while not stop.is_set():
        try:
            data = port.read(max(1, port.in_waiting))
        except Exception as exc:  # SerialException, OSError (EIO on a vanished pty/USB), TypeError after close
            if not stop.is_set():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
            return
        if data:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, data)
            except RuntimeError:  # loop closed
                return


def _close_quietly(port: serial.SerialBase) -> None:
    with contextlib.suppress(Exception):
        port.close()


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``serial:PORT?k=v`` into the pyserial port/URL and ivmon's own keys.

    Ours: ``protocol``, ``bed``, ``name``, the line settings, and decoder
    options prefixed ``opt.`` (returned without the prefix).
    Unknown query keys stay with the port: pyserial URLs use them too
    (``spy:///dev/ttyUSB0?file=log``, ``socket://host:7000?logging=debug``).
    """
    if not spec.lower().startswith("serial:"):
        raise ValueError(f"not a serial spec: {spec!r}")
    port, _, query = spec[len("serial:") :].partition("?")
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in SPEC_KEYS:
            ours[key] = value
        elif key.startswith(OPTION_PREFIX):
            ours[key[len(OPTION_PREFIX) :]] = value
        else:
            theirs.append((key, value))
    if theirs:
        port = f"{port}?{urlencode(theirs)}"
    if not port:
        raise ValueError(f"serial spec {spec!r} names no port")
    return port, ours


@register("serial")
def _factory(spec: str, options: dict[str, object]) -> Adapter:
    return SerialTransport.from_spec(spec, options)
