"""Re-read the configuration file while running: what may change without a restart is applied.

Polls the file's modification time every ``interval`` seconds (and at once on
SIGHUP, where the platform has it): a mapping added to ``[hl7] local_codes``
takes effect within seconds, in every process that reads the file, without a
restart. A file that no longer parses is logged and ignored: the running
configuration stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from monitor.config import Settings, load_settings
from monitor.waiting import wait_event

log = logging.getLogger(__name__)

#: Applies re-read settings; returns the names of what changed (for the log).
Apply = Callable[[Settings], list[str]]


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


def reload_once(path: Path, appliers: list[Apply]) -> list[str]:
    """Read ``path`` and hand the settings to every applier; [] when unreadable (logged)."""
    try:
        settings = load_settings(path)
    except Exception as exc:  # a half-written or broken file must not stop the service
        log.warning("configuration %s not reloaded: %s", path, exc)
        return []
    changed: list[str] = []
    for apply in appliers:
        try:
            changed += apply(settings)
        except ValueError as exc:
            log.warning("configuration %s not applied: %s", path, exc)
    if changed:
        log.info("configuration %s reloaded: %s", path, ", ".join(changed))
    return changed


async def watch_config(path: Path, appliers: list[Apply], interval: float = 2.0) -> None:
    """Run until cancelled: reload ``path`` whenever it changes (or on SIGHUP)."""
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    hup = getattr(signal, "SIGHUP", None)
    installed = False
    if hup is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(hup, wake.set)
            installed = True
    seen = _mtime(path)
    try:
        while True:
            await wait_event(wake, interval)
            forced = wake.is_set()
            wake.clear()
            now = _mtime(path)
            if forced or (now is not None and now != seen):
                seen = now
                await asyncio.to_thread(reload_once, path, appliers)
    finally:
        if installed and hup is not None:
            loop.remove_signal_handler(hup)
