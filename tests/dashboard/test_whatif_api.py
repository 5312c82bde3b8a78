"""``/api/whatif``: who may compare, what a proposal must be, and the answer on an empty clinic."""

from __future__ import annotations

import httpx

from alerts.rules import loads_rules
from tests.dashboard.apiserver import login, served


async def test_roles_validation_and_an_empty_period(db_url: str) -> None:
    async with served(db_url) as (service, base):
        async with httpx.AsyncClient(base_url=base) as nurse:
            await login(nurse, "nurse")
            assert (await nurse.get("/api/whatif/current")).status_code == 403
            assert (await nurse.post("/api/whatif", json={"rules": "x"})).status_code == 403
        async with httpx.AsyncClient(base_url=base) as clinician:
            await login(clinician, "clinician")
            current = (await clinician.get("/api/whatif/current")).json()
            assert loads_rules(current["rules"]) == list(service.alarms.rules) and current["count"] > 10
            bad = await clinician.post("/api/whatif", json={"rules": '[[rule]]\nid = "a"\nvital = "hr"\n'})
            assert bad.status_code == 422 and "proposed rules: rule 1 (a)" in bad.json()["detail"]
            assert (await clinician.post("/api/whatif", json={"rules": "# nothing\n"})).status_code == 422
            backwards = {"rules": current["rules"], "from": "2027-02-01", "to": "2027-01-01"}
            assert (await clinician.post("/api/whatif", json=backwards)).json()["detail"] == "to must be after from"
            unknown = {"rules": current["rules"], "colour": "red"}
            assert (await clinician.post("/api/whatif", json=unknown)).status_code == 422
            empty = await clinician.post("/api/whatif", json={"rules": current["rules"], "from": "2027-01-01"})
            assert empty.status_code == 200
            assert empty.json() | {"total": None} == {
                "cases": 0,
                "own_rules_cases": 0,
                "answers_known": False,
                "removed_actionable": 0,
                "rows": [],
                "total": None,
                "changed_count": 0,
                "changed": [],
            }
            del clinician.headers["X-CSRF-Token"]  # a cross-site form cannot send the token
            assert (await clinician.post("/api/whatif", json={"rules": current["rules"]})).status_code == 403
