"""WebSocket fan-out latency: simulated beds at 1 Hz into the real pipeline, N real clients on a real server.

    python bench/fanout.py                       # 100 beds x 20 clients, then 1,000 beds x 50 clients
    python bench/fanout.py --beds 300 --clients 10 --seconds 20

The server (build_service + create_app under uvicorn, SQLite in a temp dir)
runs in its own process; the clients (the ``websockets`` library) in this one.
Both share the machine's cores, so the figures include client-side parsing.

* reading latency: a reading's timestamp (taken as it enters the pipeline)
  to its arrival at a client, for every reading message every client receives
  (a coalesced message is measured by its newest reading);
* alarm latency: an alarm's start (the timestamp of the reading that started
  it) to the arrival of its ``started`` event at each client. Every 2 s one bed
  desaturates to SpO2 80 % (rule spo2-critical: no condition delay) for 3 s.

FANOUT_GC_LOG=1 prints the server's garbage-collector pauses and event-loop
stalls (with the loop's stack during a long one): what limits the p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password"


# -- server side -------------------------------------------------------------------------
class BenchBeds:
    """Adapter: ``beds`` chairs, HR and SpO2 at 1 Hz each, submitted in chunks spread over the second."""

    name = "bench"

    def __init__(self, beds: int, chunks: int = 20) -> None:
        self.beds = [f"bed-{i:04d}" for i in range(1, beds + 1)]
        self.chunks = chunks
        self.spo2: dict[str, float] = dict.fromkeys(self.beds, 97.0)

    def health(self) -> dict[str, object]:
        return {"kind": "bench", "beds": len(self.beds)}

    async def run(self, sink: Any) -> None:
        from monitor.model import Reading, Vital

        tasks = {asyncio.create_task(self._desaturations())}  # held: a task without a reference may vanish
        if os.environ.get("FANOUT_GC_LOG"):
            tasks.add(asyncio.create_task(_log_loop_stalls()))
        size = max(1, len(self.beds) // self.chunks)
        groups = [self.beds[i : i + size] for i in range(0, len(self.beds), size)]
        period = 1.0 / len(groups)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            for group in groups:
                now = time.time()
                items = []
                for bed in group:
                    src = f"bench:{bed}"
                    items.append(Reading(Vital.HR, 72.0, "bpm", now, src, bed=bed))
                    items.append(Reading(Vital.SPO2, self.spo2[bed], "%", now, src, bed=bed))
                # Like independent devices: no one waits for another's storage.
                task = asyncio.create_task(sink.submit(items))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += period
                await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _desaturations(self) -> None:
        i = 0
        while True:
            await asyncio.sleep(2.0)
            bed = self.beds[(i * 7919) % len(self.beds)]
            i += 1
            self.spo2[bed] = 80.0
            asyncio.get_running_loop().call_later(3.0, self.spo2.__setitem__, bed, 97.0)


def serve(port: int, db: str, beds: int, ws: str) -> None:
    import uvicorn

    from dashboard.app import create_app
    from dashboard.auth import hash_password
    from monitor.config import load_settings
    from monitor.service import build_service
    from monitor.store import auth as store_auth

    if os.environ.get("FANOUT_GC_LOG"):
        _log_gc_pauses()
    settings = load_settings(db_url=db)
    settings.hl7.enabled = False
    service = build_service(settings)
    store_auth.save_user(service.engine, "bench", hash_password(PASSWORD), "nurse")
    service.add_adapter(BenchBeds(beds))
    app = create_app(service)
    if not os.environ.get("FANOUT_NO_GC_FREEZE"):  # as `ivmon serve` does (monitor/cli.py)
        import gc

        gc.collect()
        gc.freeze()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws=ws)


async def _log_loop_stalls(threshold_s: float = 0.1) -> None:
    """Print whenever the server's event loop could not run a 10 ms timer for ``threshold_s``; a watchdog
    thread prints what the loop's thread was doing during a long stall (the limit to look at)."""
    import threading
    import traceback

    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    beat = [time.monotonic()]

    def watchdog() -> None:
        reported = 0.0
        while True:
            time.sleep(0.05)
            if time.monotonic() - beat[0] > 0.3 and beat[0] != reported:
                reported = beat[0]
                frame = sys._current_frames().get(loop_thread)
                where = "".join(traceback.format_stack(frame)[-14:]) if frame else "?"
                print(f"loop busy > 300 ms in:\n{where}", flush=True)

    threading.Thread(target=watchdog, daemon=True).start()
    while True:
        before = loop.time()
        beat[0] = time.monotonic()
        await asyncio.sleep(0.01)
        if (late := loop.time() - before - 0.01) > threshold_s:
            print(f"event loop stalled {late * 1000:.0f} ms (load average {os.getloadavg()[0]:.1f})", flush=True)


