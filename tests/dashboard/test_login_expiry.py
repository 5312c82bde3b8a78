"""A login's end closes its screens: expiry, and the idle timeout of pages other than the central view."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import websockets

from tests.dashboard.liveserver import running

BEDS = ["chair-1"]


def _login(base: str) -> tuple[httpx.Cookies, str]:
    r = httpx.post(f"{base}/api/login", json={"username": "nurse", "password": "demo"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.cookies, "; ".join(f"{k}={v}" for k, v in r.cookies.items())


async def _open_until_closed(url: str, cookie: str, seconds: float) -> int | None:
    """The close code the server sent within ``seconds``, or None if the socket stayed open."""
    async with websockets.connect(url, additional_headers={"Cookie": cookie}, max_size=None) as ws:
        deadline = time.monotonic() + seconds
        try:
            while (left := deadline - time.monotonic()) > 0:
                await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            return None
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1
    return None


def test_a_login_past_its_expiry_closes_its_websocket(tmp_path: Path) -> None:
    with running(tmp_path, BEDS, http={"session_hours": 3 / 3600}) as server:  # a 3 s login
        cookies, cookie = _login(server.base)
        started = time.monotonic()
        code = asyncio.run(_open_until_closed(server.base.replace("http", "ws") + "/ws/live", cookie, 15))
        assert code == 4001, "the screen of an expired login is closed"
        assert time.monotonic() - started < 10
        assert httpx.get(f"{server.base}/api/me", cookies=cookies).status_code == 401


def test_idle_logins_end_except_while_a_central_view_is_open(tmp_path: Path) -> None:
    with running(tmp_path, BEDS, http={"idle_timeout_min": 3 / 60}) as server:  # 3 s idle timeout
        ws = server.base.replace("http", "ws") + "/ws/live"
        wall_cookies, wall = _login(server.base)
        page_cookies, page = _login(server.base)

        async def both() -> tuple[int | None, int | None]:
            central = _open_until_closed(ws + "?view=central", wall, 8)
            other = _open_until_closed(ws, page, 8)  # e.g. a bed page left open
            return await asyncio.gather(central, other)

        central_code, other_code = asyncio.run(both())
        assert central_code is None, "the central view stays signed in while it is open"
        assert other_code == 4001, "another page's login ends after the idle timeout"
        assert httpx.get(f"{server.base}/api/me", cookies=wall_cookies).status_code == 200
        assert httpx.get(f"{server.base}/api/me", cookies=page_cookies).status_code == 401
        # A login with no page open at all ends too, at its next request.
        idle_cookies, _ = _login(server.base)
        time.sleep(4)
        assert httpx.get(f"{server.base}/api/me", cookies=idle_cookies).status_code == 401
