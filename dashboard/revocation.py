"""Open screens follow their login: a login that ends anywhere closes its WebSockets here.

Every web process checks the logins behind its open sockets once a second, in one query: a
logout in another process, a changed role or password, a disabled user, an expired login or an
idle one (pages other than the central view) close the socket with code 4001 (the page goes to
the login). An open central view is use: it keeps its login from the idle timeout.
"""

from __future__ import annotations

import asyncio
import logging

from dashboard.auth import Auth
from dashboard.hub import Hub

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0


async def watch_logins(auth: Auth, hub: Hub, every_s: float = CHECK_EVERY_S) -> None:
    while True:
        await asyncio.sleep(every_s)
        lanes = [lane for lane in hub.clients if lane.token]
        if not lanes:
            continue
        tokens = {lane.token for lane in lanes}
        central = {lane.token for lane in lanes if lane.central}
        try:
            ended = await asyncio.to_thread(auth.ended, tokens, central)
        except Exception as exc:  # the database away: the screens stay (they show its outage), retried
            log.warning("could not check the logins of open screens: %s", type(exc).__name__)
            continue
        if ended:
            log.info("closing %d screen login(s) that ended", len(ended))
            await hub.close_logins(ended)
