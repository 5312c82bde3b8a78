"""A real ivmon server for the dashboard tests: uvicorn in a background thread with its own event loop.

Readings come from :class:`ScriptedBeds`, an adapter that feeds the real
pipeline at 1 Hz per bed with values the test steers (``beds.values[bed]["spo2"] = 80``).
Stopping and starting again on the same port and database is how the tests
take the server away from a page and give it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from adapters.base import IngestSink
from dashboard.app import create_app
from monitor.clock import REAL_CLOCK, Clock
from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.model import Reading, Vital
from monitor.service import Service, build_service

UNITS = {Vital.HR: "bpm", Vital.SPO2: "%", Vital.SBP: "mmHg", Vital.DBP: "mmHg", Vital.MAP: "mmHg"}


class ScriptedBeds:
    """An adapter: every bed sends HR and SpO2 each second and an NIBP every ``nibp_s``."""

    name = "scripted"

    def __init__(
        self, beds: list[str], *, period_s: float = 1.0, nibp_s: float = 60.0, clock: Clock = REAL_CLOCK
    ) -> None:
        self.beds = beds
        #: The service's clock: readings are stamped with it and its seconds are waited for (a scaled
        #: clock plays a 40-minute infusion in under a minute).
        self.clock = clock
        self.period_s = period_s
        self.nibp_s = nibp_s
        self.values: dict[str, dict[Vital, float]] = {
            b: {Vital.HR: 70.0 + i, Vital.SPO2: 97.0, Vital.SBP: 122.0, Vital.DBP: 78.0, Vital.MAP: 93.0}
            for i, b in enumerate(beds)
        }
        self.sent = 0
        #: Beds whose monitor has gone quiet (nothing is sent for them).
        self.paused: set[str] = set()

    def health(self) -> dict[str, object]:
        return {"kind": "scripted", "beds": len(self.beds), "readings_sent": self.sent}

    async def run(self, sink: IngestSink) -> None:
        last_nibp = 0.0
        while True:
            now = self.clock.now()
            nibp = now - last_nibp >= self.nibp_s
            if nibp:
                last_nibp = now
            items: list[Any] = []
            for bed in self.beds:
                if bed in self.paused:
                    continue
                for vital, value in self.values[bed].items():
                    if vital in (Vital.HR, Vital.SPO2) or nibp:
                        items.append(Reading(vital, value, UNITS[vital], now, f"scripted:{bed}", bed=bed))
            await sink.submit(items)
            self.sent += len(items)
            await self.clock.sleep(self.period_s)


class LiveServer:
    def __init__(self, port: int, db_url: str, beds: list[str], *, clock: Clock = REAL_CLOCK, **settings: Any) -> None:
        self.port = port
        self.db_url = db_url
        self.bed_ids = beds
        self.settings = settings
        self.clock = clock
        self.feeder = ScriptedBeds(beds, clock=clock)
        self.service: Service | None = None
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._setup: list[Callable[[Service], None]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on_build(self, fn: Callable[[Service], None]) -> None:
        self._setup.append(fn)

    def start(self, timeout: float = 20.0) -> LiveServer:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="ivmon-test-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server is not None and self._server.started):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    async def _main(self) -> None:
        settings = load_settings(
            db_url=self.db_url, beds={b: b.replace("chair-", "Chair ") for b in self.bed_ids}, **self.settings
        )
        if "hl7" not in self.settings:  # a test that talks HL7 passes its [hl7] settings
            settings.hl7.enabled = False
        self.service = build_service(settings, clock=self.clock)
        for fn in self._setup:
            fn(self.service)
        self.service.add_adapter(self.feeder)
        app = self.app = create_app(self.service)
        self.loop = asyncio.get_running_loop()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        await self._server.serve()

    def call(self, make: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop (e.g. start a session) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        self._server = None
        self.loop = None


@contextlib.contextmanager
def running(tmp_path: Path, beds: list[str], **settings: Any) -> Iterator[LiveServer]:
    """A started server on a free port and a fresh SQLite database, with the demo users (password "demo")."""
    from tests.conftest import free_port

    srv = LiveServer(free_port(), f"sqlite:///{tmp_path / 'ivmon.db'}", beds, **settings)
    srv.on_build(ensure_demo_users)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
