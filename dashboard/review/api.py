"""Session review for clinicians and admins: the list, one session's data, exports, the PDF, the pages.

Nurses are refused (403) everywhere here; every export and report download is
written to the audit log before the file is sent.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from dashboard.auth import SESSION_COOKIE, ReviewUser
from dashboard.deps import audit, service_of
from dashboard.headers import CHART_PAGE_CSP
from dashboard.review import data, exports
from monitor.events import alarm_json, session_json
from monitor.instants import parse_instant
from monitor.model import Role, Vital
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store
from monitor.store import summaries

router = APIRouter()
PAGES = Path(__file__).resolve().parents[1] / "pages"
CHART_VITALS = ("hr", "pr", "sbp", "dbp", "map", "spo2")
REVIEW_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})
#: Summaries missing from the list (sessions closed before an upgrade) computed per request, at most.
FILL_PER_REQUEST = 25


def parse_time(text: str | None, name: str) -> float | None:
    """``from``/``to``: POSIX seconds or ISO 8601 (an offset-less time is taken as UTC)."""
    if text is None or text == "":
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _json(body: Any) -> Response:
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return Response(orjson.dumps(body, option=options), media_type="application/json")


def _clean(x: Any) -> Any:
    """None for NaN (JSON has no NaN)."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


# -- the list --------------------------------------------------------------------------
def bed_id_of(name: str | None, labels: dict[str, str]) -> str | None:
    """A chair filter by its label ("Chair 5", any case) or its id ("chair-5")."""
    if not name or not name.strip():
        return None
    wanted = name.strip().casefold()
    for bed_id, label in labels.items():
        if wanted in (bed_id.casefold(), label.casefold()):
            return bed_id
    return name.strip()


