from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

import pytest
import uvloop

from adapters.hl7.listener import MllpListener
from monitor.config import Hl7Settings
from tests.adapters.hl7.hl7_helpers import StoredSink, stored_sink

#: Modules whose every test runs on asyncio's own loop and on uvloop, which the service runs
#: (their transports differ: uvloop's do not subclass asyncio.Transport).
BOTH_LOOPS = {"test_hl7_listener.py", "test_hl7_trust.py"}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.path.name not in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
async def sink(sqlite_url: str) -> AsyncIterator[StoredSink]:
    """The real pipeline (validation, binding, batched writer, alarm engine) over a temporary SQLite file."""
    async with stored_sink(sqlite_url) as s:
        yield s


@pytest.fixture
async def listener(sink: StoredSink) -> AsyncIterator[MllpListener]:
    settings = Hl7Settings(host="127.0.0.1", port=0, timezone="UTC", max_message_bytes=8192, idle_timeout_s=30)
    lst = MllpListener(settings)
    await lst.start(sink)
    try:
        yield lst
    finally:
        await lst.stop()
