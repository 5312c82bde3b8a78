"""The MLLP listener: bedside monitors and gateways connect, send HL7, get one ACK per message.

``AA`` is sent only after ``await sink.submit(...)`` returned, i.e. once the
readings are committed; a sender that gets no ``AA`` resends, and the dedupe
key makes the resend a no-op. One connection handles its frames in order (ACKs
must come back in order); many connections run concurrently and the pipeline
groups their commits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import IngestSink, register
from adapters.hl7.ack import INTERNAL_ERROR, AckError, build_ack
from adapters.hl7.binding import Binder
from adapters.hl7.codes import CodeMap
from adapters.hl7.message import HL7Error, decode, parse
from adapters.hl7.mllp import Frame, MllpFramer, frame
from adapters.hl7.pcd01 import Refused, check_supported, interpret, read_header
from adapters.hl7.rawlog import RawLog
from monitor.config import Hl7Settings
from monitor.model import DeviceState, DeviceStatus, IngestItem, Reading

log = logging.getLogger(__name__)

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _local_tz(name: str) -> tzinfo:
    """The zone for timestamps sent without an offset (the devices' local time)."""
    if name:
        return UTC if name.upper() == "UTC" else ZoneInfo(name)
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        return UTC


def _networks(allow: list[str]) -> list[_Network]:
    nets: list[_Network] = []
    for entry in allow:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"hl7.allow: {entry!r} is not an IP address or CIDR network") from None
    return nets


