"""1,000 beds at 1 Hz over HL7 into real ``ivmon serve`` processes: sustained rate, alarm-to-screen, memory.

    python bench/scale_out.py [--beds 1000] [--seconds 60] [--db postgres|sqlite] [--split | --all]
                              [--alarm-beds 50] [--json]

Every bed is a monitor on its own MLLP connection sending one PCD-01 message a
second (HR, PR, SpO2; a cuff reading every 5 min), waiting for each ACK as
monitors do. ``--alarm-beds`` of them swing SpO2 between 97 and 80 every 10 s,
so the ``spo2-critical`` alarm starts and resolves all along. With ``--split``
(default on PostgreSQL) an ingest process takes the HL7 and a web process
serves the screen (events through the log and LISTEN/NOTIFY); ``--all`` is one
process. One WebSocket screen on the web process measures, for every alarm
start and every reading, the time from the monitor's send (the message's
timestamp) to the frame's arrival: HL7 parse, commit, engine, log, NOTIFY,
hub tick (<= 50 ms), WebSocket.

Printed: messages and readings sent/AA'd/stored (counted on both sides),
reading- and alarm-to-screen p50/p99/max, the processes' RSS over the run.
The soak (tests/scale/test_soak.py, slow) runs this for 10 minutes as its second test; its first
drives one ingest process with `ivmon simulate` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from adapters.hl7.client import MllpClient  # noqa: E402
from monitor.model import Vital  # noqa: E402
from monitor.store import schema  # noqa: E402
from simulators.emit.pcd01 import encode_pcd01  # noqa: E402

PASSWORD = "bench password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _screen(web: int, started_wall: float, seconds: float) -> tuple[list[float], list[float], int]:
    """One screen: latency from each message's timestamp to its frame's arrival (its own process: no
    contention with the 1,000 simulated monitors)."""
    reading_lat: list[float] = []
    alarm_lat: list[float] = []
    count = 0
    r = httpx.post(f"http://127.0.0.1:{web}/api/login", json={"username": "bench", "password": PASSWORD})
    r.raise_for_status()
    cookie = "; ".join(f"{k}={v}" for k, v in r.cookies.items())
    deadline = time.monotonic() + seconds
    async with websockets.connect(
        f"ws://127.0.0.1:{web}/ws/live", additional_headers={"Cookie": cookie}, max_size=None
    ) as ws:
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            msg = json.loads(frame)
            for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                count += 1
                if m["type"] == "reading" and m["ts"] >= started_wall:
                    reading_lat.append(now - m["ts"])
                elif m["type"] == "alarm" and m.get("transition") == "started":
                    alarm = m["alarm"]
                    if alarm["rule"] == "spo2-critical" and alarm["started"] >= started_wall:
                        alarm_lat.append(now - alarm["started"])
    return reading_lat, alarm_lat, count


def screen_process(web: int, started_wall: float, seconds: float, out: Any) -> None:
    out.send(asyncio.run(_screen(web, started_wall, seconds)))
    out.close()


class Run:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.hl7_port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.sent_messages = 0
        self.acked_messages = 0
        self.acked_readings = 0
        self.non_aa: dict[str, int] = {}
        self.reading_lat: list[float] = []
        self.alarm_lat: list[float] = []
        self.screen_messages = 0
        self.rss: dict[str, list[int]] = {}
        self.started_wall = 0.0

    # -- processes ---------------------------------------------------------------------
    def config(self, db_url: str) -> Path:
        beds = "\n".join(f'bed-{i:04d} = "Bed {i}"' for i in range(self.args.beds))
        bindings = "\n".join(
            f'[[hl7.bindings]]\nbed = "bed-{i:04d}"\nlocation = "bed-{i:04d}"' for i in range(self.args.beds)
        )
        path = self.tmp / "ivmon.toml"
        path.write_text(
            f'db_url = "{db_url}"\ndata_dir = "{self.tmp}"\n[beds]\n{beds}\n'
            f'[hl7]\nport = {self.hl7_port}\nhost = "127.0.0.1"\nmax_connections_per_address = {self.args.beds + 50}\n'
            f"max_unassigned_per_address = {self.args.beds + 50}\nmax_unassigned_total = {self.args.beds + 50}\n"
            f"{bindings}\n"
        )
        return path

    def start(self, config: Path, db_url: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "user",
                "add",
                "bench",
                "--role",
                "nurse",
                "--password-stdin",
                "--db",
                db_url,
            ],
            cwd=ROOT,
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        roles = ["ingest", "web"] if self.args.split else ["all"]
        for role in roles:
            port = free_port()
            log = (self.tmp / f"{role}.log").open("wb")
            self.procs[role] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "monitor.cli",
                    "serve",
                    "--config",
                    str(config),
                    "--role",
                    role,
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            self.ports[role] = port
        for role, port in self.ports.items():
            deadline = time.monotonic() + 120
            while True:
                if self.procs[role].poll() is not None:
                    raise SystemExit(f"{role} exited:\n{(self.tmp / f'{role}.log').read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{role} did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    # -- load --------------------------------------------------------------------------
    async def monitor(self, bed: int, until: float, swings: bool) -> None:
        client = MllpClient("127.0.0.1", self.hl7_port, timeout=60)
        await asyncio.sleep(bed / self.args.beds)  # spread the beds over the second
        tick = time.monotonic()
        n = 0
        while tick < until:
            ts = time.time()
            low = swings and (n // 10) % 2 == 1
            vitals = {Vital.HR: 70.0 + bed % 20, Vital.PR: 70.0 + bed % 20, Vital.SPO2: 80.0 if low else 97.0}
            if n % 300 == 0:
                vitals.update({Vital.SBP: 120.0, Vital.DBP: 80.0, Vital.MAP: 93.0})
            self.sent_messages += 1
            try:
                ack = await client.send(encode_pcd01(vitals, ts, device=f"00AB{bed:012d}", location=f"bed-{bed:04d}"))
            except (ConnectionError, OSError, TimeoutError) as exc:
                self.non_aa[type(exc).__name__] = self.non_aa.get(type(exc).__name__, 0) + 1
                await client.close()
            else:
                if ack.code == "AA":
                    self.acked_messages += 1
                    self.acked_readings += len(vitals)
                else:
                    self.non_aa[ack.code] = self.non_aa.get(ack.code, 0) + 1
            n += 1
            tick += 1.0
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        await client.close()

    async def sample_rss(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for role, proc in self.procs.items():
                self.rss.setdefault(role, []).append(rss_kb(proc.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 10)

    async def drive(self) -> None:
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sample_rss(stop))
        self.started_wall = time.time() + 1.0
        receive, send = multiprocessing.Pipe(duplex=False)
        web = self.ports["web" if self.args.split else "all"]
        screen = multiprocessing.Process(
            target=screen_process, args=(web, self.started_wall, self.args.seconds + 4.0, send), daemon=True
        )
        screen.start()
        await asyncio.sleep(1.0)
        until = time.monotonic() + self.args.seconds
        swing = set(range(0, self.args.beds, max(1, self.args.beds // max(1, self.args.alarm_beds))))
        await asyncio.gather(*(self.monitor(b, until, b in swing) for b in range(self.args.beds)))
        self.reading_lat, self.alarm_lat, self.screen_messages = await asyncio.to_thread(receive.recv)
        screen.join(10)
        stop.set()
        await sampler


def make_db(kind: str, tmp: Path, admin_url: str) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    name = f"ivmon_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0].replace("+psycopg", "") + "/" + name, drop


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beds", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--split", action="store_true", default=None, help="ingest + web processes (PostgreSQL)")
    ap.add_argument("--all", dest="split", action="store_false", help="one process")
    ap.add_argument("--alarm-beds", type=int, default=50)
    ap.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args(argv)
    if args.split is None:
        args.split = args.db == "postgres"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url, drop = make_db(args.db, tmp, args.pg_admin_url)
        run = Run(args, tmp)
        try:
            run.start(run.config(db_url), db_url)
            asyncio.run(run.drive())
            time.sleep(1.0)
            engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.connect() as conn:
                stored = int(
                    conn.scalar(
                        select(func.count()).select_from(schema.readings).where(schema.readings.c.source.like("00AB%"))
                    )
                    or 0
                )
            engine.dispose()
        finally:
            run.stop()
            drop()
    elapsed = args.seconds
    figures: dict[str, Any] = {
        "beds": args.beds,
        "seconds": args.seconds,
        "db": args.db,
        "processes": "ingest+web" if args.split else "all",
        "messages_sent": run.sent_messages,
        "messages_aa": run.acked_messages,
        "non_aa": run.non_aa,
        "readings_aa": run.acked_readings,
        "readings_stored": stored,
        "messages_per_s": round(run.acked_messages / elapsed, 1),
        "reading_to_screen_ms": {
            "p50": round(pct(run.reading_lat, 0.5) * 1000, 1),
            "p99": round(pct(run.reading_lat, 0.99) * 1000, 1),
            "n": len(run.reading_lat),
        },
        "alarm_to_screen_ms": {
            "p50": round(pct(run.alarm_lat, 0.5) * 1000, 1),
            "p99": round(pct(run.alarm_lat, 0.99) * 1000, 1),
            "max": round(max(run.alarm_lat, default=float("nan")) * 1000, 1),
            "n": len(run.alarm_lat),
        },
        "rss_mb": {role: [round(v / 1024, 1) for v in values] for role, values in run.rss.items()},
    }
    print(f"scale_out: {args.beds} beds at 1 Hz for {args.seconds:g} s, {args.db}, {figures['processes']}")
    print(
        f"  messages: sent {run.sent_messages}, AA {run.acked_messages} ({figures['messages_per_s']}/s), "
        f"other {run.non_aa or 0}"
    )
    print(f"  readings: AA'd {run.acked_readings}, stored {stored} (must be equal)")
    rl, al = figures["reading_to_screen_ms"], figures["alarm_to_screen_ms"]
    print(f"  reading-to-screen: p50 {rl['p50']} ms, p99 {rl['p99']} ms over {rl['n']} readings")
    print(
        f"  alarm-to-screen:   p50 {al['p50']} ms, p99 {al['p99']} ms, max {al['max']} ms over {al['n']} alarms "
        "(goal: p99 < 100 ms)"
    )
    for role, values in figures["rss_mb"].items():
        if values:
            print(
                f"  {role} RSS: first {values[0]} MB, last {values[-1]} MB, max {max(values)} MB "
                f"(median {statistics.median(values)} MB)"
            )
    if args.json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
