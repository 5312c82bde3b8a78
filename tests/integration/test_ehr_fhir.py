"""Charting over FHIR R4 to a small FHIR server (FastAPI under uvicorn, a real socket)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import update

from adapters.ehr.destinations import FhirDestination
from adapters.ehr.fhir_bundle import FhirIdentity
from monitor.store import charting as store
from monitor.store import database, schema
from tests.conftest import free_port
from tests.integration.charting_helpers import (
    act,
    chart,
    login,
    settled_drafts,
    start_server,
    start_session,
    wait_status,
)
from tests.integration.ehr_receivers import FhirReceiver

TOKEN = "s3cret-token"


@pytest.fixture
def fhir() -> Iterator[FhirReceiver]:
    rx = FhirReceiver(free_port()).start()
    yield rx
    rx.stop()


def test_rows_are_filed_as_valid_transaction_bundles_and_a_resend_is_harmless(
    tmp_path: Path, fhir: FhirReceiver
) -> None:
    srv = start_server(tmp_path, {"fhir": {"base_url": fhir.base, "token": TOKEN}})
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse, "MRN-FHIR-1")
            rows = settled_drafts(nurse, session, 3)
            act(nurse, session, rows[0], "accept")
            act(nurse, session, rows[1], "reject", reason="artefact")
            act(nurse, session, rows[2], "accept")
            wait_status(nurse, session, {rows[0]["row"]: "filed", rows[2]["row"]: "filed"})
            act(nurse, session, rows[0], "edit", values={"hr": 91}, reason="recounted")
            wait_status(nurse, session, {rows[0]["row"]: "filed"})
            download = nurse.get(f"/api/sessions/{session}/fhir")
    finally:
        srv.stop()

    assert all(a == f"Bearer {TOKEN}" for a in fhir.auth), "the bearer token goes with every request"
    assert len(fhir.bundles) == 3
    first = fhir.bundles[0]
    assert first["type"] == "transaction"
    by_code = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in first["entry"]}
    hr, spo2 = by_code["8867-4"], by_code["2708-6"]
    assert [c["code"] for c in spo2["code"]["coding"]] == ["2708-6", "59408-5"]
    assert hr["valueQuantity"] == {
        "value": rows[0]["values"]["hr"]["value"],
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert hr["category"][0]["coding"][0]["code"] == "vital-signs"
    assert hr["subject"] == {"identifier": {"system": "urn:ivmon:patient", "value": "MRN-FHIR-1"}}
    assert hr["performer"][0]["identifier"]["value"] == "nurse"
    assert hr["effectiveDateTime"].startswith(
        time.strftime("%Y-%m-%dT%H:%M", time.gmtime(rows[0]["values"]["hr"]["ts"]))
    )
    if "85354-9" in by_code:  # an NIBP on this row: the panel with its components
        parts = [c["code"]["coding"][0]["code"] for c in by_code["85354-9"]["component"]]
        assert parts[:2] == ["8480-6", "8462-4"]

    def n_obs(row: dict[str, Any]) -> int:
        return 2 + (row["values"]["sbp"] is not None)

    assert fhir.created == n_obs(rows[0]) + n_obs(rows[2]), "one Observation per vital of each accepted row"
    assert fhir.updated == n_obs(rows[0]), "the correction updates the row's Observations"
    correction = fhir.bundles[2]["entry"][0]
    assert correction["request"]["method"] == "PUT" and correction["resource"]["status"] == "corrected"
    assert correction["resource"]["valueQuantity"]["value"] == 91

    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    Bundle.model_validate_json(download.content)  # valid R4(B)
    entries = orjson.loads(download.content)["entry"]
    assert (
        len({e["resource"]["identifier"][0]["value"] for e in entries})
        == len(entries)
        == n_obs(rows[0]) + n_obs(rows[2])
    )
    assert {e["resource"]["subject"]["identifier"]["value"] for e in entries} == {"MRN-FHIR-1"}

    # The resend: every queued entry sent again under the same identity changes nothing on the server.
    engine = database.make_engine(srv.db_url)
    with engine.begin() as conn:
        conn.execute(update(schema.ehr_outbox).values(state="pending"))
    created, observations = fhir.created, dict(fhir.observations)

    async def resend() -> None:
        dest = FhirDestination(fhir.base, TOKEN, FhirIdentity())
        for entry in store.pending(engine, "fhir"):
            assert (await dest.deliver(entry)).ok
        await dest.close()

    asyncio.run(resend())
    assert fhir.created == created and fhir.unchanged > 0, "conditional create: nothing new"
    assert fhir.observations == observations


def test_4xx_fails_the_row_with_the_reason_and_5xx_is_retried(tmp_path: Path, fhir: FhirReceiver) -> None:
    fhir.fail_with = [503, 500]
    srv = start_server(tmp_path, {"fhir": {"base_url": fhir.base}})
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse, "MRN-UNKNOWN")
            rows = settled_drafts(nurse, session, 1)
            fhir.refuse_patient = "MRN-UNKNOWN"
            act(nurse, session, rows[0], "accept")
            wait_status(nurse, session, {rows[0]["row"]: "failed"})
            requests = len(fhir.auth)
            time.sleep(1.5)
            row = next(r for r in chart(nurse, session) if r["row"] == rows[0]["row"])
    finally:
        srv.stop()
    assert requests == 3, "two 5xx retried, then the 4xx answer"
    assert len(fhir.auth) == requests, "a refused row is not sent again"
    assert row["delivery"]["fhir"]["reason"] == "HTTP 422: unknown patient"


def test_unreachable_fhir_server_is_retried_until_it_answers(tmp_path: Path) -> None:
    port = free_port()
    srv = start_server(tmp_path, {"fhir": {"base_url": f"http://127.0.0.1:{port}/fhir"}})
    rx = FhirReceiver(port)
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse)
            rows = settled_drafts(nurse, session, 1)
            act(nurse, session, rows[0], "accept")
            time.sleep(1.0)
            assert next(r for r in chart(nurse, session) if r["row"] == rows[0]["row"])["status"] == "accepted"
            rx.start()
            wait_status(nurse, session, {rows[0]["row"]: "filed"})
    finally:
        srv.stop()
        rx.stop()
    assert len(rx.bundles) == 1
