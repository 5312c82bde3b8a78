"""Operations: Prometheus metrics, health, body-size limit, JSON logs; on a real server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.hl7.client import MllpClient
from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.logs import JsonFormatter
from monitor.model import Reading, Vital
from monitor.roles import watch_storage
from monitor.service import build_service
from simulators.emit.pcd01 import encode_pcd01
from tests.conftest import free_port
from tests.scale.inproc import Running, serve
from tests.scale.stage import SpO2Stage


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    hl7_port = free_port()
    settings = load_settings(
        db_url=f"sqlite:///{tmp_path / 'ivmon.db'}",
        data_dir=tmp_path,
        beds={"chair-1": "Chair 1"},
        hl7={"port": hl7_port, "host": "127.0.0.1", "bindings": [{"bed": "chair-1", "location": "chair-1"}]},
    )
    service = build_service(settings, alarm_stage=SpO2Stage())
    watch_storage(service)
    ensure_demo_users(service)
    with serve(service) as r:
        yield r


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_readings_rejections_acks_and_alarms(running: Running) -> None:
    svc = running.service
    running.call(
        lambda: svc.pipeline.submit(
            [
                Reading(Vital.SPO2, 86.0, "%", 1000.0, "dev-1", bed="chair-1"),
                Reading(Vital.HR, 70.0, "furlongs", 1000.0, "dev-1", bed="chair-1"),
            ]
        )
    )

    async def one_hl7() -> str:
        client = MllpClient("127.0.0.1", svc.settings.hl7.port, timeout=10)
        ack = await client.send(encode_pcd01({Vital.HR: 72.0}, 1001.0, device="0012", location="chair-1"))
        await client.close()
        return ack.code

    assert asyncio.run(one_hl7()) == "AA"
    m = samples(httpx.get(f"{running.base}/metrics", timeout=10).text)
    assert m[("ivmon_readings_stored_total", ())] == 2  # the SpO2 and the HL7 message's HR
    assert m[("ivmon_readings_in_total", ())] == 3
    [(reason_key, n)] = [(k, v) for k, v in m.items() if k[0] == "ivmon_readings_rejected_total"]
    assert n == 1 and dict(reason_key[1])["reason"]
    assert m[("ivmon_hl7_acks_total", (("adapter", svc.adapters[0].name), ("code", "AA")))] == 1
    assert m[("ivmon_alarms_on_screen", (("kind", "physiological"), ("priority", "medium")))] == 1
    assert m[("ivmon_alarm_transitions_total", (("transition", "started"),))] == 1
    assert m[("ivmon_db_commit_seconds_count", ())] >= 1
    assert m[("ivmon_websocket_clients", ())] == 0
    assert m[("ivmon_db_healthy", ())] == 1


def test_health_reports_role_database_bus_and_adapters(running: Running) -> None:
    assert set(httpx.get(f"{running.base}/api/health", timeout=10).json()) == {"status"}, "no internals to strangers"
    login = httpx.post(f"{running.base}/api/login", json={"username": "admin", "password": "demo"}, timeout=10)
    health = httpx.get(f"{running.base}/api/health", cookies=login.cookies, timeout=10).json()
    assert health["status"] == "ok" and health["role"] == "all"
    assert health["database"]["ok"] is True and health["bus"] == {"kind": "memory"}
    [(_name, hl7)] = health["adapters"].items()
    assert hl7["listening"] is True


def test_oversized_bodies_are_refused_with_a_reason(running: Running) -> None:
    big = b'{"username": "admin", "password": "' + b"x" * 2_000_000 + b'"}'
    r = httpx.post(f"{running.base}/api/login", content=big, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413 and "too large" in r.json()["detail"] and "limit" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"username": "admin", "password": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    r = httpx.post(f"{running.base}/api/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    # A normal body still goes through to the route.
    r = httpx.post(f"{running.base}/api/login", json={"username": "admin", "password": "demo"}, timeout=10)
    assert r.status_code == 200


def test_json_log_lines_carry_only_the_records_fields() -> None:
    record = logging.LogRecord("ivmon.test", logging.WARNING, __file__, 1, "refused %d reading(s)", (3,), None)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "ivmon.test" and line["msg"] == "refused 3 reading(s)"
    assert line["ts"].endswith("Z") and set(line) == {"ts", "level", "logger", "msg", "pid"}


async def test_a_restarted_process_never_reuses_a_seq_it_may_have_shown(tmp_path: Path) -> None:
    from monitor.roles import build_for_role

    settings = load_settings(db_url=f"sqlite:///{tmp_path / 'ivmon.db'}", data_dir=tmp_path, hl7={"enabled": False})
    first = build_for_role(settings, "all")
    await first.start()
    for i in range(5):  # on screens, never stored (heartbeats are not logged on SQLite): as if killed now
        first.bus.publish({"type": "heartbeat", "ts": float(i)})
    shown = first.bus.last_seq
    await first.stop()
    first.engine.dispose()

    second = build_for_role(settings, "all")
    try:
        assert second.bus.last_seq > shown, "the next process's seqs start past anything a screen may hold"
        assert second.bus.since(shown) is None, "a screen resuming from the old process gets a snapshot"
        second.bus.publish({"type": "heartbeat", "ts": 9.0})
        assert second.bus.since(shown) is None
    finally:
        second.engine.dispose()
