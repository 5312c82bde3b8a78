"""A real ivmon server (uvicorn in a thread with its own loop) on a database the test seeded."""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn

from dashboard.app import create_app
from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.service import build_service


class ReviewServer:
    def __init__(self, port: int, db_url: str, beds: dict[str, str]) -> None:
        self.port = port
        self.db_url = db_url
        self.beds = beds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ReviewServer:
        self._thread = threading.Thread(target=self._run, name="ivmon-review-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server is not None and self._server.started):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the test server did not start: {self._error!r}")
            time.sleep(0.05)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc

    async def _main(self) -> None:
        settings = load_settings(db_url=self.db_url, beds=self.beds)
        settings.hl7.enabled = False
        service = build_service(settings)
        ensure_demo_users(service)
        config = uvicorn.Config(
            create_app(service),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws="websockets",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        await self._server.serve()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
