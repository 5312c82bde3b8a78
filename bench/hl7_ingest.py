"""HL7 ingest benchmark: PCD-01 messages (13 OBX each) over concurrent MLLP connections, ACK after commit.

    python bench/hl7_ingest.py [--messages 20000] [--connections 50] [--mode serve|inproc]

``serve`` (default) starts a real ``ivmon serve`` process (SQLite in a temporary
folder, alarm engine, WebSocket hub) and drives it from this process, as
monitors would; ``inproc`` runs the listener and the real pipeline in this
process (client and server then share one core). Printed: sustained
messages/s and readings/s, p50/p99 ACK latency, and, on the same messages in
the same run, the parse rate of ``hl7.parse`` and of ivmon's parser, with ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hl7  # noqa: E402
import uvloop  # noqa: E402

from adapters.hl7.client import MllpClient  # noqa: E402
from adapters.hl7.codes import CodeMap  # noqa: E402
from adapters.hl7.message import decode, parse  # noqa: E402
from adapters.hl7.observed import CodeLedger  # noqa: E402
from adapters.hl7.pcd01 import interpret  # noqa: E402
from monitor.binding import Bindings  # noqa: E402
from monitor.model import Vital  # noqa: E402
from simulators.emit.pcd01 import device_eui, encode_pcd01  # noqa: E402

VITALS = {
    Vital.HR: 72.0,
    Vital.PR: 71.0,
    Vital.SPO2: 97.0,
    Vital.SBP: 128.0,
    Vital.DBP: 81.0,
    Vital.MAP: 96.7,
    Vital.RR: 14.0,
    Vital.ETCO2: 38.0,
}


def make_messages(n: int, connections: int) -> list[list[bytes]]:
    """``n`` messages spread over ``connections`` monitors, one per monitor-second."""
    start = time.time() - n // connections - 10
    per: list[list[bytes]] = [[] for _ in range(connections)]
    for i in range(n):
        m = i % connections
        vit = {k: v + (i % 7) for k, v in VITALS.items()}
        vit[Vital.SPO2] = 95.0 + i % 4
        per[m].append(encode_pcd01(vit, start + i // connections, device=device_eui(m), location=f"chair-{m + 1}"))
    return per


def parse_rates(messages: list[bytes]) -> tuple[float, float, float]:
    """hl7.parse, ivmon's parse + interpret, and the same with the code ledger (what the listener runs)."""
    t0 = time.perf_counter()
    for raw in messages:
        hl7.parse(raw.decode("utf-8"))
    theirs = len(messages) / (time.perf_counter() - t0)
    codes, binder = CodeMap.from_config(), Bindings()
    best: dict[bool, float] = {False: 0.0, True: 0.0}
    for _ in range(3):  # interleaved, best of three: the machine's load moves under a single run
        for counting in (False, True):
            ledger = CodeLedger(codes) if counting else None
            t0 = time.perf_counter()
            for raw in messages:
                interpret(parse(decode(raw)[0]), codes, binder, ledger=ledger, peer="127.0.0.1")
            best[counting] = max(best[counting], len(messages) / (time.perf_counter() - t0))
    return theirs, best[False], best[True]


async def drive(port: int, per: list[list[bytes]]) -> tuple[float, list[float], dict[str, int]]:
    latencies: list[float] = []
    codes: dict[str, int] = {}

    async def monitor(batch: list[bytes]) -> None:
        client = MllpClient("127.0.0.1", port, timeout=60)
        await client.connect()
        for msg in batch:
            t = time.perf_counter()
            ack = await client.send(msg)
            latencies.append(time.perf_counter() - t)
            codes[ack.code] = codes.get(ack.code, 0) + 1
        await client.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(monitor(b) for b in per))
    return time.perf_counter() - t0, latencies, codes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a process and its children (the writer process), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(FileNotFoundError):
            total += process_cpu_s(int(child))
    return total


