"""The clinic rule set: ``GET /api/rules`` (in force), its versions, and ``POST /api/rules/adopt`` (admins).

Adopting validates the TOML text as a rule file is validated, stores it as the next version, audits
who and when, and puts it in force at once for new alarms in every process (``alerts/rule_sets.py``):
the response returns once the process that judges (the ingest, or this one) judges by it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from alerts.rule_sets import MAX_TOML_CHARS, adopt
from alerts.rules import RuleError
from dashboard.auth import AdminUser, StaffUser
from dashboard.deps import audit, service_of
from monitor.commands import Publish
from monitor.store import rule_sets as rule_set_store
from monitor.store.rule_sets import RuleSetRow

router = APIRouter()


class AdoptBody(BaseModel):
    #: The whole rule file as TOML text (``[[rule]]`` tables), e.g. a what-if proposal.
    rules_toml: str = Field(min_length=1, max_length=MAX_TOML_CHARS)
    #: Why (the committee's decision, a reference): kept with the version and in the audit.
    note: str = Field(default="", max_length=2000)


def _version_json(row: RuleSetRow, *, text: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": row.version,
        "origin": row.origin,
        "author": row.author,
        "created": row.created,
        "note": row.note,
        "sha256": row.sha256,
    }
    if text:
        out["rules_toml"] = row.rules_toml
    return out


@router.get("/api/rules")
def rules_in_force(request: Request, user: StaffUser) -> dict[str, Any]:
    """The clinic rules this process judges by (or, in a web process, knows the ingest judges by)."""
    svc = service_of(request)
    version = svc.alarms.rule_set_version
    row = rule_set_store.get_version(svc.engine, version) if version is not None else None
    return {
        **(_version_json(row, text=True) if row is not None else {"version": None}),
        "rules": [r.to_toml_dict() for r in svc.alarms.rules],
    }


@router.get("/api/rules/versions")
def rule_versions(request: Request, user: StaffUser) -> dict[str, Any]:
    """Every version, oldest first (their texts: ``/api/rules/versions/{n}``)."""
    svc = service_of(request)
    rows = rule_set_store.versions(svc.engine)
    return {"in_force": svc.alarms.rule_set_version, "versions": [_version_json(r, text=False) for r in rows]}


@router.get("/api/rules/versions/{version}")
def rule_version(version: int, request: Request, user: StaffUser) -> dict[str, Any]:
    row = rule_set_store.get_version(service_of(request).engine, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule set version {version}")
    return _version_json(row, text=True)


@router.post("/api/rules/adopt")
async def adopt_rules(body: AdoptBody, request: Request, user: AdminUser) -> dict[str, Any]:
    """Adopt a rule set (admins): stored as the next version, audited, in force for new alarms at once."""
    svc = service_of(request)
    try:
        rule_set = await asyncio.to_thread(
            adopt, svc.engine, body.rules_toml, user.username, body.note, svc.clock.now()
        )
    except RuleError as exc:
        raise HTTPException(422, str(exc)) from None
    row = rule_set.row
    await audit(
        request,
        user.username,
        "rules_adopt",
        f"rule_set:{row.version}",
        version=row.version,
        sha256=row.sha256,
        note=row.note,
    )
    svc.alarms.set_rules(rule_set.rules, version=row.version)  # this process at once
    # Run by the judging process (here, or the ingest), then every other follows the log.
    await svc.commands.run(Publish(event=rule_set.event()), user.username)
    return _version_json(row, text=True)
