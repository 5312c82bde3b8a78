"""The alarm committee's what-if (clinicians, admins): the page `/whatif`, `/api/whatif/current`, `POST /api/whatif`.

The proposed rules come as rule-file text, validated as rule files are (``alerts.rules``); the stored
sessions of the period (and protocol, chair) are replayed under the clinic's current rules and the
proposal by ``alerts.whatif`` in a child process of its own (its own database connection), so a long
period holds neither the event loop nor its GIL (the screens' alarms). One comparison runs at a time
per web process: a second gets 429.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from alerts.cases import stored_cases
from alerts.rules import Rule, RuleError, loads_rules, rules_to_toml
from alerts.whatif import Comparison, answers_of, compare
from dashboard.auth import ReviewUser
from dashboard.deps import service_of
from dashboard.review.api import review_page
from monitor.instants import parse_instant
from monitor.store import database
from monitor.store.replay_source import NoProtocols, physiological_alarms

router = APIRouter()

#: Sessions listed as changed in one answer (the counts cover all of them).
MAX_CHANGED_LISTED = 500


class WhatIfBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    #: The proposed rules: the text of a rule file (``[[rule]]`` tables).
    rules: str = Field(min_length=1, max_length=200_000)
    start: str | None = Field(default=None, alias="from", max_length=64)
    end: str | None = Field(default=None, alias="to", max_length=64)
    protocol: str | None = Field(default=None, max_length=64)
    bed: str | None = Field(default=None, max_length=64)


def _instant(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"{name}: {exc}") from None


def comparison_json(comparison: Comparison, beds: dict[str, tuple[str, float]]) -> dict[str, Any]:
    """The comparison as the page shows it: rows, total, and the sessions whose alarms change."""
    now = Counter(key for key, _, _ in comparison.now)
    proposed = Counter(key for key, _, _ in comparison.proposed)
    changed = [
        {
            "session": int(key),
            "bed": beds.get(key, ("", 0.0))[0],
            "started": beds.get(key, ("", 0.0))[1],
            "now": now[key],
            "proposed": proposed[key],
        }
        for key in comparison.changed[:MAX_CHANGED_LISTED]
    ]
    return {
        "cases": comparison.cases,
        "own_rules_cases": comparison.own_rules_cases,
        "answers_known": comparison.answers_known,
        "removed_actionable": comparison.removed_actionable,
        "rows": [r.as_dict() for r in comparison.rows],
        "total": comparison.total.as_dict(),
        "changed_count": len(comparison.changed),
        "changed": changed,
    }


def run_whatif(
    engine: Engine,
    current: Sequence[Rule],
    proposed: Sequence[Rule],
    *,
    start: float | None,
    end: float | None,
    protocol: str | None,
    bed: str | None,
) -> dict[str, Any]:
    """Load the period's stored sessions and their alarms, replay both rule sets, compare (blocking)."""
    cases = stored_cases(engine, start=start, end=end, bed=bed, protocol=protocol)
    alarms = physiological_alarms(engine, [int(c.key) for c in cases])
    comparison = compare(cases, current, proposed, answers_of(alarms))
    beds = {c.key: (c.session.bed, c.session.started) for c in cases if c.session is not None}
    return comparison_json(comparison, beds)


def _in_child(
    url: str,
    current: list[Rule],
    proposed: list[Rule],
    start: float | None,
    end: float | None,
    protocol: str | None,
    bed: str | None,
) -> dict[str, Any]:
    """:func:`run_whatif` in the comparison's own process, on its own engine."""
    engine = database.make_engine(url)
    try:
        return run_whatif(engine, current, proposed, start=start, end=end, protocol=protocol, bed=bed)
    finally:
        engine.dispose()


async def run_apart(url: str, current: list[Rule], proposed: list[Rule], **where: Any) -> dict[str, Any]:
    """Run the comparison in a fresh child process (spawned: no copy of this process's threads or sockets)."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        call = partial(_in_child, url, current, proposed, where["start"], where["end"], where["protocol"], where["bed"])
        return await asyncio.get_running_loop().run_in_executor(pool, call)
    finally:
        pool.shutdown(wait=False)


@router.get("/whatif", include_in_schema=False)
def whatif_page(request: Request) -> Response:
    return review_page(request, "whatif.html")


@router.get("/api/whatif/current")
def current_rules(request: Request, user: ReviewUser) -> dict[str, Any]:
    """The clinic's rules in force, as rule-file text: where a proposal starts from."""
    rules = list(service_of(request).alarms.rules)
    return {"rules": rules_to_toml(rules), "count": len(rules)}


@router.post("/api/whatif")
async def whatif(body: WhatIfBody, request: Request, user: ReviewUser) -> dict[str, Any]:
    try:
        proposed = loads_rules(body.rules, "proposed rules")
    except RuleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    if not proposed:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "proposed rules: no [[rule]] tables")
    start, end = _instant(body.start, "from"), _instant(body.end, "to")
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "to must be after from")
    svc = service_of(request)
    state = request.app.state
    if getattr(state, "whatif_running", False):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "a comparison is running: try again when it is done")
    state.whatif_running = True
    try:
        return await run_apart(
            svc.settings.database_url,
            list(svc.alarms.rules),
            proposed,
            start=start,
            end=end,
            protocol=body.protocol or None,
            bed=body.bed or None,
        )
    except NoProtocols as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    finally:
        state.whatif_running = False
