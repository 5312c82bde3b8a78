"""Users' actions run in this process: the one that owns the alarm engine, the sessions and the writer.

:class:`LocalCommands` is :class:`monitor.commands.Commands` for the ``all`` and ``ingest``
roles: the routes of a single process and the commands a web process sends to the ingest
(``monitor.command_channel.CommandExecutor``) end here, so an action is checked, done, stored
and published the same way wherever the nurse clicked.
"""

from __future__ import annotations

from typing import Any

from monitor.clock import Clock
from monitor.commands import (
    Acknowledge,
    AssociateDevice,
    ChangePhase,
    ClaimReadings,
    Command,
    CommandFailed,
    CommandResult,
    Publish,
    ReleaseDevice,
    Silence,
    StartSession,
)
from monitor.devices import DeviceError, DeviceManager
from monitor.events import Event
from monitor.live import LiveState
from monitor.model import AlarmChange, Session
from monitor.pipeline import AlarmStage, Pipeline
from monitor.sessions import SessionError, SessionManager


class LocalCommands:
    def __init__(
        self,
        *,
        alarms: AlarmStage,
        pipeline: Pipeline,
        sessions: SessionManager,
        devices: DeviceManager,
        live: LiveState,
        clock: Clock,
    ) -> None:
        self.alarms = alarms
        self.pipeline = pipeline
        self.sessions = sessions
        self.devices = devices
        self.live = live
        self.clock = clock

    async def run(self, command: Command, user: str) -> CommandResult:
        match command:
            case Acknowledge() | Silence():
                return CommandResult(changes=await self._alarm_action(command, user))
            case StartSession():
                return CommandResult(session=await self._start(command, user))
            case ChangePhase():
                try:
                    session = await self.sessions.change_phase(
                        command.session, command.phase, user, reason=command.reason, discharge=command.discharge
                    )
                except SessionError as exc:
                    raise CommandFailed(str(exc), 409) from None
                return CommandResult(session=session)
            case AssociateDevice() | ReleaseDevice() | ClaimReadings():
                return CommandResult(device=await self._device(command, user))
            case Publish():
                return CommandResult(seq=self.pipeline.publish(command.event))

    def publish(self, event: Event) -> None:
        self.pipeline.publish(event)

    async def _alarm_action(self, command: Acknowledge | Silence, user: str) -> list[AlarmChange]:
        alarm_id = command.alarm
        if alarm_id not in self.live.alarms:
            raise CommandFailed(f"no alarm {alarm_id} on screen", 404)
        now = self.clock.now()
        try:
            if isinstance(command, Acknowledge):
                changes = self.alarms.acknowledge(alarm_id, user, now)
            else:
                changes = self.alarms.silence(alarm_id, user, now, command.seconds)
        except KeyError:
            raise CommandFailed(f"alarm {alarm_id} is no longer active", 404) from None
        except ValueError as exc:  # an audio pause that is not a positive number of seconds
            raise CommandFailed(str(exc), 422) from None
        await self.pipeline.user_alarm_changes(changes)  # stored and on every screen before the answer
        return changes

    async def _start(self, command: StartSession, user: str) -> Session:
        try:
            return await self.sessions.start(
                command.bed,
                command.patient_ref,
                user,
                weight_kg=command.weight_kg,
                dose_mg=command.dose_mg,
                rate_mg_per_h=command.rate_mg_per_h,
                protocol=command.protocol,
                dose_mg_per_kg=command.dose_mg_per_kg,
            )
        except SessionError as exc:
            raise CommandFailed(str(exc), 409) from None

    async def _device(self, command: AssociateDevice | ReleaseDevice | ClaimReadings, user: str) -> dict[str, Any]:
        try:
            match command:
                case AssociateDevice():
                    return await self.devices.associate(
                        command.bed, command.device, user, claim_from=command.claim_from
                    )
                case ReleaseDevice():
                    return await self.devices.release(command.bed, command.device, user)
                case ClaimReadings():
                    return await self.devices.claim(command.bed, command.device, command.since, user)
        except DeviceError as exc:
            raise CommandFailed(str(exc), exc.status) from None
