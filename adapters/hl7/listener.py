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
from collections import Counter, deque
from collections.abc import Coroutine, Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from adapters.base import IngestSink, register
from adapters.hl7.ack import INTERNAL_ERROR, AckError, build_ack
from adapters.hl7.codes import CodeMap
from adapters.hl7.exposure import check_exposure, posture, server_context
from adapters.hl7.message import HL7Error, decode, parse
from adapters.hl7.mllp import Event, Frame, MllpFramer, frame
from adapters.hl7.observed import CodeLedger
from adapters.hl7.pcd01 import Refused, check_processing_id, check_supported, interpret, read_header
from adapters.hl7.rawlog import RawLog
from monitor.binding import Bindings
from monitor.clock import REAL_CLOCK, Clock
from monitor.config import Hl7Settings
from monitor.model import DataRefused, DeviceAlarm, DeviceState, DeviceStatus, IngestItem, Quality, Reading

log = logging.getLogger(__name__)

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: An unassigned device silent this long no longer counts against its sender's cap.
UNASSIGNED_FORGET_S = 600.0
#: Rule of the technical alarm naming a sender that sends too many unassigned devices.
FLOOD_RULE = "hl7_too_many_devices"


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

    def __init__(
        self,
        settings: Hl7Settings | None = None,
        *,
        data_dir: Path | None = None,
        name: str = "hl7",
        clock: Clock = REAL_CLOCK,
        bindings: Bindings | None = None,
    ) -> None:
        self.clock = clock
        self.settings = settings or Hl7Settings()
        self.name = name
        self.codes = CodeMap.from_config(self.settings.local_codes)
        #: Every observation code seen (the integrator's view), flushed to storage by the service.
        self.observed = CodeLedger(self.codes)
        # The service's one binding state (on-screen associations included); alone: the configuration's.
        self.binder = bindings if bindings is not None else Bindings.from_config(self.settings.bindings)
        self._quiet_until: dict[tuple[str, str], float] = {}
        self.tz = _local_tz(self.settings.timezone)
        self._allow = _networks(self.settings.allow)
        check_exposure(self.settings)
        self._ssl = server_context(self.settings.tls)
        #: Unassigned (unbound) devices heard, by sender address: device id -> last heard (monotonic).
        self._unassigned: dict[str, dict[str, float]] = {}
        self._unassigned_total = 0
        #: Sender addresses whose "too many devices" alarm is on -> when their last message was refused.
        self._flooding: dict[str, float] = {}
        raw_dir = data_dir / "hl7-failed" if data_dir is not None else None
        self.raw_log = RawLog(self.settings.raw_log_messages, raw_dir)
        self.counters: Counter[str] = Counter()
        self.last_error = ""
        self._per_address: Counter[str] = Counter()
        self._connections: set[_Connection] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._sink: IngestSink | None = None

    def reload(self, settings: Hl7Settings) -> list[str]:
        """Take the parts of a re-read configuration that apply while running; returns what changed.

        ``local_codes`` (a new mapping takes effect with the next message) and
        ``processing_ids``. A bad mapping raises ValueError and changes nothing.
        """
        changed: list[str] = []
        if settings.local_codes != self.settings.local_codes:
            codes = CodeMap.from_config(settings.local_codes)
            self.codes = codes
            self.observed.replace_codes(codes)
            changed.append("local_codes")
        if settings.processing_ids != self.settings.processing_ids:
            changed.append("processing_ids")
        if changed:
            self.settings = self.settings.model_copy(
                update={"local_codes": settings.local_codes, "processing_ids": settings.processing_ids}
            )
            self.counters["reloads"] += 1
        return changed

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, sink: IngestSink) -> None:
        self._sink = sink
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.settings.host, self.settings.port, ssl=self._ssl
        )
        log.info("HL7/MLLP listening on %s:%d (%s)", self.settings.host, self.port, posture(self.settings))

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
        for conn in list(self._connections):
            conn.close()
        try:
            async with asyncio.timeout(2.0):
                await server.wait_closed()
        except TimeoutError:  # a peer that reads nothing keeps its socket open: cut it
            for conn in list(self._connections):
                conn.abort()

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
            "connections": len(self._connections),
            "counters": dict(self.counters),
            "failed_frames_kept": len(self.raw_log.entries),
            "codes_pending": len(self.observed),
            "codes_overflow": self.observed.overflow,
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

    def _admit(self, host: str) -> bool:
        """Allow-list and per-address cap for a new connection (refusals are counted and logged)."""
        if not self._allowed(host):
            self.counters["refused_not_allowed"] += 1
            log.warning("HL7: refused connection from %s (not in hl7.allow)", host)
            return False
        if self._per_address[host] >= self.settings.max_connections_per_address:
            self.counters["refused_over_cap"] += 1
            log.warning(
                "HL7: refused connection from %s (already %d open, hl7.max_connections_per_address)",
                host,
                self._per_address[host],
            )
            return False
        self._per_address[host] += 1
        self.counters["connections"] += 1
        return True

    def _run_soon(self, job: Coroutine[Any, Any, None]) -> None:
        """A task the listener holds until it ends (the loop keeps only weak references to tasks)."""
        task = asyncio.get_running_loop().create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _closed(self, conn: _Connection) -> None:
        host = conn.host
        self.counters["junk_bytes"] += conn.framer.junk_bytes
        self._per_address[host] -= 1
        if self._per_address[host] <= 0:
            del self._per_address[host]
        self._connections.discard(conn)

    async def _disconnected(self, sources: Mapping[str, str | None], host: str = "") -> None:
        """Tell the pipeline the devices of a closed connection are gone (it raises the alarm if they stay silent).

        Not when the listener itself is stopping: that is the server going down, not the devices.
        """
        if not sources or self._sink is None or self._server is None:
            return
        now = self.clock.now()
        items: list[IngestItem] = [
            DeviceStatus(source, DeviceState.DISCONNECTED, now, bed=bed, address=host)
            for source, bed in sources.items()
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
        arrival = self.clock.now()
        try:
            check_supported(header)
            training = check_processing_id(header, self.settings.processing_ids)
            if training:
                reply["processing_id"] = header.processing_id
            result = interpret(
                msg,
                self.codes,
                self.binder,
                default_tz=self.tz,
                header=header,
                latest_ts=arrival + self.settings.max_clock_ahead_s,
                arrival=arrival,
                ledger=self.observed,
                peer=host,
            )
            self._check_unassigned(result.items, host)
        except Refused as exc:
            keep = True
            if exc.code == 202:
                self.counters[f"refused_processing_id_{header.processing_id or 'P'}"] += 1
                keep = self._first_in_a_while((host, header.processing_id))
            reply["processing_id"] = header.processing_id or "P"
            return self._refuse(
                exc.ack, exc.code, exc.reason, payload, host, header.control_id, reply, location=exc.location, keep=keep
            )
        except Exception:
            self.counters["internal_errors"] += 1
            log.exception("HL7: could not interpret message %r from %s", header.control_id, host)
            return self._refuse(
                "AE", INTERNAL_ERROR, "message could not be interpreted", payload, host, header.control_id, reply
            )
        warnings = [AckError(102, reason, "W") for reason in [*result.errors, *result.warnings]]
        self.counters["rows_refused"] += len(result.errors)
        if result.clamped:
            self.counters["future_times_clamped"] += result.clamped
        if result.errors and not result.items:
            errors = [AckError(102, reason) for reason in result.errors]
            self._fail(host, "; ".join(result.errors)[:500], payload, header.control_id)
            self.counters["ack_AE"] += 1
            return build_ack("AE", header.control_id, errors=errors, **reply)
        if result.errors:
            self._fail(host, "; ".join(result.errors)[:500], payload, header.control_id)
        items = result.items
        if training:
            items = self._as_training(items)
        if items:
            now = self.clock.now()  # connection events are the server's observations, on its clock
            model = result.header.sending_app.split("^", 1)[0].strip() if result.header is not None else ""
            new = [
                DeviceStatus(i.source, DeviceState.CONNECTED, now, bed=i.bed, address=host, model=model[:64])
                for i in self._first_seen(items, sources)
            ]
            try:
                stored = await self._sink_submit([*new, *items], header.dedupe_key)
            except DataRefused as exc:
                # This message's data will never be stored (the database refuses it for good); the
                # rest of its batch was stored. Resending it cannot help: AE with the reason.
                self.counters["refused_by_storage"] += 1
                return self._refuse(
                    "AE",
                    INTERNAL_ERROR,
                    f"the database refused this message's data: {exc.reason}"[:200],
                    payload,
                    host,
                    header.control_id,
                    reply,
                )
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

    # -- unassigned devices: one message must not flood the screens -----------------------------
    def _check_unassigned(self, items: list[IngestItem], host: str) -> None:
        """Refuse (AR) a message that would take this sender past its cap of distinct unassigned devices.

        A device bound to no chair is shown as a tile of its own and can raise alarms; 7,500 device
        ids in one message made 7,800 tiles and as many alarms (issue 13). Devices silent for
        ``UNASSIGNED_FORGET_S`` no longer count.
        """
        known = self._unassigned.get(host)
        new: set[str] = set()
        for item in items:
            if item.bed is None and (known is None or item.source not in known):
                new.add(item.source)
        now = time.monotonic()
        if known is not None:
            for item in items:
                if item.bed is None and item.source in known:
                    known[item.source] = now
        if not new:
            self._flood_over(host, now)
            return
        per_host = self.settings.max_unassigned_per_address
        total = self.settings.max_unassigned_total
        if len(known or ()) + len(new) > per_host or self._unassigned_total + len(new) > total:
            self._forget_silent(now)
            known = self._unassigned.get(host)
        have = len(known or ())
        if have + len(new) > per_host or self._unassigned_total + len(new) > total:
            self.counters["refused_too_many_devices"] += 1
            self._flood_alarm(host, have + len(new), now)
            limit = f"{per_host} per sender address, {total} in all"
            raise Refused(
                "AR",
                INTERNAL_ERROR,
                f"too many unassigned devices ({have} known from this sender, {len(new)} new; {limit}): "
                "bind them to chairs with [[hl7.bindings]] or raise hl7.max_unassigned_per_address",
            )
        known = self._unassigned.setdefault(host, {})
        for source in new:
            known[source] = now
        self._unassigned_total += len(new)
        self._flood_over(host, now)

    def _forget_silent(self, now: float) -> None:
        for host, known in list(self._unassigned.items()):
            for source, heard in list(known.items()):
                if now - heard > UNASSIGNED_FORGET_S:
                    del known[source]
                    self._unassigned_total -= 1
            if not known:
                del self._unassigned[host]

    def _flood_alarm(self, host: str, devices: int, now: float) -> None:
        """One technical alarm per flooding sender (not one per device), raised through the pipeline."""
        raised = host in self._flooding
        self._flooding[host] = now
        if raised:
            return
        log.error("HL7 from %s: too many unassigned devices (%d); its messages are refused (AR)", host, devices)
        self._run_soon(self._submit_flood_alarm(host, active=True))

    def _flood_over(self, host: str, now: float) -> None:
        """The alarm ends once the sender has had no message refused for ``UNASSIGNED_FORGET_S``."""
        last = self._flooding.get(host)
        if last is not None and now - last > UNASSIGNED_FORGET_S:
            del self._flooding[host]
            self._run_soon(self._submit_flood_alarm(host, active=False))

    async def _submit_flood_alarm(self, host: str, *, active: bool) -> None:
        if self._sink is None:
            return
        alarm = DeviceAlarm(
            source=f"hl7:{host}"[:128],
            ts=self.clock.now(),
            priority="medium",
            message=f"HL7 sender {host} sends too many unassigned devices: its messages are refused",
            code=FLOOD_RULE,
            active=active,
            technical=True,
        )
        try:
            await self._sink.submit([alarm])
        except Exception:
            log.exception("HL7: could not record the alarm for sender %s", host)

    async def _sink_submit(self, items: list[IngestItem], key: str) -> Any:
        if self._sink is None:
            raise RuntimeError("listener not started")
        return await self._sink.submit(items, dedupe_key=key)

    #: A sender refused for the same reason is logged (and its frame kept) once in this many seconds:
    #: a central station in demo mode sends every bed every few seconds, and each refusal is counted anyway.
    QUIET_S = 600.0

    def _first_in_a_while(self, key: tuple[str, str]) -> bool:
        now = time.monotonic()
        if self._quiet_until.get(key, 0.0) > now:
            return False
        if len(self._quiet_until) > 1000:  # bounded: many senders cannot grow it without limit
            self._quiet_until.clear()
        self._quiet_until[key] = now + self.QUIET_S
        return True

    def _as_training(self, items: list[IngestItem]) -> list[IngestItem]:
        """Training/debugging data (MSH-11 T or D, accepted by configuration): readings marked and
        unbound from any chair, so they are never on a patient's tile nor judged; the device's own
        alarms about simulated patients are dropped (counted)."""
        kept: list[IngestItem] = []
        for item in items:
            if isinstance(item, Reading):
                item.quality = Quality.TRAINING
                item.bed = None
                kept.append(item)
            elif isinstance(item, DeviceAlarm):
                self.counters["training_alarms_dropped"] += 1
            else:
                kept.append(item)
        self.counters["training_messages"] += 1
        return kept

    @staticmethod
    def _first_seen(items: list[IngestItem], sources: dict[str, str | None]) -> list[Reading | DeviceAlarm]:
        """Devices new on this connection (a monitor that only sends alarms is one too)."""
        first: list[Reading | DeviceAlarm] = []
        for item in items:
            if isinstance(item, Reading | DeviceAlarm) and item.source not in sources:
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
        location: str = "",
    ) -> bytes:
        self.counters[f"ack_{code}"] += 1
        if keep:
            self._fail(host, reason, payload, control_id)
        return build_ack(code, control_id, errors=[AckError(err, reason, location=location)], **(reply or {}))


