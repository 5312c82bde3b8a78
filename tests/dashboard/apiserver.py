"""The real app on a real port in the test's own event loop (uvicorn), with the demo users signed in by name."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from dashboard.app import create_app
from monitor.clock import REAL_CLOCK, Clock
from monitor.config import Hl7Settings, load_settings
from monitor.demo import ensure_demo_users
from monitor.service import Service, build_service
from tests.conftest import free_port


@contextlib.asynccontextmanager
async def served(db_url: str, *, clock: Clock = REAL_CLOCK, **settings: Any) -> AsyncIterator[tuple[Service, str]]:
    """A single-process service on ``db_url`` (no HL7 listener) on ``clock``, and the base URL of its app."""
    service = build_service(load_settings(db_url=db_url, hl7=Hl7Settings(enabled=False), **settings), clock=clock)
    ensure_demo_users(service)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def login(client: httpx.AsyncClient, user: str) -> None:
    """Sign in a demo user (password "demo") and send its CSRF token with every later request."""
    r = await client.post("/api/login", json={"username": user, "password": "demo"})
    assert r.status_code == 200
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
