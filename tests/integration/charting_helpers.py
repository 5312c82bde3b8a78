"""A running ivmon with charting to EHR receivers: start, log in, wait for draft rows, act on them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from monitor.demo import ensure_demo_users
from tests.conftest import free_port
from tests.dashboard.liveserver import LiveServer

BED = "chair-1"

#: Rows every 2 s in baseline, values within 1.5 s, NIBP every 4 s; quick retries.
CHARTING = {"interval_baseline_s": 2.0, "window_s": 1.5, "retry_first_s": 0.2, "retry_max_s": 1.0}


def start_server(tmp_path: Path, ehr: dict[str, Any], port: int | None = None) -> LiveServer:
    srv = LiveServer(port or free_port(), f"sqlite:///{tmp_path / 'ivmon.db'}", [BED], ehr={**CHARTING, **ehr})
    srv.feeder.nibp_s = 4.0
    srv.on_build(ensure_demo_users)
    return srv.start()


@contextlib.contextmanager
def login(base: str, user: str = "nurse") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=20) as client:
        res = client.post("/api/login", json={"username": user, "password": "demo"})
        assert res.status_code == 200, res.text
        client.headers["X-CSRF-Token"] = res.json()["csrf"]
        yield client


def start_session(client: httpx.Client, patient_ref: str = "MRN-0042") -> int:
    res = client.post("/api/sessions", json={"bed": BED, "patient_ref": patient_ref})
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def chart(client: httpx.Client, session: int) -> list[dict[str, Any]]:
    res = client.get(f"/api/sessions/{session}/chart")
    assert res.status_code == 200, res.text
    rows: list[dict[str, Any]] = res.json()["rows"]
    return rows


def settled_drafts(client: httpx.Client, session: int, n: int, timeout: float = 40.0) -> list[dict[str, Any]]:
    """``n`` draft rows whose values can no longer change (older than the window) and hold HR and SpO2."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.time()
        rows = [
            r
            for r in chart(client, session)
            if r["status"] == "draft" and r["ts"] < now - 3 and r["values"]["hr"] and r["values"]["spo2"]
        ]
        if len(rows) >= n:
            return rows[:n]
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} settled draft rows")


def seen(row: dict[str, Any]) -> dict[str, float | None]:
    return {v: (c["value"] if c else None) for v, c in row["values"].items()}


def act(client: httpx.Client, session: int, row: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
    payload = {"action": action, **body}
    if action == "accept":
        payload.setdefault("seen", seen(row))
    res = client.post(f"/api/sessions/{session}/chart/{row['row']}", json=payload)
    assert res.status_code == 200, res.text
    out: dict[str, Any] = res.json()
    return out


def wait_status(client: httpx.Client, session: int, rows: dict[int, str], timeout: float = 30.0) -> None:
    """Wait until each row key has the status given."""
    deadline = time.monotonic() + timeout
    current: dict[int, str] = {}
    while time.monotonic() < deadline:
        current = {r["row"]: r["status"] for r in chart(client, session)}
        if all(current.get(k) == s for k, s in rows.items()):
            return
        time.sleep(0.2)
    raise AssertionError(f"statuses { ({k: current.get(k) for k in rows}) }, expected {rows}")
