"""Nurse validation on SQLite and PostgreSQL: a decision, its audit record and its outbox entries are
one transaction; edits keep the original and file corrections; rejected rows are never queued."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert, text

from monitor.charting.chart import ChartContext, ChartError, act, chart
from monitor.charting.draft import ChartingPlan
from monitor.model import Phase, PhaseChange, Session
from monitor.store import audit as audit_store
from monitor.store import charting as store
from monitor.store import schema
from monitor.store import sessions as session_store

T0 = 1_800_000_000.0
NOW = T0 + 2000
CTX = ChartContext(ChartingPlan(), ("hl7", "fhir"))


@pytest.fixture
def session(migrated_engine: Engine) -> Session:
    s = Session(0, "chair-1", "MRN-7", Phase.BASELINE, T0, phases=[PhaseChange(Phase.BASELINE, T0, "nurse")])
    s.id = session_store.insert_session(migrated_engine, s, "nurse")
    rows = [
        {"ts": T0 + t, "vital": v, "value": x, "unit": "", "quality": "valid", "source": "dev", "session_id": s.id}
        for t in range(0, 2000, 5)
        for v, x in (("hr", 70.0 + t % 7), ("spo2", 97.0))
    ]
    with migrated_engine.begin() as conn:
        conn.execute(insert(schema.readings), rows)
    return s


def outbox(engine: Engine) -> list[tuple[str, int, int, bool]]:
    return [
        (e.destination, e.row_key, e.version, e.payload["correction"])
        for d in ("hl7", "fhir")
        for e in store.pending(engine, d)
    ]


def test_accept_queues_the_row_for_every_destination_with_its_audit(migrated_engine: Engine, session: Session) -> None:
    rows = chart(migrated_engine, session, CTX, NOW)
    assert [r["status"] for r in rows] == ["draft", "draft", "draft"]
    first = rows[0]
    act(migrated_engine, session, CTX, first["row"], "accept", "nurse", NOW)
    assert outbox(migrated_engine) == [("hl7", first["row"], 1, False), ("fhir", first["row"], 1, False)]
    entry = store.pending(migrated_engine, "hl7")[0]
    assert entry.payload["values"]["hr"] == first["values"]["hr"] and entry.payload["user"] == "nurse"
    audit = [a for a in audit_store.read_audit(migrated_engine) if a["action"] == "chart_accept"]
    assert audit[0]["user"] == "nurse" and audit[0]["target"] == f"session:{session.id}/chart:{first['row']}"
    assert chart(migrated_engine, session, CTX, NOW)[0]["status"] == "accepted"


def test_a_failed_outbox_write_leaves_no_decision_and_no_audit(migrated_engine: Engine, session: Session) -> None:
    row = chart(migrated_engine, session, CTX, NOW)[0]
    with migrated_engine.begin() as conn:
        conn.execute(text("DROP TABLE ehr_outbox"))
    with pytest.raises(Exception, match="ehr_outbox"):
        act(migrated_engine, session, CTX, row["row"], "accept", "nurse", NOW)
    assert store.decisions(migrated_engine, session.id) == {}
    assert not [a for a in audit_store.read_audit(migrated_engine) if a["action"].startswith("chart_")]


def test_edit_keeps_the_original_and_an_edit_after_queueing_is_a_correction(
    migrated_engine: Engine, session: Session
) -> None:
    row = chart(migrated_engine, session, CTX, NOW)[1]
    with pytest.raises(ChartError, match="reason"):
        act(migrated_engine, session, CTX, row["row"], "edit", "nurse", NOW, values={"hr": 80})
    with pytest.raises(ChartError, match="outside"):
        act(migrated_engine, session, CTX, row["row"], "edit", "nurse", NOW, values={"hr": 800}, reason="typo")
    act(migrated_engine, session, CTX, row["row"], "accept", "nurse", NOW)
    act(migrated_engine, session, CTX, row["row"], "edit", "nurse2", NOW + 5, values={"hr": 81}, reason="recounted")
    shown = chart(migrated_engine, session, CTX, NOW)[1]
    assert shown["status"] == "edited" and shown["values"]["hr"]["value"] == 81
    assert shown["original"]["hr"] == row["values"]["hr"], "the monitor's value is kept"
    assert shown["values"]["hr"]["ts"] == row["values"]["hr"]["ts"], "an edit keeps the measurement time"
    assert [o[2:] for o in outbox(migrated_engine)] == [(1, False), (2, True), (1, False), (2, True)]


def test_reject_queues_nothing_and_a_decided_row_cannot_be_decided_twice(
    migrated_engine: Engine, session: Session
) -> None:
    rows = chart(migrated_engine, session, CTX, NOW)
    act(migrated_engine, session, CTX, rows[2]["row"], "reject", "nurse", NOW, reason="artefact: patient moving")
    assert outbox(migrated_engine) == []
    with pytest.raises(store.ChartConflict):
        act(migrated_engine, session, CTX, rows[2]["row"], "accept", "nurse", NOW)
    with pytest.raises(store.ChartConflict):
        act(migrated_engine, session, CTX, rows[2]["row"], "edit", "nurse", NOW, values={"hr": 70}, reason="x")
    act(migrated_engine, session, CTX, rows[0]["row"], "accept", "nurse", NOW)
    with pytest.raises(store.ChartConflict):
        act(migrated_engine, session, CTX, rows[0]["row"], "accept", "nurse2", NOW)


def test_accept_refuses_values_the_nurse_did_not_see(migrated_engine: Engine, session: Session) -> None:
    row = chart(migrated_engine, session, CTX, NOW)[0]
    seen = {v: (c["value"] if c else None) for v, c in row["values"].items()}
    with pytest.raises(store.ChartConflict, match="changed"):
        act(migrated_engine, session, CTX, row["row"], "accept", "nurse", NOW, seen={**seen, "hr": 1.0})
    act(migrated_engine, session, CTX, row["row"], "accept", "nurse", NOW, seen=seen)


def test_an_older_version_cannot_overwrite_a_newer_one(migrated_engine: Engine, session: Session) -> None:
    row = chart(migrated_engine, session, CTX, NOW)[0]
    act(migrated_engine, session, CTX, row["row"], "accept", "nurse", NOW)
    stale = store.Decision(session.id, row["row"], row["ts"], "baseline", "interval", "edited", {}, {}, "x", "b", NOW)
    store.decide(
        migrated_engine, stale, expect_version=1, destinations=(), payload=None, audit_action="a", audit_detail={}
    )
    with pytest.raises(store.ChartConflict):
        store.decide(
            migrated_engine, stale, expect_version=1, destinations=(), payload=None, audit_action="a", audit_detail={}
        )


def test_a_row_without_any_value_is_not_accepted(migrated_engine: Engine, session: Session) -> None:
    empty = Session(0, "chair-2", "MRN-8", Phase.BASELINE, T0, phases=[PhaseChange(Phase.BASELINE, T0, "nurse")])
    empty.id = session_store.insert_session(migrated_engine, empty, "nurse")
    row = chart(migrated_engine, empty, CTX, NOW)[0]
    assert row["missing"] == ["hr", "spo2", "sbp", "dbp", "map"]
    with pytest.raises(ChartError, match="nothing to chart"):
        act(migrated_engine, empty, CTX, row["row"], "accept", "nurse", NOW)
    act(migrated_engine, empty, CTX, row["row"], "edit", "nurse", NOW, values={"hr": 72}, reason="counted by hand")
    assert outbox(migrated_engine)[0][1:3] == (row["row"], 1)
