"""User actions as typed commands, their one codec, and the :class:`Commands` seam that runs them.

A route builds a command (``Acknowledge(alarm=...)``) and hands it to ``service.commands``:

* in the process that owns the alarm engine and the sessions (``all``, ``ingest``),
  :class:`monitor.local_commands.LocalCommands` runs it on this process's parts (the alarm
  lifecycle, the pipeline that stores and publishes the change, the sessions, the devices);
* in a web process, :class:`monitor.command_channel.RemoteCommands` sends it to the ingest
  over the ``commands`` table, where the ingest's ``LocalCommands`` runs it, and applies the
  answer to this process's screens before the request returns.

Both answer a :class:`CommandResult` or raise :class:`CommandFailed` with the HTTP status the
route answers with. The codec (:func:`encode_command`, :func:`decode_command` and the same for
results) is pydantic over the dataclasses: a malformed or unknown command in the table is
refused with a 400, never half-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, TypeAdapter, ValidationError

from monitor.events import Event, change_from_json, change_json, session_from_json, session_json
from monitor.model import AlarmChange, DischargeRecord, Phase, Session


class CommandFailed(Exception):
    """The action was refused (``status`` is the HTTP status to answer with)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class IngestUnavailable(CommandFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, 503)


# -- the commands (``kind`` names the command in the ``commands`` table) -------------------------
@dataclass(frozen=True, kw_only=True)
class Acknowledge:
    alarm: str
    kind: Literal["acknowledge"] = "acknowledge"


@dataclass(frozen=True, kw_only=True)
class Silence:
    alarm: str
    seconds: float | None = None  # None: the configured audio pause
    kind: Literal["silence"] = "silence"


@dataclass(frozen=True, kw_only=True)
class StartSession:
    bed: str
    patient_ref: str
    weight_kg: float | None = None
    dose_mg: float | None = None
    rate_mg_per_h: float | None = None
    protocol: str | None = None
    dose_mg_per_kg: float | None = None
    kind: Literal["session_start"] = "session_start"


@dataclass(frozen=True, kw_only=True)
class ChangePhase:
    session: int
    phase: Phase
    reason: str | None = None
    discharge: DischargeRecord | None = None  # a discharge's escort, and why if the criteria were not met
    kind: Literal["session_phase"] = "session_phase"


@dataclass(frozen=True, kw_only=True)
class AssociateDevice:
    bed: str
    device: str
    claim_from: float | None = None
    kind: Literal["device_associate"] = "device_associate"


@dataclass(frozen=True, kw_only=True)
class ReleaseDevice:
    bed: str
    device: str
    kind: Literal["device_release"] = "device_release"


@dataclass(frozen=True, kw_only=True)
class ClaimReadings:
    bed: str
    device: str
    since: float
    kind: Literal["device_claim"] = "device_claim"


@dataclass(frozen=True, kw_only=True)
class Publish:
    """A screen event made outside the pipeline (a note): the ingest numbers and logs it."""

    event: dict[str, Any]
    kind: Literal["publish"] = "publish"


Command = Acknowledge | Silence | StartSession | ChangePhase | AssociateDevice | ReleaseDevice | ClaimReadings | Publish


@dataclass
class CommandResult:
    """What a command did: the alarm changes, the session as it now is, the device answer, the seq."""

    changes: list[AlarmChange] = field(default_factory=list)
    session: Session | None = None
    device: dict[str, Any] | None = None  # the devices API's answer (association, ended ones)
    seq: int | None = None


class Commands(Protocol):
    """Runs users' actions where the alarm engine and the sessions live (see the module docstring)."""

    async def run(self, command: Command, user: str) -> CommandResult:
        """Done, stored and on every screen when it returns; raises :class:`CommandFailed`."""
        ...

    def publish(self, event: Event) -> None:
        """A screen event (a note) for every screen; does not wait for it."""
        ...


# -- the codec -----------------------------------------------------------------------------------
_COMMAND: TypeAdapter[Command] = TypeAdapter(Annotated[Command, Field(discriminator="kind")])


def encode_command(command: Command) -> tuple[str, dict[str, Any]]:
    """The command as the ``commands`` table keeps it: its kind and its JSON payload."""
    payload: dict[str, Any] = _COMMAND.dump_python(command, mode="json")
    return payload.pop("kind"), payload


def decode_command(kind: str, payload: Any) -> Command:
    if not isinstance(payload, dict):
        raise CommandFailed(f"malformed command {kind!r}: the payload is not an object", 400)
    try:
        return _COMMAND.validate_python({**payload, "kind": kind})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or kind}: {e['msg']}" for e in exc.errors())
        raise CommandFailed(f"malformed command {kind!r}: {problems}", 400) from None


def encode_result(result: CommandResult) -> dict[str, Any]:
    out: dict[str, Any] = {"changes": [change_json(c) for c in result.changes]}
    if result.session is not None:
        out["session"] = session_json(result.session)
    if result.device is not None:
        out["device"] = result.device
    if result.seq is not None:
        out["seq"] = result.seq
    return out


def decode_result(data: dict[str, Any]) -> CommandResult:
    session = data.get("session")
    return CommandResult(
        changes=[change_from_json(c) for c in data.get("changes", [])],
        session=session_from_json(session) if session is not None else None,
        device=data.get("device"),
        seq=data.get("seq"),
    )
