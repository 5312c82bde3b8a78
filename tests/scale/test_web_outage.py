"""A web process that cannot read the event log says so on its screens (a local technical alarm)."""

from __future__ import annotations

from sqlalchemy import create_engine

from alerts.lifecycle import AlarmBook
from monitor.bus import Event
from monitor.bus_pg import PgEventBus, PgListener
from monitor.live import LiveState
from monitor.outage import STORAGE_RULE, WEB_MESSAGE, OutageAlarm, shown_only
from tests.conftest import free_port


async def test_unreachable_database_raises_then_resolves_the_screens_alarm() -> None:
    port = free_port()  # nothing listens there: every read of the log is refused, for real
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none?connect_timeout=2")
    bus = PgEventBus(engine, PgListener(f"postgresql://postgres@127.0.0.1:{port}/none"), start_seq=10)
    live = LiveState()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    alarm = OutageAlarm(
        prefix="web-db", message=WEB_MESSAGE, alarms=AlarmBook(), record=shown_only(live, bus.publish), after_s=2.0
    )

    assert await bus.pump_once() == 0
    assert bus.db_ok is False and bus.health()["log_readable"] is False
    alarm.update(not bus.db_ok, 100.0)
    assert not live.alarms, "a blip shorter than after_s raises nothing"
    alarm.update(not bus.db_ok, 102.5)
    [shown] = live.alarms.values()
    assert shown.rule_id == STORAGE_RULE and shown.kind.value == "technical" and shown.bed is None
    assert seen[-1]["type"] == "alarm" and seen[-1]["alarm"]["state"] == "active" and seen[-1]["seq"] == 10

    alarm.update(False, 110.0)  # the log is readable again
    assert not live.alarms and seen[-1]["alarm"]["state"] == "resolved" and seen[-1]["alarm"]["ended"] == 110.0
    engine.dispose()
