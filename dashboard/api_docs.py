"""``/openapi.json``, ``/docs`` and ``/redoc`` for logged-in staff, when ``[http] api_docs = true``.

Off by default: the API's map is of use to an attacker before it is to anyone else. The two
interactive pages load their viewer from the CDN FastAPI names, so their CSP allows that one origin.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from dashboard.auth import StaffUser

CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {CDN}; style-src 'self' 'unsafe-inline' {CDN}; "
    "img-src 'self' data: https://fastapi.tiangolo.com; worker-src blob:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def install_api_docs(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: StaffUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger(user: StaffUser) -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="ivmon API")
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc(user: StaffUser) -> HTMLResponse:
        page = get_redoc_html(openapi_url="/openapi.json", title="ivmon API")
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page