def _log_gc_pauses(threshold_s: float = 0.02) -> None:
    """Print every garbage-collector pass longer than ``threshold_s`` (a stall of the server's event loop)."""
    import gc

    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif (took := time.perf_counter() - started[0]) > threshold_s:
            print(f"gc gen{info['generation']}: {took * 1000:.0f} ms, {info['collected']} collected", flush=True)

    gc.callbacks.append(callback)


# -- client side -------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def client(url: str, cookie: str, until: float, warm: float, out: dict[str, list[float]]) -> None:
    import websockets

    async with websockets.connect(url, additional_headers={"Cookie": cookie}, max_size=None) as ws:
        while True:
            left = until - time.time()
            if left <= 0:
                return
            try:
                raw = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                return
            arrived = time.time()
            msg = orjson.loads(raw)
            if arrived < warm:
                continue
            for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                if m["type"] == "reading":
                    out["reading"].append(arrived - m["ts"])
                elif m["type"] == "alarm" and m.get("transition") == "started":
                    out["alarm"].append(arrived - m["alarm"]["started"])


async def measure(base: str, clients: int, seconds: float, warmup: float) -> dict[str, list[float]]:
    import httpx

    async with httpx.AsyncClient(base_url=base) as http:
        res = await http.post("/api/login", json={"username": "bench", "password": PASSWORD})
        res.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    out: dict[str, list[float]] = {"reading": [], "alarm": []}
    start = time.time()
    url = base.replace("http://", "ws://") + "/ws/live"
    await asyncio.gather(*(client(url, cookie, start + warmup + seconds, start + warmup, out) for _ in range(clients)))
    return out


def run_case(beds: int, clients: int, seconds: float, warmup: float, ws: str) -> dict[str, float]:
    import httpx

    from tests.conftest import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--db", db, "--beds", str(beds), "--ws", ws],
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            server0 = _proc_cpu_s(proc.pid)
            out = asyncio.run(measure(base, clients, seconds, warmup))
            server_cpu = (_proc_cpu_s(proc.pid) - server0) / (seconds + warmup)
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    r, a = out["reading"], out["alarm"]
    client_cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / (seconds + warmup)
    return {
        "beds": beds,
        "clients": clients,
        "readings_measured": len(r),
        "alarms_measured": len(a),
        "reading_p50_ms": pct(r, 50) * 1000,
        "reading_p99_ms": pct(r, 99) * 1000,
        "alarm_p50_ms": pct(a, 50) * 1000,
        "alarm_p99_ms": pct(a, 99) * 1000,
        "alarm_max_ms": max(a, default=0) * 1000,
        "client_cpu_share": client_cpu,
        "server_cpu_share": server_cpu,
    }


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beds", type=int)
    ap.add_argument("--clients", type=int)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--ws", default="websockets", help="uvicorn WebSocket implementation (ivmon serve: websockets)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.beds, args.ws)
        return
    cases = [(args.beds, args.clients)] if args.beds and args.clients else [(100, 20), (1000, 50)]
    print(
        f"fan-out on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}); uvicorn ws={args.ws}; "
        f"{args.seconds:g} s measured after {args.warmup:g} s warm-up"
    )
    for beds, clients in cases:
        f = run_case(beds, clients, args.seconds, args.warmup, args.ws)
        print(
            f"{beds:>5} beds x {clients:>3} clients: reading p50 {f['reading_p50_ms']:.0f} ms, "
            f"p99 {f['reading_p99_ms']:.0f} ms ({f['readings_measured']:,} msgs) | "
            f"alarm p50 {f['alarm_p50_ms']:.0f} ms, "
            f"p99 {f['alarm_p99_ms']:.0f} ms, max {f['alarm_max_ms']:.0f} ms ({f['alarms_measured']} deliveries) | "
            f"CPU: server {f['server_cpu_share']:.0%}, clients {f['client_cpu_share']:.0%} of one core",
            flush=True,
        )


if __name__ == "__main__":
    main()