def print_writer_figures(http_port: int, messages: int, server_cpu_s: float) -> None:
    """What limits the rate: the server's CPU per message and its group commits (from /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    metric = {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines() if not line.startswith("#"))
    }
    commits = metric.get("ivmon_db_commit_seconds_count", 0.0)
    mean_ms = metric.get("ivmon_db_commit_seconds_sum", 0.0) / commits * 1000 if commits else 0.0
    print(
        f"  server: {server_cpu_s / messages * 1e6:.0f} us CPU per message (its processes and threads); "
        f"{commits:.0f} commits, {messages / commits if commits else 0:.1f} messages and {mean_ms:.1f} ms each"
    )


def run_serve(
    per: list[list[bytes]], tmp: Path, db: str | None = None
) -> tuple[float, list[float], dict[str, int], int]:
    hl7_port, http_port = free_port(), free_port()
    db = db or f"sqlite:///{tmp / 'bench.db'}"
    config = tmp / "bench.toml"
    config.write_text(
        f'db_url = "{db}"\ndata_dir = "{tmp}"\n[http]\nport = {http_port}\nhost = "127.0.0.1"\n'
        f'[hl7]\nport = {hl7_port}\nhost = "127.0.0.1"\ntimezone = "UTC"\n'
        f"max_connections_per_address = {len(per) + 8}\nmax_unassigned_per_address = {len(per) + 8}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", hl7_port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("ivmon serve did not start") from None
                time.sleep(0.2)
        # The monitors' side on uvloop too: the load generator shares the 2 cores with the server.
        cpu_before = process_cpu_s(proc.pid)
        elapsed, lat, codes = uvloop.run(drive(hl7_port, per))
        cpu = process_cpu_s(proc.pid) - cpu_before
        print_writer_figures(http_port, len(lat), cpu)
    finally:
        proc.terminate()
        proc.wait(30)
    from sqlalchemy import func, select

    from monitor.store import database, schema

    engine = database.make_engine(db)
    with engine.connect() as conn:
        stored = int(conn.scalar(select(func.count()).select_from(schema.readings)) or 0)
    return elapsed, lat, codes, stored


async def run_inproc(per: list[list[bytes]], tmp: Path) -> tuple[float, list[float], dict[str, int], int]:
    from sqlalchemy import func, select

    from adapters.hl7.listener import MllpListener
    from alerts.engine import AlarmEngine
    from monitor.bus import InMemoryBus
    from monitor.config import Hl7Settings
    from monitor.live import LiveState
    from monitor.pipeline import Pipeline
    from monitor.sessions import SessionManager
    from monitor.store import database, schema
    from monitor.store.writer import BatchWriter

    engine = database.make_engine(f"sqlite:///{tmp / 'bench.db'}")
    database.upgrade(engine)
    writer = BatchWriter(engine)
    writer.start()
    pipeline = Pipeline(
        writer=writer,
        sessions=SessionManager(engine, {}),
        judge=AlarmEngine(),
        publisher=InMemoryBus(),
        live=LiveState(),
    )
    listener = MllpListener(
        Hl7Settings(
            host="127.0.0.1",
            port=0,
            timezone="UTC",
            max_connections_per_address=len(per) + 8,
            max_unassigned_per_address=len(per) + 8,
        )
    )
    await listener.start(pipeline)
    try:
        elapsed, lat, codes = await drive(listener.port, per)
    finally:
        await listener.stop()
        await writer.close()
    print(f"  writer: {writer.commits} commits, last commit {writer.last_commit_s * 1000:.1f} ms")
    with engine.connect() as conn:
        stored = int(conn.scalar(select(func.count()).select_from(schema.readings)) or 0)
    return elapsed, lat, codes, stored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--mode", choices=["serve", "inproc"], default="serve")
    ap.add_argument("--db", help="database URL for --mode serve (an empty one, e.g. PostgreSQL); default SQLite")
    args = ap.parse_args()
    per = make_messages(args.messages, args.connections)
    flat = [m for batch in per for m in batch]
    obx = flat[0].count(b"\rOBX|")
    theirs, ours, counted = parse_rates(flat)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.mode == "serve":
            elapsed, lat, codes, stored = run_serve(per, tmp, args.db)
        else:
            elapsed, lat, codes, stored = asyncio.run(run_inproc(per, tmp))
    rate = len(flat) / elapsed
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(f"hl7_ingest ({args.mode}): {len(flat)} messages x {obx} OBX over {args.connections} connections")
    print(f"  end to end (ACK after commit): {rate:,.0f} msg/s, {stored / elapsed:,.0f} readings/s stored")
    print(f"  ACK latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms; ACK codes {codes}; readings in database {stored}")
    print(f"  hl7.parse alone:               {theirs:,.0f} msg/s")
    print(f"  ivmon parse + interpret alone: {ours:,.0f} msg/s ({ours / theirs:.1f}x hl7.parse)")
    print(f"  ... with the code ledger:      {counted:,.0f} msg/s ({counted / ours:.2f}x without it)")
    print(f"  end to end / hl7.parse:        {rate / theirs:.1f}x (goal: >= 4x and >= 5,000 msg/s)")


if __name__ == "__main__":
    main()
