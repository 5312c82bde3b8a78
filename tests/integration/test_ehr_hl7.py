"""Charting over HL7 v2 to an independent receiver (python-hl7's MLLP server) as the EHR."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7
import pytest

from monitor.store import audit as audit_store
from monitor.store import database
from tests.conftest import free_port
from tests.integration.charting_helpers import (
    act,
    chart,
    login,
    seen,
    settled_drafts,
    start_server,
    start_session,
    wait_status,
)
from tests.integration.ehr_receivers import Hl7Receiver

MDC_CODES = {"hr": "147842^MDC_ECG_HEART_RATE^MDC", "spo2": "150456^MDC_PULS_OXIM_SAT_O2^MDC"}
UCUM = {"hr": "/min", "spo2": "%", "sbp": "mm[Hg]"}


def hl7_ts(ts: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(round(ts))) + "+0000"


def obx_by_code(msg: hl7.Message) -> dict[str, Any]:
    return {str(seg[3]).split("^")[0]: seg for seg in msg.segments("OBX")}


def row_time(msg: hl7.Message) -> str:
    return str(msg.segment("OBR")[7])


@pytest.fixture
def receiver() -> Iterator[Hl7Receiver]:
    rx = Hl7Receiver(free_port()).start()
    yield rx
    rx.stop()


def test_accepted_rows_arrive_once_in_order_with_codes_units_times_and_nurse(
    tmp_path: Path, receiver: Hl7Receiver
) -> None:
    srv = start_server(tmp_path, {"hl7": {"url": f"mllp://127.0.0.1:{receiver.port}"}})
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse)
            rows = settled_drafts(nurse, session, 6)
            act(nurse, session, rows[0], "accept")
            act(nurse, session, rows[1], "accept")
            edited = act(nurse, session, rows[2], "edit", values={"hr": 88}, reason="pulse counted by hand")
            assert edited["original"]["hr"]["value"] == rows[2]["values"]["hr"]["value"], "the original is kept"
            act(nurse, session, rows[3], "reject", reason="probe moved: artefact")
            res = nurse.post(
                f"/api/sessions/{session}/chart/accept-all",
                json={"rows": [{"row": r["row"], "seen": seen(r)} for r in rows[4:6]]},
            )
            assert res.json()["accepted"] == [rows[4]["row"], rows[5]["row"]]
            filed = {r["row"]: "filed" for r in (rows[0], rows[1], rows[2], rows[4], rows[5])}
            wait_status(nurse, session, {**filed, rows[3]["row"]: "rejected"})
            # After filing, an edit files a correction.
            act(nurse, session, rows[0], "edit", values={"spo2": 95}, reason="re-read after warming the finger")
            got = receiver.wait_for(6)
            time.sleep(1.0)  # anything sent twice would arrive now
            got = receiver.accepted()
    finally:
        srv.stop()

    assert len(got) == 6, "each accepted row once, the correction once, the rejected row never"
    assert len({str(m.segment("MSH")[10]) for m in got}) == 6
    order = [rows[0], rows[1], rows[2], rows[4], rows[5], rows[0]]
    assert [row_time(m) for m in got] == [hl7_ts(r["ts"]) for r in order], "in the order they were validated"
    assert hl7_ts(rows[3]["ts"]) not in [row_time(m) for m in got], "a rejected row is never filed"
    for msg, row in zip(got, order, strict=True):
        assert str(msg.segment("MSH")[9]) == "ORU^R01^ORU_R01" and str(msg.segment("MSH")[12]) == "2.5.1"
        assert str(msg.segment("PID")[3]).startswith("MRN-0042^^^")
        obx = obx_by_code(msg)
        for vital, code in MDC_CODES.items():
            seg = obx[code.split("^")[0]]
            assert str(seg[3]) == code
            assert str(seg[6]).split("^")[0] == UCUM[vital]
            assert str(seg[14]) == hl7_ts(row["values"][vital]["ts"]), "OBX-14: the value's own measurement time"
            assert str(seg[16]).split("^")[0] == "nurse", "OBX-16: the validating nurse"
    statuses = [{str(s[11]) for s in m.segments("OBX")} for m in got]
    assert statuses[:5] == [{"F"}] * 5 and statuses[5] == {"C"}, "edits after filing arrive as corrections"
    assert str(obx_by_code(got[2])["147842"][5]) == "88", "the edited value is filed"
    assert str(obx_by_code(got[5])["150456"][5]) == "95"
    audit = audit_store.read_audit(database.make_engine(srv.db_url))
    done = [(a["action"], a["user"], a["target"]) for a in audit if a["action"].startswith("chart_")]
    target = f"session:{session}/chart:"
    assert sorted(done) == sorted(
        [("chart_accept", "nurse", f"{target}{r['row']}") for r in (rows[0], rows[1], rows[4], rows[5])]
        + [("chart_edit", "nurse", f"{target}{r['row']}") for r in (rows[2], rows[0])]
        + [("chart_reject", "nurse", f"{target}{rows[3]['row']}")]
    ), "every action audited with who and what"


OUTAGE_S = float(os.environ.get("IVMON_TEST_EHR_OUTAGE_S", "8"))


def _outage_and_restart(tmp_path: Path, outage_s: float) -> None:
    rx_port, http_port = free_port(), free_port()
    ehr = {"hl7": {"url": f"mllp://127.0.0.1:{rx_port}"}}
    receiver = Hl7Receiver(rx_port).start()
    srv = start_server(tmp_path, ehr, port=http_port)
    accepted: list[dict[str, Any]] = []
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse)
            rows = settled_drafts(nurse, session, 2)
            for r in rows:
                accepted.append(act(nurse, session, r, "accept"))
            receiver.wait_for(2)
        receiver.stop()
        down_since = time.monotonic()
        with login(srv.base) as nurse:
            rows = settled_drafts(nurse, session, 2)
            for r in rows:
                accepted.append(act(nurse, session, r, "accept"))
            time.sleep(1.5)  # the sender is retrying now
            assert all(
                r["status"] == "accepted" for r in chart(nurse, session) if r["row"] in {a["row"] for a in accepted[2:]}
            )
        srv.stop()  # the service restarts while the EHR is down
        srv = start_server(tmp_path, ehr, port=http_port)
        with login(srv.base) as nurse:
            rows = settled_drafts(nurse, session, 2)
            for r in rows:
                accepted.append(act(nurse, session, r, "accept"))
            time.sleep(max(0.0, outage_s - (time.monotonic() - down_since)))
            receiver = Hl7Receiver(rx_port).start()
            wait_status(nurse, session, {a["row"]: "filed" for a in accepted}, timeout=60)
            time.sleep(1.0)
    finally:
        srv.stop()
        receiver.stop()
    # The first receiver got the first two; the second one everything accepted since, exactly once, in order.
    got = receiver.accepted()
    assert [row_time(m) for m in got] == [hl7_ts(a["ts"]) for a in accepted[2:]]
    assert len({str(m.segment("MSH")[10]) for m in got}) == len(got)


def test_receiver_down_and_service_restarted_every_accepted_row_arrives_once(tmp_path: Path) -> None:
    _outage_and_restart(tmp_path, OUTAGE_S)


@pytest.mark.slow
def test_receiver_down_30_s_and_service_restarted(tmp_path: Path) -> None:
    _outage_and_restart(tmp_path, 30.0)


def test_ae_marks_the_row_failed_with_the_reason_and_is_not_retried(tmp_path: Path) -> None:
    def answer(msg: hl7.Message) -> tuple[str, str]:
        if "150456" in str(msg) and str(obx_by_code(msg)["150456"][5]) == "91":
            return "AE", "flowsheet row SPO2 closed for this encounter"
        return "AA", ""

    receiver = Hl7Receiver(free_port(), answer).start()
    srv = start_server(tmp_path, {"hl7": {"url": f"mllp://127.0.0.1:{receiver.port}"}})
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse)
            rows = settled_drafts(nurse, session, 2)
            act(nurse, session, rows[0], "edit", values={"spo2": 91}, reason="value checked")
            act(nurse, session, rows[1], "accept")
            wait_status(nurse, session, {rows[0]["row"]: "failed", rows[1]["row"]: "filed"})
            failed = next(r for r in chart(nurse, session) if r["row"] == rows[0]["row"])
            time.sleep(2.0)  # a retry storm would show here
    finally:
        srv.stop()
        receiver.stop()
    assert "flowsheet row SPO2 closed" in failed["delivery"]["hl7"]["reason"], "the reason is on the row"
    assert receiver.answers.count("AE") == 1, "an AE is not retried"
    assert receiver.answers.count("AA") == 1, "the next row is filed after the refused one"
