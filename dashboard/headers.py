"""Security headers on every response, so that no page or API route can forget them.

* every response: ``X-Content-Type-Options: nosniff`` (a download is never run as a script or page);
* every HTML page: a Content-Security-Policy (only the project's own scripts, no framing), and
  ``Referrer-Policy``;
* patient data (``/api/...``, HTML pages) is ``Cache-Control: no-store``: never kept by a browser or a
  proxy on a shared workstation. Routes that set their own Cache-Control (static files, the chart
  library) keep it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Pages run only the project's own scripts and styles, talk only to this server, and are never framed.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
#: The review pages' chart library (plotly) adds its own stylesheet from script: styles may be inline
#: there, scripts still may not.
CHART_PAGE_CSP = PAGE_CSP.replace("img-src 'self' data:;", "img-src 'self' data:; style-src 'self' 'unsafe-inline';")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        patient_data = path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                html = headers.get("content-type", "").startswith("text/html")
                if html:
                    headers.setdefault("Content-Security-Policy", PAGE_CSP)
                    headers.setdefault("Referrer-Policy", "same-origin")
                if html or patient_data:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
