from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.hl7.listener import MllpListener
from monitor.config import Hl7Settings
from tests.adapters.hl7.hl7_helpers import StoredSink, stored_sink


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
