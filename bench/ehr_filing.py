"""Chart rows filed per second to a local EHR receiver, against the bare transport in the same run.

    python bench/ehr_filing.py [--rows 2000] [--db sqlite|postgres] [--destination hl7|fhir|both]

Each run migrates a fresh database, queues ``--rows`` accepted rows (each its decision, audit record
and outbox entry, as the API does) and times one ``OutboxSender`` delivering them all to a receiver
on 127.0.0.1: python-hl7's MLLP server answering AA (HL7), or a FastAPI app under uvicorn answering
a transaction-response (FHIR). The peer, measured right after on the same receiver: the same encoded
messages sent back to back by the bare client (the project's MLLP client; one httpx client), with no
database. The ratio is what the outbox (read, one commit per delivered row, encoding) costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hl7  # noqa: E402
import hl7.mllp  # noqa: E402
import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from adapters.ehr.destinations import FhirDestination, MllpDestination  # noqa: E402
from adapters.ehr.fhir_bundle import FhirIdentity  # noqa: E402
from adapters.ehr.hl7_oru import Hl7Identity  # noqa: E402
from adapters.hl7.client import MllpClient  # noqa: E402
from monitor.charting.filing import Destination, OutboxSender  # noqa: E402
from monitor.model import Phase, PhaseChange, Session  # noqa: E402
from monitor.store import charting as store  # noqa: E402
from monitor.store import database  # noqa: E402
from monitor.store import sessions as session_store  # noqa: E402

T0 = 1_800_000_000.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """python-hl7's MLLP server in a thread, answering AA; counts what it got."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        ready = threading.Event()

        async def client(reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
            try:
                while not writer.is_closing():
                    msg = await reader.readmessage()
                    self.count += 1
                    writer.writemessage(msg.create_ack())
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass

        def main() -> None:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(hl7.mllp.start_hl7_server(client, "127.0.0.1", self.port))
            ready.set()
            loop.run_forever()

        threading.Thread(target=main, daemon=True).start()
        ready.wait(10)


class FhirReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        app = FastAPI()

        @app.post("/fhir")
        async def transaction(request: Request) -> JSONResponse:
            body = await request.json()
            self.count += 1
            replies = [{"response": {"status": "201 Created"}} for _ in body["entry"]]
            return JSONResponse({"resourceType": "Bundle", "type": "transaction-response", "entry": replies})

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.02)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"


def queue_rows(url: str, rows: int, destinations: tuple[str, ...]) -> Any:
    engine = database.make_engine(url)
    database.upgrade(engine)
    session = Session(0, "chair-1", "MRN-BENCH", Phase.INFUSION, T0, phases=[PhaseChange(Phase.BASELINE, T0, "nurse")])
    session.id = session_store.insert_session(engine, session, "nurse")
    for i in range(rows):
        ts = T0 + 300 * i
        values = {
            "hr": {"value": 70.0 + i % 20, "ts": ts - 3, "vital": "hr"},
            "spo2": {"value": 97.0, "ts": ts - 3, "vital": "spo2"},
            "sbp": {"value": 120.0, "ts": ts - 40, "vital": "sbp"},
            "dbp": {"value": 80.0, "ts": ts - 40, "vital": "dbp"},
            "map": {"value": 93.0, "ts": ts - 40, "vital": "map"},
        }
        decision = store.Decision(
            session.id, round(ts * 1000), ts, "infusion", "interval", "accepted", values, values, None, "nurse", ts + 60
        )
        payload = {
            "session": session.id,
            "bed": "chair-1",
            "patient_ref": "MRN-BENCH",
            "session_started": T0,
            "row": decision.row_key,
            "ts": ts,
            "phase": "infusion",
            "values": values,
            "user": "nurse",
            "decided_at": ts + 60,
        }
        store.decide(
            engine,
            decision,
            expect_version=0,
            destinations=destinations,
            payload=payload,
            audit_action="chart_accept",
            audit_detail={},
        )
    return engine


async def file_all(engine: Any, destination: Destination, rows: int) -> float:
    sender = OutboxSender(engine, destination, poll_s=0.05)
    started = time.perf_counter()
    task = asyncio.create_task(sender.run())
    while sender.sent + sender.failed < rows:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert sender.failed == 0, "every row must be accepted"
    return elapsed


async def bare_mllp(port: int, messages: list[bytes]) -> float:
    client = MllpClient("127.0.0.1", port)
    started = time.perf_counter()
    for m in messages:
        ack = await client.send(m)
        assert ack.code == "AA"
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def bare_http(url: str, bodies: list[bytes]) -> float:
    async with httpx.AsyncClient(headers={"Content-Type": "application/fhir+json"}) as client:
        started = time.perf_counter()
        for b in bodies:
            (await client.post(url, content=b)).raise_for_status()
        return time.perf_counter() - started


def run(url: str, rows: int, which: str) -> None:
    destinations = ("hl7", "fhir") if which == "both" else (which,)
    t = time.perf_counter()
    engine = queue_rows(url, rows, destinations)
    print(
        f"queued {rows} rows for {', '.join(destinations)} in {time.perf_counter() - t:.2f} s ({engine.dialect.name})"
    )
    if "hl7" in destinations:
        rx = Receiver()
        dest = MllpDestination(f"mllp://127.0.0.1:{rx.port}", Hl7Identity())
        messages = [dest.encode(e) for e in store.pending(engine, "hl7", limit=rows)]
        filed = asyncio.run(file_all(engine, dest, rows))
        bare = asyncio.run(bare_mllp(rx.port, messages))
        assert rx.count == 2 * rows
        print(
            f"HL7 ORU^R01 over MLLP: {rows / filed:,.0f} rows/s filed through the outbox ({filed:.2f} s); "
            f"bare MLLP client, same messages: {rows / bare:,.0f} msg/s; ratio {bare / filed:.2f}"
        )
    if "fhir" in destinations:
        fx = FhirReceiver()
        fdest = FhirDestination(fx.base, "", FhirIdentity())
        bodies = [fdest.encode(e) for e in store.pending(engine, "fhir", limit=rows)]
        filed = asyncio.run(file_all(engine, fdest, rows))
        bare = asyncio.run(bare_http(fx.base, bodies))
        print(
            f"FHIR transaction Bundles over HTTP: {rows / filed:,.0f} rows/s filed through the outbox ({filed:.2f} s); "
            f"bare httpx POST, same bundles: {rows / bare:,.0f} bundles/s; ratio {bare / filed:.2f}"
        )
        fx.server.should_exit = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--destination", choices=["hl7", "fhir", "both"], default="both")
    ap.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args.rows, args.destination)
        return
    name = f"ivmon_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(f"{args.pg_admin_url.rsplit('/', 1)[0]}/{name}", args.rows, args.destination)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
