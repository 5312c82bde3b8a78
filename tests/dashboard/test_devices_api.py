"""Monitors moving between chairs, through the real HL7 socket and the HTTP API (issue 18, binding of 13/14).

A server with its MLLP listener; monitors are independent MLLP clients sending PCD-01
messages; nurses use the API over HTTP. Association, moves, ends with the session,
fixed monitors from the configuration, claims (with the baseline judged again),
strict binding (quarantine) and alarms of unassigned monitors naming where they are.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from adapters.hl7.client import MllpClient
from monitor.model import Vital
from monitor.store import readings as reading_store
from monitor.store import schema
from simulators.emit.pcd01 import encode_pcd01
from tests.conftest import free_port
from tests.dashboard.liveserver import LiveServer
from tests.dashboard.test_live_server import cookie_header, login, ws_url

BEDS = ["chair-1", "chair-2", "chair-3"]


def start_server(tmp_path: Path, db_url: str, **hl7: Any) -> LiveServer:
    from monitor.demo import ensure_demo_users

    port = free_port()
    srv = LiveServer(free_port(), db_url, BEDS, hl7={"host": "127.0.0.1", "port": port, "timezone": "UTC", **hl7})
    srv.feeder.beds = []  # no scripted readings: only the monitors below send
    srv.hl7_port = port  # type: ignore[attr-defined]
    srv.on_build(ensure_demo_users)
    return srv.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = start_server(
        tmp_path,
        f"sqlite:///{tmp_path / 'ivmon.db'}",
        bindings=[{"bed": "chair-3", "device": "FIXED-3"}],
    )
    try:
        yield srv
    finally:
        srv.stop()


def send(srv: LiveServer, device: str, vitals: dict[Vital, float], stamps: list[float], location: str = "") -> None:
    """One monitor: its own MLLP connection, one message per stamp, each answered AA before the next."""

    async def run() -> None:
        client = MllpClient("127.0.0.1", srv.hl7_port)  # type: ignore[attr-defined]
        await client.connect()
        try:
            for ts in stamps:
                ack = await client.send(encode_pcd01(vitals, ts, device=device, location=location))
                assert ack.code == "AA", ack
        finally:
            await client.close()

    asyncio.run(run())


def devices(nurse: httpx.Client) -> dict[str, dict[str, Any]]:
    res = nurse.get("/api/devices")
    assert res.status_code == 200, res.text
    return {d["device"]: d for d in res.json()["devices"]}


def bed(nurse: httpx.Client, bed_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(b for b in nurse.get("/api/beds").json()["beds"] if b["id"] == bed_id)
    return found


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def audit_actions(srv: LiveServer) -> list[tuple[str, str, dict[str, Any]]]:
    assert srv.service is not None
    a = schema.audit.c
    with srv.service.engine.connect() as conn:
        rows = conn.execute(select(a.user, a.action, a.detail).where(a.action.like("device_%")).order_by(a.id)).all()
    return [(r.user, r.action, json.loads(r.detail)) for r in rows]


def test_a_nurse_associates_moves_and_releases_a_monitor_and_the_session_end_releases_it(server: LiveServer) -> None:
    send(server, "MR-2231", {Vital.HR: 71.0, Vital.SPO2: 97.0}, [time.time()])
    with login(server.base, "nurse") as nurse:
        seen = devices(nurse)["MR-2231"]
        assert seen["bed"] is None and seen["kind"] == "hl7"
        assert (
            seen["address"] == "127.0.0.1" and seen["model"] == "IVMON_SIM" and seen["state"] == "disconnected"
        )  # its connection closed
        assert seen["vitals"]["hr"]["value"] == 71.0 and seen["vitals"]["hr"]["age_s"] >= 0
        assert bed(nurse, "chair-1")["vitals"] == {}

        # A session starts with the monitor typed in lower case: it is the one sending.
        res = nurse.post("/api/sessions", json={"bed": "chair-1", "patient_ref": "PT-1", "device": "mr-2231"})
        assert res.status_code == 201, res.text
        session = res.json()
        assert session["device"]["association"]["device"] == "MR-2231"
        send(server, "MR-2231", {Vital.HR: 72.0, Vital.SPO2: 96.0}, [time.time()])
        assert bed(nurse, "chair-1")["vitals"]["hr"]["value"] == 72.0
        assert devices(nurse)["MR-2231"]["bed"] == "chair-1"

        # Wheeled to chair 2: the association with chair 1 ends, readings go to chair 2.
        res = nurse.post("/api/beds/chair-2/devices", json={"device": "MR-2231"})
        assert res.status_code == 200, res.text
        assert [e["bed"] for e in res.json()["ended"]] == ["chair-1"]
        send(server, "MR-2231", {Vital.HR: 90.0, Vital.SPO2: 95.0}, [time.time()])
        assert bed(nurse, "chair-2")["vitals"]["hr"]["value"] == 90.0
        assert bed(nurse, "chair-1")["vitals"]["hr"]["value"] == 72.0

        # Taken off chair 2: unassigned again.
        assert nurse.delete("/api/beds/chair-2/devices/MR-2231").status_code == 200
        assert nurse.delete("/api/beds/chair-2/devices/MR-2231").status_code == 404
        send(server, "MR-2231", {Vital.HR: 65.0}, [time.time()])
        assert devices(nurse)["MR-2231"]["bed"] is None
        assert bed(nurse, "chair-2")["vitals"]["hr"]["value"] == 90.0

        # Back on chair 1; ending chair 1's session ends the association.
        assert nurse.post("/api/beds/chair-1/devices", json={"device": "MR-2231"}).status_code == 200
        assert devices(nurse)["MR-2231"]["bed"] == "chair-1"
        res = nurse.post(f"/api/sessions/{session['id']}/phase", json={"phase": "aborted", "reason": "test"})
        assert res.status_code == 200, res.text
        assert devices(nurse)["MR-2231"]["bed"] is None
        # The one last used on chair 1 is offered first at its next session.
        assert nurse.get("/api/devices").json()["last_on_bed"]["chair-1"] == "MR-2231"

        # Chair 3 keeps its fixed monitor across sessions; it cannot be moved from the screen.
        send(server, "FIXED-3", {Vital.HR: 80.0}, [time.time()])
        assert devices(nurse)["FIXED-3"]["bed"] == "chair-3"
        s3 = nurse.post("/api/sessions", json={"bed": "chair-3", "patient_ref": "PT-3"}).json()
        nurse.post(f"/api/sessions/{s3['id']}/phase", json={"phase": "aborted", "reason": "test"})
        assert devices(nurse)["FIXED-3"]["association"]["fixed"] is True
        assert nurse.post("/api/beds/chair-1/devices", json={"device": "FIXED-3"}).status_code == 409
        assert nurse.delete("/api/beds/chair-3/devices/FIXED-3").status_code == 409

        # Refusals: unknown chair, malformed id, no login.
        assert nurse.post("/api/beds/chair-9/devices", json={"device": "MR-2231"}).status_code == 404
        assert nurse.post("/api/beds/chair-1/devices", json={"device": "bad\nid"}).status_code == 422
        assert nurse.post("/api/beds/chair-1/devices", json={"device": "x" * 129}).status_code == 422
    assert httpx.post(server.base + "/api/beds/chair-1/devices", json={"device": "MR-2231"}).status_code in (401, 403)

    actions = audit_actions(server)
    assert [a for _, a, _ in actions] == [
        "device_associate",  # session start, chair 1
        "device_release",  # moved to chair 2
        "device_associate",
        "device_release",  # taken off chair 2
        "device_associate",  # back on chair 1
        "device_release",  # chair 1's session ended
    ]
    assert {u for u, _, _ in actions} == {"nurse"}
    assert actions[1][2]["why"] == "moved to chair-2" and "session" in actions[5][2]["why"]

    # Stored with start and end, so a restart knows what is still associated.
    assert server.service is not None
    c = schema.device_associations.c
    with server.service.engine.connect() as conn:
        rows = conn.execute(select(c.bed_id, c.ended.is_not(None)).order_by(c.id)).all()
    assert [(r[0], r[1]) for r in rows] == [("chair-1", True), ("chair-2", True), ("chair-1", True)]


def test_claimed_readings_join_the_session_and_its_baseline_is_judged_again(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    now = time.time()
    # The monitor was put on the patient 4 minutes before the nurse started the session.
    early = [now - 240 + 2 * i for i in range(61)]  # 120 s of baseline at HR 100
    send(server, "MR-77", {Vital.HR: 100.0, Vital.SPO2: 98.0}, early)
    with login(server.base, "nurse") as nurse:
        session = nurse.post("/api/sessions", json={"bed": "chair-2", "patient_ref": "PT-2", "device": "MR-77"}).json()
        sid = session["id"]
        assert svc.alarms.baseline(sid, Vital.HR) is None
        # Outside the window: refused.
        res = nurse.post("/api/beds/chair-2/devices/MR-77/claim", json={"since": now - 3600})
        assert res.status_code == 422, res.text
        res = nurse.post("/api/beds/chair-2/devices/MR-77/claim", json={"since": now - 300})
        assert res.status_code == 200, res.text
        claimed = res.json()
        assert claimed["claimed"] == 2 * 61
        assert claimed["session_started"] == pytest.approx(early[0])
        # Claimed once: a second claim finds nothing left.
        assert nurse.post("/api/beds/chair-2/devices/MR-77/claim", json={"since": now - 300}).json()["claimed"] == 0
        # The baseline phase ends: its baseline is the claimed readings' median.
        res = nurse.post(f"/api/sessions/{sid}/phase", json={"phase": "infusion"})
        assert res.status_code == 200, res.text
        assert svc.alarms.baseline(sid, Vital.HR) == 100.0
        assert svc.alarms.baseline(sid, Vital.SPO2) == 98.0
        assert nurse.get(f"/api/sessions/{sid}").json()["started"] == pytest.approx(early[0])
    frame = reading_store.session_readings(svc.engine, sid)
    assert len(frame) == 2 * 61 and set(frame["source"]) == {"MR-77"}
    claim = [d for _, a, d in audit_actions(server) if a == "device_claim"]
    assert claim[0]["readings"] == 2 * 61 and claim[0]["device"] == "MR-77"


def test_claims_after_the_baseline_phase_recompute_the_fixed_baseline(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    now = time.time()
    send(server, "MR-88", {Vital.HR: 60.0}, [now - 200 + 2 * i for i in range(40)])
    with login(server.base, "nurse") as nurse:
        sid = nurse.post("/api/sessions", json={"bed": "chair-1", "patient_ref": "PT-8", "device": "MR-88"}).json()[
            "id"
        ]
        nurse.post(f"/api/sessions/{sid}/phase", json={"phase": "infusion"})
        assert svc.alarms.baseline(sid, Vital.HR) is None  # nothing in the baseline phase yet
        res = nurse.post("/api/beds/chair-1/devices/MR-88/claim", json={"since": now - 250})
        assert res.json()["claimed"] == 40
        assert svc.alarms.baseline(sid, Vital.HR) == 60.0


def test_a_chair_bound_to_a_monitor_quarantines_other_senders_over_real_sockets(tmp_path: Path, db_url: str) -> None:
    srv = start_server(
        tmp_path,
        db_url,
        bindings=[
            {"bed": "chair-1", "device": "MON-07"},
            {"bed": "chair-1", "location": "KETA^^1"},
            {"bed": "chair-2", "location": "KETA^^2"},
        ],
    )
    try:
        svc = srv.service
        assert svc is not None
        now = time.time()
        send(srv, "MON-07", {Vital.HR: 90.0, Vital.SPO2: 97.0}, [now], location="KETA^^1")
        # A forger names chair 1's point of care, with its own device id, stamped later.
        send(srv, "EVIL-1", {Vital.HR: 62.0, Vital.SPO2: 99.0}, [now + 1, now + 2, now + 3], location="KETA^^1")
        with login(srv.base, "nurse") as nurse:
            chair = bed(nurse, "chair-1")
            assert chair["vitals"]["hr"]["value"] == 90.0 and chair["vitals"]["hr"]["source"] == "MON-07"
            alarms = [a for a in nurse.get("/api/alarms").json() if a["rule"].startswith("unexpected-source")]
            assert len(alarms) == 1, alarms  # once per source, not per message
            assert alarms[0]["bed"] == "chair-1" and alarms[0]["kind"] == "technical"
            assert alarms[0]["message"] == "Unexpected source for Chair 1: device EVIL-1 (127.0.0.1)"

            # Chair 2 is bound by location only: any monitor there is accepted ...
            send(srv, "MR-5", {Vital.HR: 75.0}, [now], location="KETA^^2")
            assert bed(nurse, "chair-2")["vitals"]["hr"]["value"] == 75.0
            # ... until a nurse associates one: then only that one.
            assert nurse.post("/api/beds/chair-2/devices", json={"device": "MR-6"}).status_code == 200
            send(srv, "MR-5", {Vital.HR: 140.0}, [time.time() + 1], location="KETA^^2")
            assert bed(nurse, "chair-2")["vitals"]["hr"]["value"] == 75.0
            assert any(
                a["message"].startswith("Unexpected source for Chair 2: device MR-5")
                for a in nurse.get("/api/alarms").json()
            )
        # Stored, quarantined, never the chair's and never judged.
        r = schema.readings.c
        with svc.engine.connect() as conn:
            rows = conn.execute(
                select(r.source, r.bed_id, r.session_id, r.quality).where(r.source.in_(["EVIL-1", "MR-5"]))
            ).all()
        evil = [row for row in rows if row.source == "EVIL-1"]
        assert len(evil) == 6 and {(row.bed_id, row.session_id, row.quality) for row in evil} == {
            (None, None, "quarantined")
        }
        assert sorted(row.quality for row in rows if row.source == "MR-5") == ["quarantined", "valid"]
        assert not any(a.rule_id == "hr-high-critical" for a in svc.live.alarms.values())
    finally:
        srv.stop()


def test_an_unassigned_monitors_alarm_names_the_device_and_its_address_on_the_live_feed(server: LiveServer) -> None:
    with login(server.base, "nurse") as nurse:

        async def watch() -> dict[str, Any]:
            headers = {"Cookie": cookie_header(nurse)}
            async with websockets.connect(ws_url(server.base), additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"
                await asyncio.to_thread(send, server, "MR-2231", {Vital.SPO2: 80.0, Vital.HR: 88.0}, [time.time()])
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg["type"] == "alarm" and msg["alarm"]["rule"] == "spo2-critical":
                        return dict(msg["alarm"])

        alarm = asyncio.run(watch())
        assert alarm["bed"] is None
        assert alarm["source"] == {"device": "MR-2231", "address": "127.0.0.1"}
        assert alarm["message"] == "Unassigned monitor MR-2231 (127.0.0.1): SpO2 80 % (limit 85 %)"
        listed = [a for a in nurse.get("/api/alarms").json() if a["rule"] == "spo2-critical"]
        assert listed[0]["source"]["address"] == "127.0.0.1"
