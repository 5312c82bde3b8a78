"""The FastAPI app: routes, pages, static files; the service runs inside its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dashboard import ops
from dashboard.api import (
    alarm_report,
    alarm_stats,
    alarms,
    audit,
    beds,
    chart,
    course,
    devices,
    discharge,
    history,
    hl7_codes,
    live,
    protocols,
    records,
    rule_sets,
    rules,
    schedule,
    sessions,
    system,
    treatment,
    trends,
    whatif,
)
from dashboard.api import setup as setup_api
from dashboard.api_docs import install_api_docs
from dashboard.auth import SESSION_COOKIE, Auth, LoginThrottle
from dashboard.headers import SecurityHeaders
from dashboard.hub import Hub
from dashboard.review.api import install as install_review
from dashboard.revocation import watch_logins
from dashboard.rules import restore_overrides
from dashboard.setup import SetupToken, setup_link
from monitor.service import Service
from monitor.store import auth as auth_store

HERE = Path(__file__).parent
PAGES = HERE / "pages"


def create_app(service: Service) -> FastAPI:
    hub = Hub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        unsubscribe = service.bus.subscribe(hub)
        restore_overrides(service.engine, service.alarms, list(service.sessions.by_id))
        await service.start()
        login_watch = asyncio.create_task(watch_logins(app.state.auth, hub), name="login-watch")
        if auth_store.count_users(service.engine) == 0:
            # No default password: the first admin comes through a one-time link printed on the console.
            token, app.state.setup_token = SetupToken.issue()
            http = service.settings.http
            print(
                f"ivmon: no users yet. Create the first admin within 1 h: {setup_link(http.host, http.port, token)}",
                flush=True,
            )
        try:
            yield
        finally:
            login_watch.cancel()
            unsubscribe()
            await service.stop()

    # The API's description and its interactive pages are off: on, they are for logged-in staff (api_docs.py).
    app = FastAPI(title="ivmon", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.state.hub = hub
    app.state.setup_token = None
    app.state.whatif_running = False  # one what-if comparison at a time (dashboard/api/whatif.py)
    http = service.settings.http
    throttle = LoginThrottle(
        service.engine,
        first_delay_s=http.login_first_delay_s,
        max_delay_s=http.login_max_delay_s,
        account_max_delay_s=http.login_account_max_delay_s,
    )
    app.state.auth = Auth(service.engine, http.session_hours, http.idle_timeout_min, throttle)
    for module in (
        system,
        beds,
        devices,
        sessions,
        protocols,
        schedule,
        chart,
        alarm_report,
        alarm_stats,
        alarms,
        audit,
        live,
        trends,
        rules,
        rule_sets,
        discharge,
        history,
        setup_api,
        hl7_codes,
        treatment,
        records,
        course,
        whatif,
    ):
        app.include_router(module.router)
    ops.install(app, service, hub)  # /metrics, body-size limit, commands refused by the ingest
    install_review(app, service)  # /sessions review pages, exports, report; summaries at session close
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    if http.api_docs:
        install_api_docs(app)

    def page(name: str, request: Request) -> Response:
        if app.state.auth.principal(request.cookies.get(SESSION_COOKIE)) is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return FileResponse(PAGES / name)

    @app.get("/", include_in_schema=False)
    def central(request: Request) -> Response:
        return page("central.html", request)

    @app.get("/beds/{bed_id}", include_in_schema=False)
    def bed_page(bed_id: str, request: Request) -> Response:
        return page("bed.html", request)

    @app.get("/setup", include_in_schema=False)
    def setup_page() -> Response:
        return FileResponse(PAGES / "setup.html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(PAGES / "login.html")

    return app
