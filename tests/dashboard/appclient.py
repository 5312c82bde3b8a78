"""The real app in-process (FastAPI's TestClient) on a database the test seeded, with the demo users."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.service import Service, build_service


def demo_service(db_url: str, **settings: Any) -> Service:
    """A single-process service on ``db_url`` without its HL7 listener, with the demo's users."""
    config = load_settings(db_url=db_url, **settings)
    config.hl7.enabled = False
    svc = build_service(config)
    ensure_demo_users(svc)
    return svc


def login(client: TestClient, user: str) -> None:
    """Sign in a demo user (password "demo"), sending its CSRF token with every later request."""
    client.cookies.clear()
    r = client.post("/api/login", json={"username": user, "password": "demo"})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
