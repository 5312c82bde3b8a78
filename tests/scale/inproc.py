"""A real uvicorn server in a background thread (its own event loop), for HTTP-level tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from dashboard.app import create_app
from monitor.service import Service
from tests.conftest import free_port

T = TypeVar("T")


class Running:
    def __init__(
        self, service: Service, server: uvicorn.Server, loop: asyncio.AbstractEventLoop, port: int, app: FastAPI
    ) -> None:
        self.app = app
        self.service = service
        self.server = server
        self.loop = loop
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop (e.g. ``pipeline.submit``) and wait for it."""

        async def wrapped() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)


@contextmanager
def serve(service: Service) -> Iterator[Running]:
    port = free_port()
    app = create_app(service)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets"))
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield Running(service, server, holder["loop"], port, app)
    finally:
        server.should_exit = True
        thread.join(20)
