"""The monthly alarm report over the real API and CLI, from alarms the real pipeline raised: figures
checked by hand, the PDF's text read back (odd Unicode included), the CSV inert, roles and audit."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from dashboard.alarm_report import gather, render_report_pdf, report_csv
from monitor.clock import FakeClock
from monitor.config import Hl7Settings, load_settings
from monitor.model import DeviceAlarm, Reading, Vital
from monitor.service import Service
from monitor.store import audit as audit_store
from tests.dashboard.apiserver import login, served

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = resources.files("alerts").joinpath("defaults.toml").read_text(encoding="utf-8")
#: A committee note with what breaks naive PDFs and spreadsheets: a formula, bidi override, astral and
#: combining and CJK characters, a control character.
ODD_NOTE = '=HYPERLINK("x") Komitee ✓ Δ \u202eevil\u202c 𝔘 e\u0301 \x07 会議 end'
PERIOD = {"from": "200", "to": str(2 * 86_400)}


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[tuple[Service, str, FakeClock]]:
    clock = FakeClock(start=100.0)  # the configured defaults become version 1 at 100 s
    beds = {"chair-1": "Chair 1", "chair-2": "Chair 2", "chair-3": "Chair 3"}
    async with served(sqlite_url, clock=clock, beds=beds) as (service, base):
        yield service, base, clock


async def _spo2(service: Service, bed: str, value: float, ts: float) -> None:
    await service.pipeline.submit([Reading(Vital.SPO2, value, "%", ts, f"mon-{bed}", bed=bed)])


def _open(service: Service, bed: str) -> str:
    [alarm] = [
        a for a in service.live.alarms.values() if a.bed == bed and a.rule_id == "spo2-critical" and a.ended is None
    ]
    return alarm.id


async def _history(service: Service, base: str, clock: FakeClock) -> None:
    """Three chair-days; spo2-critical three times (one escalated), one technical alarm, one adoption."""
    await service.sessions.start("chair-1", "P-1", "nurse", ts=1000.0)
    await service.sessions.start("chair-2", "P-2", "nurse", ts=2000.0)
    await service.sessions.start("chair-3", "P-3", "nurse", ts=86_400.0 + 1000.0)
    async with httpx.AsyncClient(base_url=base) as nurse, httpx.AsyncClient(base_url=base) as admin:
        await login(nurse, "nurse")
        await login(admin, "admin")
        await _spo2(service, "chair-1", 80.0, 1010.0)  # A1: 60 s, acknowledged after 10 s, actionable
        clock.set(1020.0)
        r = await nurse.post(f"/api/alarms/{_open(service, 'chair-1')}/acknowledge", json={"actionable": True})
        assert r.status_code == 200
        await _spo2(service, "chair-1", 97.0, 1070.0)
        await _spo2(service, "chair-1", 81.0, 1100.0)  # A2: 120 s, acknowledged after 30 s, not actionable
        clock.set(1130.0)
        r = await nurse.post(f"/api/alarms/{_open(service, 'chair-1')}/acknowledge", json={"actionable": False})
        assert r.status_code == 200
        await _spo2(service, "chair-1", 97.0, 1220.0)
        clock.set(1500.0)
        surrogate = json.dumps({"rules_toml": DEFAULTS, "note": "bad \ud800"})  # escaped: valid JSON text
        headers = {"Content-Type": "application/json"}
        refused = await admin.post("/api/rules/adopt", content=surrogate, headers=headers)
        assert refused.status_code == 422 and "unicode" in refused.text, "a clear refusal, not a 500"
        r = await admin.post("/api/rules/adopt", json={"rules_toml": DEFAULTS + "\n", "note": ODD_NOTE})
        assert r.status_code == 200 and r.json()["version"] == 2
        sensor = DeviceAlarm(
            "mon-chair-2", 2050.0, "medium", "SpO2 sensor off", "sensor-off:spo2", Vital.SPO2, "chair-2", technical=True
        )
        await service.pipeline.submit([sensor])  # T1: 60 s
        await service.pipeline.submit([dataclasses.replace(sensor, ts=2110.0, active=False)])
        await _spo2(service, "chair-2", 82.0, 2100.0)  # A3: 200 s, never acknowledged, escalated (60 s)
        service.pipeline.tick(2200.0)
        await _spo2(service, "chair-2", 97.0, 2300.0)
    await service.writer.durable()


async def test_the_report_pdf_reads_back_with_the_figures_by_policy_element(
    running: tuple[Service, str, FakeClock],
) -> None:
    service, base, clock = running
    await _history(service, base, clock)
    async with httpx.AsyncClient(base_url=base) as nurse:
        await login(nurse, "nurse")
        assert (await nurse.get("/api/alarms/report.pdf", params=PERIOD)).status_code == 403, "clinicians and admins"
    async with httpx.AsyncClient(base_url=base) as clinician:
        await login(clinician, "clinician")
        bad = await clinician.get("/api/alarms/report.pdf", params={"from": "yesterday"})
        assert bad.status_code == 422 and "ISO 8601" in bad.json()["detail"]
        backwards = await clinician.get("/api/alarms/report.pdf", params={"from": "500", "to": "100"})
        assert backwards.status_code == 422
        r = await clinician.get("/api/alarms/report.pdf", params=PERIOD)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    flat = " ".join(text.split())
    for heading in (
        "1. Alarm settings",
        "2. Who may change the settings",
        "3. Response expected",
        "4. Checks",
    ):
        assert heading in flat
    assert "Chair-days 3" in flat and "Sessions 3" in flat
    # Besides the three SpO2 alarms, the chairs whose readings stopped have signal-lost alarms (the tick).
    counts = re.search(r"Alarms \(physiological / device / technical\) (\d+) \(3 / 0 / (\d+)\)", flat)
    assert counts is not None and int(counts[1]) == 3 + int(counts[2])
    # Acknowledged after 10 s and 30 s: median 20 s, 90th percentile 10 + 0.9 * 20 = 28 s.
    assert "median / 90th pct 0m20s / 0m28s" in flat
    assert f"Answered actionable or not 2 of {counts[1]}" in flat and "Actionable share (of answered) 50 %" in flat
    assert "high 3 1.00 67 % 0m20s 0m28s 1" in flat, "response by priority: one high alarm escalated"
    # spo2-critical: 3 alarms, 1 per chair-day, 60 + 120 + 200 s = 6.3 min, 2 answered, half actionable
    assert "spo2-critical high 3 1.00 6.3 2 / 50 % 0m20s 0m28s 1" in flat
    assert "1 spo2-critical high 3 6.3" in flat, "the top rules by alarm-minutes"
    assert "sensor-off 1 1.0" in flat, "technical alarms by cause"
    assert "In force when the period began: version 1, configured by configuration" in flat
    assert (
        "Rule-set changes in the period: Version When How Who Why 2 1970-01-01 00:25 adopted admin =HYPERLINK" in flat
    )
    assert "Komitee ✓ Δ" in flat and " end" in flat, "odd text printed, what the font lacks as U+FFFD"
    assert "\u202e" not in text and "\x07" not in text, "unprintable characters printed as U+FFFD"
    audit = [(a["action"], a["user"]) for a in audit_store.read_audit(service.engine)]
    assert ("alarm_report", "clinician") in audit


async def test_the_report_csv_holds_every_figure_and_runs_nothing(running: tuple[Service, str, FakeClock]) -> None:
    service, base, clock = running
    await _history(service, base, clock)
    async with httpx.AsyncClient(base_url=base) as admin:
        await login(admin, "admin")
        r = await admin.get("/api/alarms/report.csv", params=PERIOD)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    figure = {(row["section"], row["group"], row["metric"]): row["value"] for row in rows}
    assert figure[("total", "", "chair_days")] == "3"
    assert figure[("total", "", "physiological")] == "3"
    assert int(figure[("total", "", "alarms")]) == 3 + int(figure[("total", "", "technical")])
    assert figure[("total", "", "p90_ack_s")] == "28.0"
    assert float(figure[("rule", "spo2-critical", "alarm_minutes")]) == pytest.approx((60 + 120 + 200) / 60)
    assert figure[("rule", "spo2-critical", "actionable_share")] == "0.5"
    assert figure[("technical", "sensor-off", "count")] == "1"
    assert float(figure[("top_alarm_minutes", "spo2-critical", "rank 1")]) == pytest.approx((60 + 120 + 200) / 60)
    assert figure[("rule_set_in_force_at_start", "version 1", "origin")] == "configured"
    assert figure[("rule_set_change", "version 2", "author")] == "admin"
    note = figure[("rule_set_change", "version 2", "note")]
    assert note.startswith("'=HYPERLINK"), "a formula in a note is written as text"
    assert figure[("response_expected", "escalate_after_s", "seconds")] in ("60.0", "180.0")


async def test_ivmon_export_alarms_writes_the_pdf_and_the_csv(
    running: tuple[Service, str, FakeClock], tmp_path: Path
) -> None:
    service, base, clock = running
    await _history(service, base, clock)
    url = str(service.engine.url)
    for fmt in ("pdf", "csv"):
        out = tmp_path / f"report.{fmt}"
        cmd = [sys.executable, "-m", "monitor.cli", "export", "alarms", "--from", "1970-01-01T00:03:20", "--to"]
        cmd += ["1970-01-03", "--format", fmt, "--out", str(out), "--db", url]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages).split())
    assert "Chair-days 3" in text and "spo2-critical high 3" in text
    assert "total,,,chair_days,3" in (tmp_path / "report.csv").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "export", "alarms", "--format", "json", "--db", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--format pdf or csv" in bad.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_period_without_sessions_or_alarms_reports_nothing_without_failing(migrated_engine: Engine) -> None:
    settings = load_settings(db_url=str(migrated_engine.url), hl7=Hl7Settings(enabled=False))
    report = gather(migrated_engine, settings, 0.0, 86_400.0, 90_000.0)
    assert (report.chair_days, report.totals["alarms"], report.totals["per_chair_day"]) == (0, 0, None)
    assert report.totals["median_ack_s"] is None and report.totals["actionable_share"] is None
    text = " ".join(
        "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render_report_pdf(report, settings))).pages).split()
    )
    assert "Chair-days 0" in text and "Alarms per chair-day -" in text and "(none)" in text
    rows = list(csv.DictReader(io.StringIO(report_csv(report).decode())))
    assert {(r["metric"], r["value"]) for r in rows if r["section"] == "total"} >= {
        ("alarms", "0"),
        ("per_chair_day", ""),
    }