@router.get("/api/review/sessions")
async def review_list(
    request: Request,
    user: ReviewUser,
    from_: str | None = Query(default=None, alias="from"),
    to: str | None = None,
    bed: str | None = None,
    patient_ref: str | None = Query(default=None, max_length=64),
    sort: str = "started",
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> Response:
    """Sessions with their summary figures; filters by start time, chair and patient reference (prefix)."""
    svc = service_of(request)
    if sort not in summaries.SORTABLE:
        raise HTTPException(422, f"sort: one of {', '.join(summaries.SORTABLE)}")
    start, end = parse_time(from_, "from"), parse_time(to, "to")
    labels = await asyncio.to_thread(session_store.list_beds, svc.engine)

    def run() -> tuple[int, list[dict[str, Any]]]:
        args: dict[str, Any] = dict(
            now=svc.clock.now(),
            start=start,
            end=end,
            bed=bed_id_of(bed, labels),
            patient_ref=patient_ref or None,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            offset=offset,
        )
        total, rows = summaries.list_sessions(svc.engine, **args)
        ids = [r["id"] for r in rows if r["ended"] is not None and r["version"] != data.SUMMARY_VERSION]
        if ids and data.fill_missing(svc.engine, svc.alarms, ids, svc.clock.now(), limit=FILL_PER_REQUEST):
            total, rows = summaries.list_sessions(svc.engine, **args)
        return total, rows

    total, rows = await asyncio.to_thread(run)
    for r in rows:
        r["bed_label"] = labels.get(r["bed_id"], r["bed_id"])  # the name a person reads, as on the central view
    open_ids = [r["id"] for r in rows if r["ended"] is None]
    if open_ids:  # figures still changing: cheap SQL aggregates now, never stored
        live = await asyncio.to_thread(data.open_figures, svc.engine, open_ids)
        for r in rows:
            r.update(live.get(r["id"], {}))
    for r in rows:
        r.pop("version", None)
    return _json({"total": total, "offset": offset, "limit": limit, "rows": rows})


# -- one session -----------------------------------------------------------------------
def _series(readings: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    series: dict[str, Any] = {}
    flagged: dict[str, Any] = {}
    if readings.empty:
        return series, flagged
    valid = (readings["quality"] == "valid").to_numpy()
    vitals = readings["vital"].to_numpy()
    t = readings["ts"].to_numpy(dtype=np.float64)
    v = readings["value"].to_numpy(dtype=np.float64)
    q = readings["quality"].to_numpy()
    for name in pd.unique(vitals):
        mask = vitals == name
        ok = mask & valid
        series[str(name)] = {"t": t[ok], "v": v[ok]}
        bad = mask & ~valid
        if bad.any():
            flagged[str(name)] = {"t": t[bad], "v": v[bad], "q": q[bad].tolist()}
    return series, flagged


def review_payload(
    record: data.SessionRecord,
    rules: list[Any],
    history: list[dict[str, Any]],
    now: float,
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the review page draws and lists, in one document (``stored``: the summary kept at close;
    ``now``, the service's clock, ends a session still open)."""
    figures = stored if stored is not None else data.summary_of(record, rules, now).to_json()
    end = float(figures["ended"])
    series, flagged = _series(record.readings)
    limits = []
    for rule in rules:
        base = figures["baselines"].get(rule.vital.value)
        limit = rule.limit_for(base)
        limits.append(
            {
                "rule": rule.id,
                "vital": rule.vital.value,
                "op": rule.op,
                "limit": limit,
                "priority": rule.priority.value,
                "phases": sorted(rule.phases),
                "message": rule.message,
                "relative": rule.relative,
                "inactive": None if limit is not None else f"no {rule.vital.value} baseline",
            }
        )
    acks = {a.id: [e for e in record.alarm_events if e["alarm_id"] == a.id] for a in record.alarms}
    alarms = []
    for a in record.alarms:
        item = alarm_json(a)
        item["history"] = [{"ts": e["ts"], "transition": e["transition"], "user": e["user"]} for e in acks[a.id]]
        alarms.append(item)
    session = session_json(record.session)
    session["ended"] = record.closed_at
    return {
        "session": session,
        "end": end,
        "units": exports.UNITS,
        "phases": data.phases_json(record, end),
        "series": series,
        "flagged": flagged,
        "alarms": alarms,
        "notes": record.notes,
        "devices": record.devices,
        "limits": limits,
        "summary": figures,
        "history": [{k: _clean(v) for k, v in h.items()} for h in history],
    }


async def _record(request: Request, session_id: int) -> data.SessionRecord:
    svc = service_of(request)
    record = await asyncio.to_thread(data.load_record, svc.engine, session_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    return record


@router.get("/api/review/sessions/{session_id}")
async def review_session(session_id: int, request: Request, user: ReviewUser) -> Response:
    """One session for the review page: series, phases, alarms with acknowledgements, notes, limits, summary."""
    svc = service_of(request)

    def run() -> dict[str, Any] | None:
        record = data.load_record(svc.engine, session_id)
        if record is None:
            return None
        rules = data.rules_for(svc.engine, svc.alarms, session_id)
        history = summaries.patient_history(svc.engine, record.session.patient_ref)
        if any(h["peak_sbp_rise"] is None and h["ended"] is not None for h in history):
            data.fill_missing(
                svc.engine, svc.alarms, [h["id"] for h in history], svc.clock.now(), limit=FILL_PER_REQUEST
            )
            history = summaries.patient_history(svc.engine, record.session.patient_ref)
        stored = summaries.load_summary(svc.engine, session_id, data.SUMMARY_VERSION) if record.closed_at else None
        body = review_payload(record, rules, history, svc.clock.now(), stored)
        labels = session_store.list_beds(svc.engine)
        body["session"]["bed_label"] = labels.get(record.session.bed, record.session.bed)
        for h in body["history"]:
            h["bed_label"] = labels.get(h.get("bed_id"), h.get("bed_id"))
        return body

    body = await asyncio.to_thread(run)
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    # Opening a session's record shows the same data an export carries: recorded like one.
    await audit(request, user.username, "review_view", f"session:{session_id}")
    return _json(body)


# -- exports ---------------------------------------------------------------------------
Format = Literal["csv", "parquet", "json"]


def _download(body: bytes, fmt: str, session_id: int, what: str) -> Response:
    media, ext = exports.FORMATS[fmt]
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="session-{session_id}-{what}.{ext}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/api/sessions/{session_id}/readings")
async def export_readings(
    session_id: int,
    request: Request,
    user: ReviewUser,
    format: Format = "json",
    vitals: str | None = None,
    from_: str | None = Query(default=None, alias="from"),
    to: str | None = None,
) -> Response:
    """The stored readings: one row each (time ISO 8601 UTC, epoch_s, vital, value, unit, quality, source)."""
    svc = service_of(request)
    wanted = [v.strip() for v in vitals.split(",") if v.strip()] if vitals else None
    known = {v.value for v in Vital}
    if wanted and (bad := sorted(set(wanted) - known)):
        raise HTTPException(422, f"unknown vital(s) {', '.join(bad)} (known: {', '.join(sorted(known))})")
    start, end = parse_time(from_, "from"), parse_time(to, "to")
    session = await asyncio.to_thread(session_store.get_session, svc.engine, session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")

    def run() -> tuple[bytes, int]:
        readings = reading_store.session_readings(svc.engine, session_id, wanted, start, end)
        return exports.encode(exports.readings_table(readings), format, session_id=session_id, name="readings"), len(
            readings
        )

    body, rows = await asyncio.to_thread(run)
    await audit(
        request,
        user.username,
        "export_readings",
        f"session:{session_id}",
        format=format,
        vitals=wanted,
        start=start,
        end=end,
        rows=rows,
    )
    return _download(body, format, session_id, "readings")


@router.get("/api/sessions/{session_id}/alarms")
async def export_alarms(session_id: int, request: Request, user: ReviewUser, format: Format = "json") -> Response:
    """The session's alarms with acknowledgement (who, when, time to acknowledge)."""
    record = await _record(request, session_id)
    body = exports.encode(exports.alarms_table(record.alarms), format, session_id=session_id, name="alarms")
    await audit(
        request, user.username, "export_alarms", f"session:{session_id}", format=format, rows=len(record.alarms)
    )
    return _download(body, format, session_id, "alarms")


@router.get("/api/sessions/{session_id}/events")
async def export_events(session_id: int, request: Request, user: ReviewUser, format: Format = "json") -> Response:
    """Phase changes, notes, device states and alarm transitions, in time order."""
    record = await _record(request, session_id)
    frame = exports.events_table(record.session, record.notes, record.devices, record.alarm_events, record.alarms)
    body = exports.encode(frame, format, session_id=session_id, name="events")
    await audit(request, user.username, "export_events", f"session:{session_id}", format=format, rows=len(frame))
    return _download(body, format, session_id, "events")


@router.get("/api/sessions/{session_id}/report.pdf")
async def report_pdf(session_id: int, request: Request, user: ReviewUser) -> Response:
    """The printable report (1-2 pages): details, charts, summary, alarm and event log."""
    from dashboard.report import render_report

    svc = service_of(request)
    record = await _record(request, session_id)
    rules = await asyncio.to_thread(data.rules_for, svc.engine, svc.alarms, session_id)
    pdf = await asyncio.to_thread(render_report, record, rules, svc.clock.now())
    await audit(request, user.username, "report_download", f"session:{session_id}", bytes=len(pdf))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="session-{session_id}-report.pdf"',
            "Cache-Control": "no-store",
        },
    )


# -- pages and the chart library ---------------------------------------------------------
def review_page(request: Request, name: str) -> Response:
    """A page for clinicians and admins (the chart library's CSP); login first, others refused."""
    auth = request.app.state.auth
    principal = auth.principal(request.cookies.get(SESSION_COOKIE))
    if principal is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if principal.role not in REVIEW_ROLES:
        return HTMLResponse(
            "<!doctype html><title>ivmon · not allowed</title><link rel=stylesheet href=/static/app.css>"
            "<main class=refused><h1>Not allowed</h1><p>Session review is for clinicians and admins."
            " <a href=/>Back to the central view</a></p></main>",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    return FileResponse(PAGES / name, headers={"Cache-Control": "no-store", "Content-Security-Policy": CHART_PAGE_CSP})


@router.get("/sessions", include_in_schema=False)
def sessions_page(request: Request) -> Response:
    return review_page(request, "sessions.html")


@router.get("/sessions/{session_id}", include_in_schema=False)
def session_page(session_id: int, request: Request) -> Response:
    return review_page(request, "session.html")


@lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, bytes, str]:
    """plotly.min.js from the installed ``plotly`` package (never copied into the repository), and gzipped."""
    raw = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


@router.get("/assets/plotly.min.js", include_in_schema=False)
async def plotly_js(request: Request) -> Response:
    raw, packed, etag = await asyncio.to_thread(_plotly_js)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type="text/javascript", headers=headers)


def install(app: Any, service: Any) -> None:
    """Wire the review side into the app: routes, and the summary computed when a session closes."""
    app.include_router(router)
    service.sessions.add_listener(data.SummaryKeeper(service.engine, service.alarms))
