"""What a process holds for charting: the chart context, its senders (ingest or single process
only) and the FHIR encoder for downloads. Built by ``monitor.service.attach_charting``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.charting.chart import ChartContext
from monitor.charting.draft import ChartingPlan
from monitor.charting.filing import OutboxSender
from monitor.config import EhrSettings
from monitor.model import Phase

#: Encodes row payloads as one FHIR transaction Bundle (JSON bytes), for ``GET /api/sessions/{id}/fhir``.
BundleEncoder = Callable[[Sequence[dict[str, Any]]], bytes]


def plan_from_settings(ehr: EhrSettings) -> ChartingPlan:
    return ChartingPlan(
        interval_s={
            Phase.BASELINE: ehr.interval_baseline_s,
            Phase.INFUSION: ehr.interval_infusion_s,
            Phase.RECOVERY: ehr.interval_recovery_s,
        },
        window_s=ehr.window_s,
    )


def destination_names(ehr: EhrSettings) -> tuple[str, ...]:
    names: list[str] = []
    if ehr.hl7.url:
        names.append("hl7")
    if ehr.fhir.base_url:
        names.append("fhir")
    return tuple(names)


@dataclass
class Charting:
    ctx: ChartContext
    fhir_bundle: BundleEncoder
    senders: list[OutboxSender] = field(default_factory=list)

    def wake(self) -> None:
        """Rows were queued: senders in this process look now (others poll the outbox)."""
        for sender in self.senders:
            sender.wake()
