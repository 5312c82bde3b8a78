"""The care team's entry points fed arbitrary JSON (hypothesis) as the roles that may use them: no input
gives a server error, and every 4xx says why. (The schemathesis fuzz runs as admin, which these refuse.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.app import create_app
from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.service import build_service
from monitor.store import database
from tests.dashboard.review_seed import known_session, seed

ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["", " ", "\u202e", "$x$", "=1+1", "日本", "🙂", "\x00", "a" * 5000]
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
SCALAR = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | FINITE | ODD_TEXT
JSON = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(ODD_TEXT, inner, max_size=5), max_leaves=12
)


def bodies(fields: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Bodies with the right keys and any values, and anything at all."""
    return st.fixed_dictionaries({}, optional={k: v | JSON for k, v in fields.items()}) | JSON


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, int]]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    sid = asyncio.run(seed(engine, known_session()))
    engine.dispose()
    config = load_settings(db_url=url, beds={"chair-2": "Chair 2"}, clinic={"timezone": "Europe/Berlin"})
    config.hl7.enabled = False
    svc = build_service(config)
    ensure_demo_users(svc)
    with TestClient(create_app(svc)) as c:
        yield c, sid


ENDPOINTS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "POST",
        "/api/sessions/{sid}/assessments",
        "nurse",
        {
            "scale": st.sampled_from(["moaas", "cadss6", "nausea", "bprs4"]),
            "score": st.integers(-2, 30),
            "items": st.lists(st.integers(-1, 8), max_size=8),
            "ts": FINITE,
        },
    ),
    (
        "POST",
        "/api/sessions/{sid}/medications",
        "nurse",
        {
            "drug": ODD_TEXT,
            "dose": FINITE,
            "unit": st.sampled_from(["mg", "x"]),
            "route": st.sampled_from(["IV", "po", "?"]),
            "ts": FINITE,
        },
    ),
    (
        "POST",
        "/api/sessions/{sid}/notes",
        "nurse",
        {"kind": st.sampled_from(["adverse", "note"]), "category": ODD_TEXT, "text": ODD_TEXT},
    ),
    ("PUT", "/api/sessions/{sid}/given-dose", "nurse", {"dose_mg": FINITE, "reason": ODD_TEXT}),
    ("PUT", "/api/sessions/{sid}/identity", "nurse", {"name": ODD_TEXT, "birth_date": ODD_TEXT, "mrn": ODD_TEXT}),
    (
        "POST",
        "/api/patients/P-0042/outcomes",
        "clinician",
        {"scale": st.sampled_from(["phq9", "gad7", "madrs"]), "score": st.integers(-2, 70), "date": ODD_TEXT},
    ),
]


@pytest.mark.parametrize(("method", "path", "role", "fields"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_no_body_gives_a_server_error(
    client: tuple[TestClient, int], method: str, path: str, role: str, fields: dict[str, Any]
) -> None:
    c, sid = client
    c.cookies.clear()
    login = c.post("/api/login", json={"username": role, "password": "demo"})
    headers = {"X-CSRF-Token": login.json()["csrf"]}

    @given(body=bodies(fields))
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(body: Any) -> None:
        r = c.request(method, path.format(sid=sid), json=body, headers=headers)
        assert r.status_code < 500, (body, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.json()["detail"], body

    run()
    for printed in (f"/api/sessions/{sid}/record.pdf", "/api/patients/P-0042/course.pdf"):
        c.cookies.clear()
        c.post("/api/login", json={"username": "clinician", "password": "demo"})
        assert c.get(printed).status_code == 200  # whatever was stored still prints
