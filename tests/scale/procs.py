"""Real ``ivmon serve`` processes for the fault tests: start, wait until healthy, kill, log in, listen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse"


def write_config(
    path: Path,
    db_url: str,
    *,
    adapters: list[str] | None = None,
    hl7_port: int | None = None,
    beds: int = 3,
    extra: str = "",
) -> Path:
    lines = [f'db_url = "{db_url}"', f"adapters = {json.dumps(adapters or [])}", f'data_dir = "{path.parent}"', extra]
    lines += ["[beds]"] + [f'chair-{i} = "Chair {i}"' for i in range(1, beds + 1)]
    lines += ["[hl7]", f"enabled = {'true' if hl7_port else 'false'}", f"port = {hl7_port or 0}", 'host = "127.0.0.1"']
    for i in range(1, beds + 1):
        lines += ["[[hl7.bindings]]", f'bed = "chair-{i}"', f'location = "chair-{i}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def add_user(db_url: str, name: str = "nurse1", role: str = "nurse") -> None:
    subprocess.run(
        [sys.executable, "-m", "monitor.cli", "user", "add", name, "--role", role, "--password-stdin", "--db", db_url],
        cwd=ROOT,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


class Server:
    def __init__(self, config: Path, role: str, port: int | None = None, log: Path | None = None) -> None:
        self.config = config
        self.role = role
        self.port = port or free_port()
        self.log = log or config.with_name(f"{role}-{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, own_group: bool = False) -> Server:
        """``own_group``: in a process group of its own, as in a terminal (Ctrl-C signals the whole group)."""
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "serve",
                "--config",
                str(self.config),
                "--role",
                self.role,
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=own_group,
        )
        out.close()
        return self

    def wait_healthy(self, timeout: float = 40.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.role} exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.base}/api/health", timeout=1)
                if r.status_code == 200:
                    return dict(r.json())
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.role} not healthy in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, as a power cut or the OOM killer."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def health_details(base: str, cookies: httpx.Cookies) -> dict[str, Any]:
    """/api/health with a login: without one it says only ok or degraded."""
    r = httpx.get(f"{base}/api/health", cookies=cookies, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def rss_mb(pid: int) -> float:
    """A process's resident memory (0 once it is gone). bench/scale_out.py has its own: the benchmarks
    run without the tests, and mypy cannot import a script under two module names."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def login(base: str, name: str = "nurse1") -> httpx.Cookies:
    r = httpx.post(f"{base}/api/login", json={"username": name, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return r.cookies


def cookie_header(cookies: httpx.Cookies) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def messages(frame: str | bytes) -> list[dict[str, Any]]:
    msg = json.loads(frame)
    return list(msg["messages"]) if msg["type"] == "batch" else [msg]


async def listen(ws: Any, into: list[dict[str, Any]], stop: asyncio.Event) -> None:
    """Collect every message until ``stop`` or the connection ends."""
    try:
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.2)
            except TimeoutError:
                continue
            into.extend(messages(frame))
    except websockets.ConnectionClosed:
        return


def until(check: Any, timeout: float = 15.0) -> Any:
    """Poll ``check`` (a real process answers when it answers) until it returns something true; that."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.1)
