"""Roles, the WebSocket handshake, logout, rules, first-run setup and slow clients, against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from monitor.model import Vital
from tests.conftest import free_port
from tests.dashboard.liveserver import LiveServer, running

BEDS = ["chair-1", "chair-2", "chair-3"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        yield srv


@contextlib.contextmanager
def login(base: str, user: str, password: str = "demo") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base) as client:
        res = client.post("/api/login", json={"username": user, "password": password})
        assert res.status_code == 200, res.text
        client.headers["X-CSRF-Token"] = res.json()["csrf"]
        yield client


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/live"


def test_anonymous_requests_get_401_and_a_nurse_may_neither_read_the_audit_log_nor_change_rules(
    server: LiveServer,
) -> None:
    svc = server.service
    assert svc is not None
    session = server.call(lambda: svc.sessions.start("chair-1", "PT-1", "nurse"))
    with httpx.Client(base_url=server.base) as anon:
        for path in (
            "/api/beds",
            "/api/alarms",
            "/api/audit",
            "/api/beds/chair-1/trend",
            f"/api/sessions/{session.id}/rules",
            f"/api/sessions/{session.id}/alarm-history",
            "/api/me",
        ):
            assert anon.get(path).status_code == 401, path
        assert anon.get("/api/health").status_code == 200
        assert anon.get("/", follow_redirects=False).status_code == 303
    rules_url = f"/api/sessions/{session.id}/rules"
    with login(server.base, "nurse") as nurse:
        assert nurse.get("/api/audit").status_code == 403
        current = nurse.get(rules_url).json()
        assert current["override"] is False and any(r["id"] == "spo2-critical" for r in current["rules"])
        assert nurse.put(rules_url, json={"rules": current["rules"]}).status_code == 403
        assert nurse.delete(rules_url).status_code == 403
    with login(server.base, "clinician") as clinician:
        tighter = [{**r, "limit": 92} if r["id"] == "spo2-low" else r for r in current["rules"]]
        no_csrf = httpx.put(server.base + rules_url, json={"rules": tighter}, cookies=clinician.cookies)
        assert no_csrf.status_code == 403, "a state change without the CSRF header is refused"
        dropped = [r for r in current["rules"] if r["id"] != "spo2-critical"]
        res = clinician.put(rules_url, json={"rules": dropped})
        assert res.status_code == 422 and "spo2-critical" in res.json()["detail"]
        res = clinician.put(rules_url, json={"rules": tighter})
        assert res.status_code == 200 and res.json()["override"] is True
        assert next(r for r in res.json()["rules"] if r["id"] == "spo2-low")["limit"] == 92
        assert svc.alarms.session_rules(session.id) != svc.alarms.rules, "the engine judges with the override"
        audit = clinician.get("/api/audit").json()
    change = next(a for a in audit if a["action"] == "rules_change")
    assert change["user"] == "clinician" and change["target"] == f"session:{session.id}"
    assert {"login_failed", "rules_change", "login", "session_start"} - {a["action"] for a in audit} == {"login_failed"}


def test_failed_logins_are_throttled_and_audited(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base) as anon:
        codes = [anon.post("/api/login", json={"username": "nurse", "password": "nope"}).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        # The right password does not help while throttled: guessing stays slow.
        assert anon.post("/api/login", json={"username": "nurse", "password": "demo"}).status_code == 429
    svc = server.service
    assert svc is not None
    from monitor.store import audit as audit_store

    actions = [a["action"] for a in audit_store.read_audit(svc.engine)]
    assert actions.count("login_failed") == 5 and "login_throttled" in actions


async def _expect_refused(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kwargs):
            pass
    return int(info.value.response.status_code)


def test_a_websocket_without_a_valid_session_or_from_another_origin_is_refused_before_accept(
    server: LiveServer,
) -> None:
    url = ws_url(server.base)
    with login(server.base, "nurse") as nurse:
        cookie = cookie_header(nurse)

        async def run() -> None:
            assert await _expect_refused(url) == 403
            assert await _expect_refused(url, additional_headers={"Cookie": "ivmon_session=forged"}) == 403
            evil = {"Cookie": cookie, "Origin": "http://evil.example"}
            assert await _expect_refused(url, additional_headers=evil) == 403
            own = {"Cookie": cookie, "Origin": server.base}
            async with websockets.connect(url, additional_headers=own) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert first["type"] == "snapshot" and {b["id"] for b in first["beds"]} == set(BEDS)
                assert first["freshness_s"]["spo2"] == 10.0 and first["epoch"]

        asyncio.run(run())


def test_logout_closes_that_logins_sockets_only(server: LiveServer) -> None:
    url = ws_url(server.base)
    stack = contextlib.ExitStack()
    first = stack.enter_context(login(server.base, "nurse"))  # two stations, one account
    second = stack.enter_context(login(server.base, "nurse"))

    async def run() -> None:
        async with (
            websockets.connect(url, additional_headers={"Cookie": cookie_header(first)}) as a,
            websockets.connect(url, additional_headers={"Cookie": cookie_header(second)}) as b,
        ):
            await a.recv()
            await b.recv()
            assert (await asyncio.to_thread(first.post, "/api/logout")).status_code == 200
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(a.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            msg = json.loads(await asyncio.wait_for(b.recv(), 7))  # the other station still streams
            assert msg["type"] in {"reading", "batch", "heartbeat"}
        assert first.get("/api/beds").status_code == 401

    with stack:
        asyncio.run(run())


def test_resume_with_since_gets_the_missed_events_and_a_stale_epoch_gets_a_snapshot(server: LiveServer) -> None:
    url = ws_url(server.base)
    svc = server.service
    assert svc is not None
    with login(server.base, "nurse") as nurse:
        headers = {"Cookie": cookie_header(nurse)}

        async def run() -> None:
            async with websockets.connect(url, additional_headers=headers) as ws:
                snap = json.loads(await ws.recv())
            seq, epoch = snap["seq"], snap["epoch"]
            server.call(lambda: svc.sessions.start("chair-2", "PT-2", "nurse"))  # happens while away
            async with websockets.connect(f"{url}?since={seq}&epoch={epoch}", additional_headers=headers) as ws:
                resume = json.loads(await ws.recv())
                assert resume["type"] == "resume" and resume["missed"] >= 1
                got: list[dict[str, Any]] = []
                while not any(m["type"] == "session" for m in got):
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    got.extend(msg["messages"] if msg["type"] == "batch" else [msg])
                assert all(m["seq"] > seq for m in got)
            async with websockets.connect(f"{url}?since={seq}&epoch=another", additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"

        asyncio.run(run())


def _stalled_socket(base: str, cookie: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (a frozen tablet)."""
    host, port = base.removeprefix("http://").split(":")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.sendall(
        f"GET /ws/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def test_a_client_that_never_reads_does_not_delay_another_clients_alarm(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    hub = server.app.state.hub
    with login(server.base, "clinician") as slow_user, login(server.base, "nurse") as nurse:
        stalled = _stalled_socket(server.base, cookie_header(slow_user))
        try:
            latency, blocked = asyncio.run(_alarm_latency_with_a_stalled_client(server, cookie_header(nurse), hub))
        finally:
            stalled.close()
    print(
        f"alarm start -> arrival at the reading client, with a stalled client and a 12 MB backlog: "
        f"{latency * 1000:.0f} ms"
    )
    assert blocked, "the stalled client must really be stuck (else this test proves nothing)"
    assert latency < 2.0, f"the alarm took {latency:.2f} s to reach a healthy screen"


async def _alarm_latency_with_a_stalled_client(server: LiveServer, cookie: str, hub: Any) -> tuple[float, bool]:
    svc = server.service
    assert svc is not None
    note = "x" * 4000
    async with websockets.connect(ws_url(server.base), additional_headers={"Cookie": cookie}, max_size=None) as ws:
        await ws.recv()

        async def flood() -> None:
            for i in range(3000):  # 12 MB: far beyond what the stalled socket's buffers hold
                # Device events: queued like alarms (never coalesced), kept out of the durable log.
                svc.pipeline.publish({"type": "device", "bed": "chair-2", "ts": time.time(), "text": note, "i": i})
                if i % 100 == 0:
                    await asyncio.sleep(0)

        server.call(flood)
        drained = 0
        while drained < 3000:  # the healthy client takes the whole flood
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            drained += sum(m["type"] == "device" for m in (msg["messages"] if msg["type"] == "batch" else [msg]))
        # Stuck: a send to it has not finished, or it was already disconnected as too slow.
        slow = [lane for lane in hub.clients if lane.user == "clinician"]
        blocked = hub.disconnected_slow > 0 or any(lane.sending_since is not None for lane in slow)
        server.feeder.values["chair-3"][Vital.SPO2] = 80.0
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                alarm = m.get("alarm") if m["type"] == "alarm" else None
                if alarm and alarm["bed"] == "chair-3" and m["transition"] == "started":
                    return time.time() - alarm["started"], blocked


def test_the_first_run_prints_a_one_time_setup_link_for_the_first_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = LiveServer(free_port(), f"sqlite:///{tmp_path / 'first.db'}", BEDS)  # no users at all
    srv.start()
    try:
        out = capsys.readouterr().out
        found = re.search(r"/setup\?token=([\w-]+)", out)
        assert found, f"no setup link printed: {out!r}"
        token = found.group(1)
        with httpx.Client(base_url=srv.base) as anon:
            assert anon.get(f"/setup?token={token}").status_code == 200
            assert anon.post("/api/login", json={"username": "admin", "password": "admin"}).status_code == 401
            body = {"token": "wrong-token-123", "username": "boss", "password": "a long enough secret"}
            assert anon.post("/api/setup", json=body).status_code == 403
            assert anon.post("/api/setup", json={**body, "token": token}).status_code == 201
            assert anon.post("/api/setup", json={**body, "token": token, "username": "eve"}).status_code == 409
        with login(srv.base, "boss", "a long enough secret") as boss:
            assert boss.get("/api/me").json()["role"] == "admin"
            actions = [a["action"] for a in boss.get("/api/audit").json()]
        assert "setup_first_admin" in actions and "setup_refused" in actions
    finally:
        srv.stop()


def test_trend_history_and_discharge_endpoints(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    session = server.call(lambda: svc.sessions.start("chair-1", "PT-7", "nurse"))
    server.feeder.values["chair-1"][Vital.SPO2] = 82.0
    with login(server.base, "nurse") as nurse:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alarms = nurse.get(f"/api/sessions/{session.id}/alarm-history").json()
            if alarms and alarms[0]["history"]:  # shown before its commit, an alarm has no history yet
                break
            time.sleep(0.3)
        assert alarms and alarms[0]["rule"] == "spo2-critical" and alarms[0]["history"][0]["transition"] == "started"
        trend = nurse.get("/api/beds/chair-1/trend?minutes=5&vitals=spo2,hr").json()
        assert set(trend["vitals"]) == {"spo2", "hr"}
        points = trend["vitals"]["spo2"]
        assert points == sorted(points) and points[-1][1] == 82.0
        ready = nurse.get(f"/api/sessions/{session.id}/discharge").json()
        assert ready["ready"] is False
        reasons = " | ".join(ready["reasons"])
        assert "infusion not stopped" in reasons and "SpO2 82 % below 92 %" in reasons and "active alarm" in reasons


def test_a_reading_flood_reaches_a_client_coalesced_in_at_most_one_frame_per_tick(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    tick = server.app.state.hub.tick_s

    async def flood() -> None:
        for round_ in range(40):  # 40 rounds x 200 beds in ~0.4 s
            for bed in range(200):
                svc.bus.publish(
                    {
                        "type": "reading",
                        "bed": f"flood-{bed}",
                        "session": None,
                        "ts": time.time(),
                        "vitals": {"hr": 60 + round_},
                        "quality": {},
                    }
                )
            await asyncio.sleep(0.01)

    async def run(cookie: str) -> tuple[int, int, float, dict[str, float]]:
        async with websockets.connect(ws_url(server.base), additional_headers={"Cookie": cookie}, max_size=None) as ws:
            await ws.recv()
            started = time.monotonic()
            await asyncio.to_thread(server.call, flood)
            frames = messages = 0
            latest: dict[str, float] = {}
            while latest.get("flood-199") != 99:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                frames += 1
                for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                    if m["type"] == "reading" and str(m["bed"]).startswith("flood-"):
                        messages += 1
                        latest[m["bed"]] = m["vitals"]["hr"]
            return frames, messages, time.monotonic() - started, latest

    with login(server.base, "nurse") as nurse:
        frames, messages, elapsed, latest = asyncio.run(run(cookie_header(nurse)))
    assert all(latest[f"flood-{b}"] == 99 for b in range(200)), "every bed ends at its latest value"
    assert messages < 8000, "a lagging client gets readings coalesced, not all 8,000"
    assert frames <= elapsed / tick + 3, f"{frames} frames in {elapsed:.2f} s with a {tick * 1000:.0f} ms tick"


def test_every_api_route_but_health_login_and_setup_needs_a_login(server: LiveServer) -> None:
    open_routes = {"/api/health", "/api/login", "/api/setup"}
    checked = 0
    with httpx.Client(base_url=server.base) as anon:
        for route, methods in server.app.openapi()["paths"].items():  # every route the app serves
            if not route.startswith("/api") or route in open_routes:
                continue
            path = re.sub(r"\{[^}]+\}", "1", route)
            for method in methods:
                res = anon.request(method.upper(), path, json={})
                assert res.status_code == 401, f"{method} {route} answered {res.status_code} without a login"
                checked += 1
    assert checked >= 15
