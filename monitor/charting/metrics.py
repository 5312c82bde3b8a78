"""Prometheus figures of charting, by destination: outbox entries by state (from the database, so every
process reports the same), and on the process that sends: deliveries, retries and how long the
destination has been failing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.store import charting as store

if TYPE_CHECKING:  # the wiring builds the service; this module only reads it
    from monitor.charting.runtime import Charting
    from monitor.service import Service


class ChartingCollector(Collector):
    def __init__(self, service: Service, charting: Charting) -> None:
        self.service = service
        self.charting = charting

    def collect(self) -> Iterator[Metric]:
        charting = self.charting
        outbox = GaugeMetricFamily(
            "ivmon_ehr_outbox_entries",
            "Chart rows queued for the EHR, by destination and state",
            labels=["destination", "state"],
        )
        try:
            counts = store.outbox_counts(self.service.engine)
        except Exception:  # the database is away: /metrics still answers (the storage alarm says why)
            counts = {}
        for destination in charting.ctx.destinations:
            for state in ("pending", "sent", "failed"):
                outbox.add_metric([destination, state], counts.get((destination, state), 0))
        yield outbox
        if not charting.senders:
            return
        sent = CounterMetricFamily("ivmon_ehr_delivered", "Entries the destination accepted", labels=["destination"])
        refused = CounterMetricFamily(
            "ivmon_ehr_refused", "Entries the destination refused (AE, 4xx)", labels=["destination"]
        )
        retries = CounterMetricFamily("ivmon_ehr_retries", "Deliveries retried (AR, 5xx, down)", labels=["destination"])
        down = GaugeMetricFamily(
            "ivmon_ehr_down_seconds", "How long the destination has not taken messages", labels=["destination"]
        )
        for sender in charting.senders:
            sent.add_metric([sender.name], sender.sent)
            refused.add_metric([sender.name], sender.failed)
            retries.add_metric([sender.name], sender.retries)
            down.add_metric([sender.name], sender.down_for(sender.clock()))  # the sender's own (machine) time
        yield from (sent, refused, retries, down)
