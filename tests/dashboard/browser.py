"""Real headless Chromium for the dashboard tests: launch, sign in, and press like a person."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: A person's click: the button is held this long between press and release.
PRESS_MS = 120


def chromium_path() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.fail("Chromium is missing: run scripts/ensure-chromium (apt-get install chromium)")
    return found


def launch(pw: Playwright, *extra_args: str) -> Browser:
    return pw.chromium.launch(
        executable_path=chromium_path(),
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            *extra_args,
        ],
    )


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    pw = sync_playwright().start()
    try:
        browser = launch(pw, *extra_args)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


def sign_in(page: Page, base: str, user: str, then: str) -> None:
    """The login page as a nurse uses it, then wait for the page the login leads to."""
    page.goto(f"{base}/login?next={then}")
    page.fill("#username", user)
    page.fill("#password", "demo")
    page.click("#signin")
    page.wait_for_url(base + then)


def press(page: Page, selector: str) -> None:
    """Move the mouse onto the element, press, hold PRESS_MS, release: no scripted click, no retries.

    The element is scrolled into view and measured in one step inside the page (a page that replaced
    it between two steps, like the old alarm bar, is still measured right).
    """
    box = page.evaluate(
        """(sel) => { const e = document.querySelector(sel); if (!e) return null;
                      e.scrollIntoView({ block: "nearest" }); const r = e.getBoundingClientRect();
                      return { x: r.x, y: r.y, width: r.width, height: r.height }; }""",
        selector,
    )
    assert box is not None and box["width"] > 0, f"{selector} is not on screen"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(PRESS_MS)
    page.mouse.up()


def wait_js(page: Page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll a JavaScript expression until it is true (Playwright's wait_for_function re-evaluates strings
    with eval, which the pages' Content-Security-Policy refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout_s} s: {expression}"
        page.wait_for_timeout(100)
