"""In-process simulated patients: the ``sim://`` adapter.

Each bed plays one simulated patient's session after another (see
``simulators.live``) on the service's clock (``monitor.clock``): readings are
stamped with clock time and the adapter waits with the clock's own sleep, so
under the demo's scaled clock a 40-minute infusion lasts 40 clock minutes and
every alarm delay is met as at speed 1. A ``speed`` above the clock's rate
(``sim://?speed=20`` on a real clock: test feeds) compresses the sessions'
timestamps by the difference instead. An optional session hook lets the demo act as the nurse who
starts sessions and moves them through their phases; without it the adapter
only produces readings and sensor states, as a real monitor would.

With ``assign_beds=False`` each chair's patient wears a portable monitor
(``sim:monitor-N``) that names no chair: its readings are unassigned until the
nurse (the demo's hook) associates it with the chair.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from adapters.base import IngestSink, register
from monitor.clock import REAL_CLOCK, Clock
from monitor.model import CANONICAL_UNIT, DeviceState, DeviceStatus, IngestItem, Phase, Reading, Vital
from simulators.live import LivePatient
from simulators.scenarios import SCENARIOS

log = logging.getLogger(__name__)

#: (bed, phase entered, when, patient reference) -> awaitable
SessionHook = Callable[[str, Phase, float, str], Awaitable[None]]


class SimAdapter:
    def __init__(
        self,
        beds: list[str],
        *,
        scenario: str = "mixed",
        speed: float | None = None,
        seed: int = 0,
        gap_s: float = 120.0,
        session_hook: SessionHook | None = None,
        scenarios: dict[str, str] | None = None,
        clock: Clock = REAL_CLOCK,
        assign_beds: bool = True,
    ) -> None:
        speed = clock.rate if speed is None else speed
        if speed <= 0:
            raise ValueError("speed must be > 0")
        for name in [scenario, *(scenarios or {}).values()]:
            if name not in SCENARIOS:
                raise ValueError(f"unknown scenario {name!r} (known: {', '.join(sorted(SCENARIOS))})")
        self.name = "sim"
        self.beds = beds
        self.scenario = scenario
        #: Per-bed scenario for the next session (tests and the demo's "make this patient desaturate").
        self.scenarios: dict[str, str] = dict(scenarios or {})
        self.clock = clock
        self.speed = speed
        #: Simulated seconds per clock second: 1 (truthful) unless ``speed`` asks for more than the clock's rate.
        self.compress = speed / clock.rate
        self.seed = seed
        self.gap_s = gap_s
        self.session_hook = session_hook
        self.assign_beds = assign_beds
        self.sent = 0
        self.sessions_played = 0
        #: bed -> the patient being played there (the demo's nurse reads its plan: protocol, weight).
        self.playing: dict[str, LivePatient] = {}

    def health(self) -> dict[str, object]:
        return {"kind": "simulator", "beds": len(self.beds), "speed": self.speed, "readings_sent": self.sent}

    async def run(self, sink: IngestSink) -> None:
        await asyncio.gather(*(self._bed(i, bed, sink) for i, bed in enumerate(self.beds)))

    def device_of(self, bed: str) -> str:
        """The simulated monitor on ``bed``'s patient."""
        return f"sim:{bed}" if self.assign_beds else f"sim:monitor-{self.beds.index(bed) + 1}"

    async def _bed(self, index: int, bed: str, sink: IngestSink) -> None:
        source = self.device_of(bed)
        number = 0
        # Stagger the chairs so that their sessions are not in lockstep.
        await self.clock.sleep(index * 7.0 / self.compress)
        while True:
            scenario = self.scenarios.get(bed, self.scenario)
            patient = LivePatient(scenario, self.seed * 10_000 + index * 100 + number, index)
            patient_ref = f"SIM-{bed.upper()}-{int(self.clock.now()) % 100000:05d}"
            self.playing[bed] = patient
            await self._play(patient, bed, source, patient_ref, sink)
            self.sessions_played += 1
            number += 1
            await self.clock.sleep(self.gap_s / self.compress)

    async def _play(self, patient: LivePatient, bed: str, source: str, patient_ref: str, sink: IngestSink) -> None:
        clock, compress = self.clock, self.compress
        epoch = clock.now()
        claimed = bed if self.assign_beds else None  # a portable monitor names no chair
        sensor_off = False
        slept_to = 0.0
        while not patient.done:
            # The instant slept for is due even if the clock's float arithmetic rounds short of it.
            elapsed = max((clock.now() - epoch) * compress, slept_to)
            due = patient.due(elapsed)
            for offset, phase in due.phase_changes:
                if self.session_hook is not None:
                    await self.session_hook(bed, phase, epoch + offset / compress, patient_ref)
            items: list[IngestItem] = []
            for row in due.rows:
                ts = epoch + row.ts / compress
                off = "sensor_off" in row.flags
                if off != sensor_off:
                    sensor_off = off
                    state = DeviceState.SENSOR_OFF if off else DeviceState.OK
                    items.append(DeviceStatus(source, state, ts, claimed, Vital.SPO2))
                for vital, value in row.vitals.items():
                    items.append(Reading(vital, value, CANONICAL_UNIT[vital], ts, source, bed=claimed))
            if items:
                await sink.submit(items)
                self.sent += len(items)
            following = patient.next_ts
            if following is None:
                break
            slept_to = min(following, elapsed + compress)
            await clock.sleep(max(0.0, (slept_to - elapsed) / compress))


@register("sim")
def _from_spec(spec: str, options: dict[str, object]) -> SimAdapter:
    """``sim://?beds=3&scenario=routine&speed=10&seed=1&prefix=chair-``"""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(spec).query).items()}
    count = int(query.get("beds", "6"))
    prefix = query.get("prefix", "chair-")
    hook = options.get("session_hook")
    clock = options.get("clock")
    return SimAdapter(
        [f"{prefix}{i + 1}" for i in range(count)],
        scenario=query.get("scenario", "mixed"),
        speed=float(query["speed"]) if "speed" in query else None,
        seed=int(query.get("seed", "0")),
        session_hook=hook if callable(hook) else None,
        clock=clock if isinstance(clock, Clock) else REAL_CLOCK,
    )