class MllpListener:
    """The ``mllp`` adapter (see :mod:`adapters.base`)."""

    def __init__(self, settings: Hl7Settings | None = None, *, data_dir: Path | None = None, name: str = "hl7") -> None:
        self.settings = settings or Hl7Settings()
        self.name = name
        self.codes = CodeMap.from_config(self.settings.local_codes)
        self.binder = Binder(self.settings.bindings)
        self.tz = _local_tz(self.settings.timezone)
        self._allow = _networks(self.settings.allow)
        raw_dir = data_dir / "hl7-failed" if data_dir is not None else None
        self.raw_log = RawLog(self.settings.raw_log_messages, raw_dir)
        self.counters: Counter[str] = Counter()
        self.last_error = ""
        self._per_address: Counter[str] = Counter()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._sink: IngestSink | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, sink: IngestSink) -> None:
        self._sink = sink
        self._server = await asyncio.start_server(self._serve, self.settings.host, self.settings.port)
        log.info("HL7/MLLP listening on %s:%d", self.settings.host, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.settings.port
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()

    async def run(self, sink: IngestSink) -> None:
        await self.start(sink)
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def health(self) -> dict[str, object]:
        return {
            "listening": self._server is not None,
            "port": self.port,
            "connections": len(self._writers),
            "counters": dict(self.counters),
            "failed_frames_kept": len(self.raw_log.entries),
            "last_error": self.last_error,
        }

    # -- connections -------------------------------------------------------------------------

    def _allowed(self, host: str) -> bool:
        if not self._allow:
            return True
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self._allow)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self._allowed(host):
            self.counters["refused_not_allowed"] += 1
            log.warning("HL7: refused connection from %s (not in hl7.allow)", host)
            writer.close()
            return
        if self._per_address[host] >= self.settings.max_connections_per_address:
            self.counters["refused_over_cap"] += 1
            log.warning(
                "HL7: refused connection from %s (already %d open, hl7.max_connections_per_address)",
                host,
                self._per_address[host],
            )
            writer.close()
            return
        self._per_address[host] += 1
        self._writers.add(writer)
        self.counters["connections"] += 1
        framer = MllpFramer(self.settings.max_message_bytes)
        sources: dict[str, str | None] = {}  # devices heard on this connection -> their bed
        try:
            while True:
                try:
                    async with asyncio.timeout(self.settings.idle_timeout_s):
                        data = await reader.read(65536)
                except TimeoutError:
                    log.info("HL7: closing idle connection from %s", host)
                    break
                if not data:
                    break
                for event in framer.feed(data):
                    if isinstance(event, Frame):
                        writer.write(frame(await self._answer(event.payload, host, sources)))
                    else:
                        self.counters["framing_errors"] += 1
                        refusal = self._framing_failed(event.reason, event.raw, host)
                        if refusal is not None:
                            writer.write(frame(refusal))
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("HL7: connection from %s lost (%s)", host, exc.__class__.__name__)
        except Exception:  # a bug must cost one connection, never the listener
            self.counters["internal_errors"] += 1
            log.exception("HL7: internal error on the connection from %s", host)
        finally:
            self.counters["junk_bytes"] += framer.junk_bytes
            self._per_address[host] -= 1
            if self._per_address[host] <= 0:
                del self._per_address[host]
            self._writers.discard(writer)
            writer.close()
            await self._disconnected(sources)

    async def _disconnected(self, sources: Mapping[str, str | None]) -> None:
        """Tell the pipeline the devices of a closed connection are gone (it raises the alarm if they stay silent).

        Not when the listener itself is stopping: that is the server going down, not the devices.
        """
        if not sources or self._sink is None or self._server is None:
            return
        now = time.time()
        items: list[IngestItem] = [
            DeviceStatus(source, DeviceState.DISCONNECTED, now, bed=bed) for source, bed in sources.items()
        ]
        try:
            await self._sink.submit(items)
        except Exception:
            log.exception("HL7: could not record a disconnection")

    def _framing_failed(self, reason: str, raw: bytes, host: str) -> bytes | None:
        """Log a framing error; answer AE when the bytes were a message we can name (its MSH-10)."""
        body = raw[1:] if raw[:1] == b"\x0b" else raw
        header = None
        if body.startswith(b"MSH"):
            try:
                header = read_header(parse(decode(body[:4096])[0]))
            except (HL7Error, Refused):
                header = None
        if header is None or not header.control_id:
            self._fail(host, reason, raw, "")
            return None
        reply = {
            "version": header.version,
            "trigger": header.trigger,
            "receiving_app": header.sending_app,
            "receiving_facility": header.sending_facility,
        }
        return self._refuse("AE", INTERNAL_ERROR, reason, raw, host, header.control_id, reply)

    def _fail(self, host: str, reason: str, raw: bytes, control_id: str) -> None:
        self.last_error = reason
        self.raw_log.add(host, reason, raw)
        # Reason texts name segments, fields and codes, never their patient content.
        log.warning("HL7 from %s: %s (control id %r, %d bytes kept in the raw log)", host, reason, control_id, len(raw))

    # -- one message -------------------------------------------------------------------------

    async def _answer(self, payload: bytes, host: str, sources: dict[str, str | None]) -> bytes:
        """The ACK for one frame; never raises (a bug answers AE and is counted)."""
        self.counters["messages"] += 1
        text, codec = decode(payload)
        if codec == "latin-1":
            self.counters["latin1_fallback"] += 1
        try:
            msg = parse(text)
        except HL7Error as exc:
            return self._refuse("AE", 100, str(exc), payload, host)
        header = read_header(msg)
        reply: dict[str, Any] = {
            "version": header.version,
            "trigger": header.trigger,
            "receiving_app": header.sending_app,
            "receiving_facility": header.sending_facility,
        }
        try:
            check_supported(header)
            result = interpret(
                msg,
                self.codes,
                self.binder,
                default_tz=self.tz,
                header=header,
                latest_ts=time.time() + self.settings.max_clock_ahead_s,
            )
        except Refused as exc:
            return self._refuse(exc.ack, exc.code, exc.reason, payload, host, header.control_id, reply)
        except Exception:
            self.counters["internal_errors"] += 1
            log.exception("HL7: could not interpret message %r from %s", header.control_id, host)
            return self._refuse(
                "AE", INTERNAL_ERROR, "message could not be interpreted", payload, host, header.control_id, reply
            )
        warnings = [AckError(102, reason, "W") for reason in result.errors]
        self.counters["rows_refused"] += len(result.errors)
        if result.errors and not result.items:
            errors = [AckError(102, reason) for reason in result.errors]
            self._fail(host, "; ".join(result.errors)[:500], payload, header.control_id)
            self.counters["ack_AE"] += 1
            return build_ack("AE", header.control_id, errors=errors, **reply)
        if result.errors:
            self._fail(host, "; ".join(result.errors)[:500], payload, header.control_id)
        items = result.items
        if items:
            now = time.time()  # connection events are the server's observations, on its clock
            new = [
                DeviceStatus(i.source, DeviceState.CONNECTED, now, bed=i.bed) for i in self._first_seen(items, sources)
            ]
            try:
                stored = await self._sink_submit([*new, *items], header.dedupe_key)
            except Exception as exc:
                self.counters["storage_errors"] += 1
                self.last_error = f"storage failed: {exc.__class__.__name__}"
                log.exception("HL7: message %r from %s could not be stored", header.control_id, host)
                return self._refuse(
                    "AE",
                    INTERNAL_ERROR,
                    "readings could not be stored; resend later",
                    b"",
                    host,
                    header.control_id,
                    reply,
                    keep=False,
                )
            if stored.duplicate:
                self.counters["duplicates"] += 1
            self.counters["readings"] += stored.stored
            warnings.extend(AckError(102, reason, "W") for reason in stored.errors)
        self.counters["ack_AA"] += 1
        return build_ack("AA", header.control_id, errors=warnings, **reply)

    async def _sink_submit(self, items: list[IngestItem], key: str) -> Any:
        if self._sink is None:
            raise RuntimeError("listener not started")
        return await self._sink.submit(items, dedupe_key=key)

    @staticmethod
    def _first_seen(items: list[IngestItem], sources: dict[str, str | None]) -> list[Reading]:
        first: list[Reading] = []
        for item in items:
            if isinstance(item, Reading) and item.source not in sources:
                sources[item.source] = item.bed
                first.append(item)
        return first

    def _refuse(
        self,
        code: str,
        err: int,
        reason: str,
        payload: bytes,
        host: str,
        control_id: str = "",
        reply: dict[str, Any] | None = None,
        *,
        keep: bool = True,
    ) -> bytes:
        self.counters[f"ack_{code}"] += 1
        if keep:
            self._fail(host, reason, payload, control_id)
        return build_ack(code, control_id, errors=[AckError(err, reason)], **(reply or {}))


@register("mllp")
def create_listener(spec: str, options: dict[str, object]) -> MllpListener:
    """``mllp://HOST:PORT`` (either part optional) plus options: the ``[hl7]`` settings and ``data_dir``."""
    opts = dict(options)
    data_dir = opts.pop("data_dir", None)
    settings = Hl7Settings.model_validate(opts)
    rest = spec.split("://", 1)[1] if "://" in spec else ""
    rest = rest.split("/", 1)[0]
    if rest:
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
        updates: dict[str, object] = {}
        if host:
            updates["host"] = host.strip("[]")
        if port:
            updates["port"] = int(port)
        settings = settings.model_copy(update=updates)
    return MllpListener(settings, data_dir=Path(str(data_dir)) if data_dir is not None else None)