class _Connection(asyncio.Protocol):
    """One sender's connection: frames in, one ACK per frame out, in order.

    A protocol rather than streams: the per-message cost of a stream reader, a
    timeout scope per read and a drain is most of what an idle-looking listener
    spends at thousands of messages a second (bench/hl7_ingest.py). Frames are
    answered one after another by one task at a time; reading pauses while too
    many wait, and while the sender does not read its ACKs.
    """

    #: Frames waiting for their turn before the connection stops reading (a sender that pipelines).
    MAX_WAITING = 64

    def __init__(self, listener: MllpListener) -> None:
        self.listener = listener
        self.framer = MllpFramer(listener.settings.max_message_bytes)
        self.host = "unknown"
        self.sources: dict[str, str | None] = {}  # devices heard on this connection -> their bed
        self.transport: asyncio.Transport | None = None
        self._waiting: deque[Event] = deque()
        self._task: asyncio.Task[None] | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._reading_paused = False
        self._admitted = False
        self._lost = False
        self._last_data = 0.0
        self._idle: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        self.host = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self.listener._admit(self.host):
            self.transport.close()
            return
        self._admitted = True
        self.listener._connections.add(self)
        loop = asyncio.get_running_loop()
        self._last_data = loop.time()
        self._idle = loop.call_later(self.listener.settings.idle_timeout_s, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        self._last_data = asyncio.get_running_loop().time()
        events = self.framer.feed(data)
        if not events:
            return
        self._waiting.extend(events)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._answer_waiting())
        if len(self._waiting) > self.MAX_WAITING and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        return False  # close once the frames already received are answered (see connection_lost)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._can_write.set()  # nothing more will be written: let the task finish
        if self._idle is not None:
            self._idle.cancel()
        if not self._admitted:
            return
        if exc is not None:
            log.info("HL7: connection from %s lost (%s)", self.host, exc.__class__.__name__)
        self.listener._closed(self)
        if self._task is None:
            self._after_close()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- answering -------------------------------------------------------------------------
    async def _answer_waiting(self) -> None:
        listener = self.listener
        transport = self.transport
        assert transport is not None
        try:
            while self._waiting:
                event = self._waiting.popleft()
                if isinstance(event, Frame):
                    reply: bytes | None = await listener._answer(event.payload, self.host, self.sources)
                else:
                    listener.counters["framing_errors"] += 1
                    reply = listener._framing_failed(event.reason, event.raw, self.host)
                if reply is not None and not self._lost:
                    transport.write(frame(reply))
                if not self._can_write.is_set():
                    await self._can_write.wait()  # the sender is not reading its ACKs
                if self._reading_paused and len(self._waiting) <= self.MAX_WAITING // 2 and not self._lost:
                    self._reading_paused = False
                    transport.resume_reading()
        except Exception:  # a bug must cost one connection, never the listener
            listener.counters["internal_errors"] += 1
            log.exception("HL7: internal error on the connection from %s", self.host)
            transport.close()
        finally:
            self._task = None
            if self._lost:
                self._after_close()

    def _after_close(self) -> None:
        if self.sources:
            self.listener._run_soon(self.listener._disconnected(self.sources, self.host))

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last_data
        timeout = self.listener.settings.idle_timeout_s
        if quiet >= timeout and self._task is None:
            log.info("HL7: closing idle connection from %s", self.host)
            self.close()
        else:  # one timer per idle period, not one per read
            self._idle = loop.call_later(max(timeout - quiet, 0.05), self._check_idle)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


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
