"""Prometheus metrics, read from the service's own counters at scrape time.

A collector (not counters incremented on the hot path) so the pipeline, the
writer and the adapters stay free of metrics code: they already count what
they do, for ``/api/health``; this module names it for Prometheus. The only
observations made as things happen are latency histograms (commit time, log
delivery lag), fed through the writer's and the bus's observer hooks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:  # the wiring builds the service; this module only reads it
    from monitor.service import Service


class ScreenLane(Protocol):
    @property
    def important(self) -> Collection[object]: ...

    @property
    def readings(self) -> Collection[object]: ...


class ScreenHub(Protocol):
    """What /metrics reads of the WebSocket hub (``dashboard.hub.Hub``; the core does not import it)."""

    @property
    def clients(self) -> Collection[ScreenLane]: ...

    @property
    def disconnected_slow(self) -> int: ...


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceCollector(Collector):
    def __init__(self, service: Service, hub: ScreenHub | None = None) -> None:
        self.service = service
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        svc = self.service
        counts: dict[str, int] = dict(svc.ingest.counts) if svc.ingest is not None else {}
        rejected = CounterMetricFamily(
            "ivmon_readings_rejected", "Readings refused on entry, by reason", labels=["reason"]
        )
        transitions = CounterMetricFamily("ivmon_alarm_transitions", "Alarm state changes", labels=["transition"])
        n_rejected = 0
        for key, n in counts.items():
            if key.startswith("rejected:"):
                rejected.add_metric([key.removeprefix("rejected:")], n)
                n_rejected += n
            elif key.startswith("alarm:"):
                transitions.add_metric([key.removeprefix("alarm:")], n)
        yield CounterMetricFamily(
            "ivmon_readings_in", "Readings received (accepted + rejected)", value=counts.get("stored", 0) + n_rejected
        )
        yield CounterMetricFamily(
            "ivmon_readings_accepted", "Readings accepted for storage", value=counts.get("stored", 0)
        )
        yield CounterMetricFamily(
            "ivmon_readings_stored", "Readings committed to the database", value=svc.writer.rows_written
        )
        yield rejected
        yield CounterMetricFamily(
            "ivmon_duplicate_messages", "Messages recognised as retransmissions", value=counts.get("duplicate", 0)
        )
        yield transitions

        on_screen = GaugeMetricFamily("ivmon_alarms_on_screen", "Alarms needing attention", labels=["priority", "kind"])
        tally: dict[tuple[str, str], int] = {}
        for alarm in list(svc.live.alarms.values()):
            pk = (alarm.priority.value, alarm.kind.value)
            tally[pk] = tally.get(pk, 0) + 1
        for (priority, kind), n in sorted(tally.items()):
            on_screen.add_metric([priority, kind], n)
        yield on_screen

        w = svc.writer
        yield GaugeMetricFamily("ivmon_db_healthy", "1 while commits succeed", value=1.0 if w.healthy else 0.0)
        yield GaugeMetricFamily("ivmon_write_queue_depth", "Rows waiting for the next commit", value=w.queue_depth)
        yield CounterMetricFamily("ivmon_db_commits", "Transactions committed by the batch writer", value=w.commits)
        yield CounterMetricFamily(
            "ivmon_db_refused_submissions",
            "Submissions the database refused for their data (each alone; the rest of its batch stored)",
            value=w.refused_submissions,
        )
        yield GaugeMetricFamily("ivmon_event_seq", "Last event sequence number on this process", value=svc.bus.last_seq)

        bus_health = svc.bus.health()
        if bus_health["kind"] != "memory":  # a bus that reads the event log (a web process)
            yield GaugeMetricFamily(
                "ivmon_bus_listening", "1 while the LISTEN connection is up", value=float(bus_health["listening"])
            )
            yield CounterMetricFamily(
                "ivmon_bus_events_delivered", "Logged events delivered", value=bus_health["delivered"]
            )
            yield CounterMetricFamily("ivmon_bus_gaps", "Gaps seen in the event log", value=bus_health["gaps"])

        acks = CounterMetricFamily("ivmon_hl7_acks", "HL7 acknowledgements sent, by code", labels=["adapter", "code"])
        adapter_counts = CounterMetricFamily("ivmon_adapter_events", "Adapter counters", labels=["adapter", "counter"])
        up = GaugeMetricFamily(
            "ivmon_adapter_up", "1 while the adapter runs (listening or connected)", labels=["adapter"]
        )
        for adapter in svc.adapters:
            try:
                health = adapter.health()
            except Exception:
                up.add_metric([adapter.name], 0.0)
                continue
            up.add_metric(
                [adapter.name], 0.0 if health.get("listening") is False or health.get("connected") is False else 1.0
            )
            counters = health.get("counters")
            for key, n in counters.items() if isinstance(counters, dict) else ():
                if not isinstance(n, int | float):
                    continue
                if key.startswith("ack_"):
                    acks.add_metric([adapter.name, key.removeprefix("ack_")], n)
                else:
                    adapter_counts.add_metric([adapter.name, key], n)
        yield acks
        yield adapter_counts
        yield up

        if self.hub is not None:
            clients = list(self.hub.clients)
            yield GaugeMetricFamily("ivmon_websocket_clients", "Screens connected", value=len(clients))
            yield GaugeMetricFamily(
                "ivmon_websocket_queued",
                "Events waiting in screens' lanes",
                value=sum(len(c.important) + len(c.readings) for c in clients),
            )
            yield CounterMetricFamily(
                "ivmon_websocket_slow_disconnects", "Screens disconnected for lagging", value=self.hub.disconnected_slow
            )


def make_registry(service: Service, hub: ScreenHub | None = None) -> CollectorRegistry:
    """A registry per app (tests run several services in one process): collector plus latency histograms."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(service, hub))
    if service.charting is not None:
        from monitor.charting.metrics import ChartingCollector

        registry.register(ChartingCollector(service, service.charting))
    commit = Histogram("ivmon_db_commit_seconds", "Batch commit time", buckets=LATENCY_BUCKETS, registry=registry)
    service.writer.commit_observer = commit.observe
    if service.role == "web":  # the only process whose events arrive late: through the log
        lag = Histogram(
            "ivmon_bus_delivery_lag_seconds",
            "Event logged -> delivered on this web process",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        service.bus.lag_observer = lag.observe
    return registry
