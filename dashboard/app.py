"""The FastAPI app: routes, pages, static files; the service runs inside its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dashboard import ops
from dashboard.api import alarm_stats, alarms, audit, beds, live, sessions, system
from dashboard.auth import SESSION_COOKIE, Auth
from dashboard.hub import Hub
from dashboard.review.api import install as install_review
from monitor.service import Service

HERE = Path(__file__).parent
PAGES = HERE / "pages"


def create_app(service: Service) -> FastAPI:
    hub = Hub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        unsubscribe = service.bus.subscribe(hub)
        await service.start()
        try:
            yield
        finally:
            unsubscribe()
            await service.stop()

    app = FastAPI(title="ivmon", version="0.1.0", lifespan=lifespan)
    app.state.service = service
    app.state.hub = hub
    app.state.auth = Auth(service.engine, service.settings.http.session_hours)
    for module in (system, beds, sessions, alarm_stats, alarms, audit, live):
        app.include_router(module.router)
    ops.install(app, service, hub)  # /metrics, body-size limit, commands refused by the ingest
    install_review(app, service)  # /sessions review pages, exports, report; summaries at session close
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, request: Request) -> Response:
        if app.state.auth.principal(request.cookies.get(SESSION_COOKIE)) is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return FileResponse(PAGES / name, headers={"Cache-Control": "no-store"})

    @app.get("/", include_in_schema=False)
    def central(request: Request) -> Response:
        return page("central.html", request)

    @app.get("/beds/{bed_id}", include_in_schema=False)
    def bed_page(bed_id: str, request: Request) -> Response:
        return page("bed.html", request)

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(PAGES / "login.html", headers={"Cache-Control": "no-store"})

    return app
