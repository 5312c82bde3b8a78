"""A session protocol as data: what a template file says, validated field by field (pydantic).

A template is a clinic's written procedure for one kind of session (IV ketamine for depression, a
long pain infusion, IM ketamine, intranasal esketamine): its dose, its phases and their planned
durations, when the cuff measures, the checkpoints a nurse must meet (a BP due at a time, an
assessment due at a time), alarm rules it adds or changes, the discharge criteria and the record
forms it produces. Every figure in a shipped template is a default for the clinic's medical
director to confirm; ``unconfirmed`` lists those read only in secondary sources.

Validation is strict (an unknown key is an error): a typo in ``nibp_every_min`` must not silently
mean "no cuff schedule".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.model import Phase

#: Where a checkpoint's time counts from.
Anchor = Literal["session_start", "infusion_start", "infusion_end"]
#: The record forms a session of a protocol produces (h15b's PDFs): the infusion record, the REMS form.
RecordForm = Literal["record", "rems"]
#: The scales an assessment checkpoint may ask for (the assessments API's ``scale``).
Scale = Literal["moaas", "cadss6", "nausea", "bprs4"]
#: The open phases, in session order: every template plans each of them.
OPEN_PHASE_NAMES = (Phase.BASELINE.value, Phase.INFUSION.value, Phase.RECOVERY.value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dose(_Strict):
    """Per kilogram (``per_kg``: the dose is mg/kg x weight) or a fixed dose in mg (``fixed``)."""

    mode: Literal["per_kg", "fixed"]
    default_mg_per_kg: float | None = Field(default=None, gt=0, le=5)
    min_mg_per_kg: float | None = Field(default=None, gt=0, le=5)
    max_mg_per_kg: float | None = Field(default=None, gt=0, le=5)
    #: Fixed doses the protocol allows (esketamine: 56 or 84 mg), the first the default.
    fixed_mg: list[float] = Field(default_factory=list)
    #: A bolus (IM) has no rate; an infusion's rate is the dose over the infusion phase's planned time.
    bolus: bool = False

    @model_validator(mode="after")
    def _complete(self) -> Dose:
        if self.mode == "per_kg":
            if self.default_mg_per_kg is None or self.min_mg_per_kg is None or self.max_mg_per_kg is None:
                raise ValueError("a per_kg dose needs default_mg_per_kg, min_mg_per_kg and max_mg_per_kg")
            if not self.min_mg_per_kg <= self.default_mg_per_kg <= self.max_mg_per_kg:
                raise ValueError(
                    f"default_mg_per_kg {self.default_mg_per_kg} is outside "
                    f"min_mg_per_kg..max_mg_per_kg ({self.min_mg_per_kg}..{self.max_mg_per_kg})"
                )
        elif not self.fixed_mg or any(mg <= 0 for mg in self.fixed_mg):
            raise ValueError("a fixed dose needs fixed_mg, a list of positive doses in mg")
        return self


class PhasePlan(_Strict):
    """One open phase of the protocol: its name on screen, planned time, cuff cycle, charting interval."""

    phase: Literal["baseline", "infusion", "recovery"]
    label: str = Field(min_length=1, max_length=40)
    #: Planned minutes (infusion: the default infusion time; recovery: the minimum observation).
    planned_min: float = Field(gt=0, le=24 * 60)
    #: The cuff's automatic cycle in this phase (None: no cycle, BP only at the checkpoints).
    nibp_every_min: float | None = Field(default=None, gt=0, le=240)
    #: The record's charting interval in this phase (None: the clinic's [ehr] setting).
    chart_every_min: float | None = Field(default=None, gt=0, le=240)


class Checkpoint(_Strict):
    """Something due at a time: a BP reading, or an assessment on a scale.

    Due at ``anchor`` + ``at_min``. A BP counts as taken when a valid cuff reading lands from
    ``early_min`` before the due time; taken after ``late_min`` past it, it counts as late.
    """

    kind: Literal["bp", "assessment"]
    label: str = Field(min_length=1, max_length=60)
    anchor: Anchor
    at_min: float = Field(ge=-240, le=24 * 60)
    early_min: float = Field(default=5.0, ge=0, le=240)
    late_min: float = Field(default=5.0, ge=0, le=240)
    scale: Scale | None = None

    @model_validator(mode="after")
    def _scale_for_assessments(self) -> Checkpoint:
        if self.kind == "assessment" and self.scale is None:
            raise ValueError("an assessment checkpoint needs its scale (moaas, cadss6, nausea, bprs4)")
        if self.kind == "bp" and self.scale is not None:
            raise ValueError("a bp checkpoint takes no scale")
        return self


class DischargeCriteria(_Strict):
    """Advisory readiness (alerts/discharge.py); the nurse decides, with a reason when not met."""

    #: Minimum minutes since the infusion stopped (the start of recovery).
    min_recovery_min: float = Field(default=30.0, ge=0, le=24 * 60)
    #: The last two NIBP within this percentage of baseline.
    bp_within_pct: float = Field(default=20.0, gt=0, le=100)
    #: Heart rate (median of the last 5 min) within this percentage of baseline.
    hr_within_pct: float = Field(default=20.0, gt=0, le=100)
    min_spo2: float = Field(default=92.0, ge=50, le=100)
    no_active_alarms: bool = True


class Protocol(_Strict):
    """One template (``monitor/protocols/templates/<id>.toml``, or a clinic's file of the same id)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=120)
    route: Literal["iv", "im", "intranasal"]
    #: Where the defaults come from (citations), shown in GET /api/protocols.
    sources: list[str] = Field(min_length=1)
    #: Defaults read only in secondary sources, or ivmon's own choice: the clinic must confirm them.
    unconfirmed: list[str] = Field(default_factory=list)
    records: list[RecordForm] = Field(default_factory=lambda: list[RecordForm](["record"]))
    #: Pulse oximetry throughout (esketamine's REMS requirement): SpO2 is watched in every phase.
    continuous_spo2: bool = True
    dose: Dose
    phases: list[PhasePlan] = Field(min_length=3, max_length=3)
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    #: Alarm rule tables (the rule file's format, alerts/rules.py) added to, or replacing by id, the
    #: clinic's rules for sessions of this protocol; validated by the alarm engine when it loads them.
    alarm_rules: list[dict[str, Any]] = Field(default_factory=list)
    discharge: DischargeCriteria = Field(default_factory=DischargeCriteria)

    @model_validator(mode="after")
    def _phases_in_order(self) -> Protocol:
        names = tuple(p.phase for p in self.phases)
        if names != OPEN_PHASE_NAMES:
            raise ValueError(f"phases must be baseline, infusion, recovery in that order (got {', '.join(names)})")
        return self

    def phase(self, phase: Phase | str) -> PhasePlan | None:
        name = phase.value if isinstance(phase, Phase) else phase
        for plan in self.phases:
            if plan.phase == name:
                return plan
        return None

    def nibp_cycle_s(self, phase: Phase) -> float | None:
        """The cuff's cycle in ``phase`` in seconds (None: no cycle in that phase)."""
        plan = self.phase(phase)
        return plan.nibp_every_min * 60.0 if plan is not None and plan.nibp_every_min is not None else None
