"""The hub's per-client lane: readings coalesced while a client lags, everything else kept in order."""

from __future__ import annotations

from typing import Any

import orjson

from dashboard.hub import ClientLane, Hub
from monitor.bus import InMemoryBus


def lane(max_important: int = 5000) -> ClientLane:
    return ClientLane(None, "nurse", token="t", max_important=max_important)  # type: ignore[arg-type]


def reading(
    bed: str | None, vitals: dict[str, float], ts: float, quality: dict[str, str] | None = None, source: str = "dev"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "reading",
        "bed": bed,
        "session": None,
        "ts": ts,
        "vitals": vitals,
        "quality": quality or {},
    }
    if bed is None:
        event["source"] = source
    return event


def frames(drained: bytes | None) -> list[dict[str, Any]]:
    assert drained is not None
    msg = orjson.loads(drained)
    return list(msg["messages"]) if msg["type"] == "batch" else [msg]


def test_a_lagging_client_gets_the_latest_value_of_every_vital_per_bed() -> None:
    bus, ln = InMemoryBus(), lane()
    bus.subscribe(ln.offer)
    bus.publish(reading("chair-1", {"hr": 70, "spo2": 97}, 1.0))
    bus.publish(reading("chair-1", {"hr": 75}, 2.0, {"hr": "questionable"}))
    bus.publish(reading("chair-2", {"hr": 60}, 2.0))
    bus.publish(reading("chair-1", {"hr": 80}, 3.0))
    out = {m["bed"]: m for m in frames(ln.drain())}
    assert set(out) == {"chair-1", "chair-2"}
    assert out["chair-1"]["vitals"] == {"hr": 80, "spo2": 97}
    assert out["chair-1"]["quality"] == {}, "the newest hr is valid: the older questionable flag must go"
    assert out["chair-1"]["ts"] == 3.0 and out["chair-1"]["seq"] == 4
    assert ln.drain() is None


def test_alarms_sessions_and_heartbeats_are_never_dropped_and_stay_in_seq_order() -> None:
    bus, ln = InMemoryBus(), lane()
    bus.subscribe(ln.offer)
    for i in range(300):
        bus.publish(reading("chair-1", {"spo2": 90 - i % 5}, float(i)))
        bus.publish({"type": "alarm", "transition": "started", "alarm": {"id": f"a{i}"}})
        if i % 100 == 0:
            bus.publish({"type": "session", "session": {"id": i}})
            bus.publish({"type": "heartbeat", "ts": float(i)})
    got = frames(ln.drain())
    alarms = [m["alarm"]["id"] for m in got if m["type"] == "alarm"]
    assert alarms == [f"a{i}" for i in range(300)]
    assert sum(m["type"] == "session" for m in got) == 3 and sum(m["type"] == "heartbeat" for m in got) == 3
    assert sum(m["type"] == "reading" for m in got) == 1, "readings of one bed coalesce into one message"
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs)


def test_unassigned_sources_coalesce_per_source_not_together() -> None:
    ln = lane()
    bus = InMemoryBus()
    bus.subscribe(ln.offer)
    bus.publish(reading(None, {"hr": 70}, 1.0, source="a"))
    bus.publish(reading(None, {"hr": 90}, 1.0, source="b"))
    got = frames(ln.drain())
    assert sorted(m["source"] for m in got) == ["a", "b"]


def test_a_lane_too_far_behind_is_marked_for_disconnection_without_losing_what_it_holds() -> None:
    ln = lane(max_important=10)
    bus = InMemoryBus()
    bus.subscribe(ln.offer)
    for i in range(12):
        bus.publish({"type": "alarm", "transition": "started", "alarm": {"id": f"a{i}"}})
    assert ln.overflowed
    assert len(ln.important) == 12


def test_the_hub_hands_each_event_to_every_lane_and_a_closed_lane_takes_nothing() -> None:
    hub = Hub()
    a, b = lane(), lane()
    hub.clients.update({a, b})
    b.closed = True
    bus = InMemoryBus()
    bus.subscribe(hub)
    bus.publish({"type": "alarm", "alarm": {"id": "x"}})
    assert len(a.important) == 1 and a.wake.is_set()
    assert not b.important


def test_an_event_is_encoded_once_for_all_clients() -> None:
    hub = Hub()
    a, b = lane(), lane()
    hub.clients.update({a, b})
    bus = InMemoryBus()
    bus.subscribe(hub)
    bus.publish({"type": "alarm", "alarm": {"id": "x"}})
    fa, fb = a.drain(), b.drain()
    assert fa is not None and fa is fb, "one encoding shared by every screen"


def test_an_alarm_marks_the_lane_urgent_and_readings_or_heartbeats_do_not() -> None:
    ln = lane()
    bus = InMemoryBus()
    bus.subscribe(ln.offer)
    bus.publish(reading("chair-1", {"hr": 70}, 1.0))
    bus.publish({"type": "heartbeat", "ts": 1.0})
    assert not ln.urgent.is_set(), "readings wait for the tick"
    bus.publish({"type": "alarm", "alarm": {"id": "x"}})
    assert ln.urgent.is_set()
