"""``/ws/live``: snapshot on connect, then every event with its ``seq``."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, WebSocket

from dashboard.auth import websocket_user
from dashboard.hub import ClientLane, Hub
from dashboard.views import snapshot
from monitor.service import Service
from monitor.store import sessions as session_store

router = APIRouter()


def _origin_allowed(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser (scripts, monitors' gateways): the cookie still decides
        return True
    host = ws.headers.get("host", "")
    allowed: list[str] = ws.app.state.service.settings.http.allowed_origins
    return origin in allowed or origin.split("://", 1)[-1] == host


@router.websocket("/ws/live")
async def live(ws: WebSocket) -> None:
    user = await asyncio.to_thread(websocket_user, ws)  # a cache miss reads the database: not on the loop
    if user is None or not _origin_allowed(ws):
        # Refused before the handshake completes: the browser sees a failed connection (HTTP 403).
        await ws.close(code=4401 if user is None else 4403)
        return
    await ws.accept()
    svc: Service = ws.app.state.service
    hub: Hub = ws.app.state.hub
    labels = await asyncio.to_thread(session_store.list_beds, svc.engine)  # the database is never read on the loop
    backlog = []
    since = ws.query_params.get("since")
    same_server = ws.query_params.get("epoch") == hub.epoch
    replay = svc.bus.since(int(since)) if same_server and since and since.isdigit() else None
    lane = ClientLane(ws, user.username, token=user.token_hash)
    lane.central = ws.query_params.get("view") == "central"
    if replay is not None and sum(e["type"] != "reading" for e in replay) > lane.max_important // 2:
        replay = None  # a backlog that would overflow the lane at once: a snapshot is smaller and current
    if replay is not None:
        backlog = replay
        first = orjson.dumps({"type": "resume", "seq": int(since or 0), "missed": len(replay), "epoch": hub.epoch})
    else:  # first connect, another server instance, or too far behind: everything afresh
        first = orjson.dumps({**snapshot(svc, labels), "epoch": hub.epoch})
    await hub.serve(lane, first, backlog)
