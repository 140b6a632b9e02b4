"""Headless Chromium against the real TLS backend: what Office on the web may do, and others not.

Pages "at" Office or attacker origins are served through Playwright's request
routing; a real second server on another loopback port plays the attacker
where routing would interfere (Playwright answers CORS preflights itself when
routing is on, so the preflight test uses no routing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from addin.http_server import BackgroundServer

CHROMIUM = Path("/usr/bin/chromium")
OFFICE_ORIGIN = "https://excel.officeapps.live.com"
EVIL_ORIGIN = "https://evil.example"
#: Stands in for office.js (on the internet, unreachable here).
OFFICE_JS_STUB = (
    "window.Office={onReady:function(cb){setTimeout(cb,0);return Promise.resolve({})}};"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver for the module."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium; the test CA is not in its store, so TLS errors are ignored
    here (certificate checks have their own tests)."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=["--ignore-certificate-errors"]
    )
    yield browser
    browser.close()


@pytest.fixture
def base(https_server: BackgroundServer) -> str:
    """The backend's own origin."""
    return f"https://localhost:{https_server.port}"


def probe_page(base: str) -> str:
    """Return a page that frames the task pane and tries to read metadata and the API."""
    return f"""<!doctype html><html><body>
<iframe id="pane" src="{base}/taskpane.html"></iframe>
<pre id="out">pending</pre>
<script>
Promise.all([
  fetch("{base}/functions.json").then(r => r.json()).then(
    j => "metadata:" + j.functions[0].id, () => "metadata:blocked"),
  fetch("{base}/api/health", {{headers: {{"X-FBCheck-Client": "x"}}}}).then(
    r => "api:" + r.status, () => "api:blocked"),
]).then(results => {{ document.getElementById("out").textContent = results.join(" "); }});
</script></body></html>"""


def open_as(browser: Browser, origin: str, base: str) -> tuple[Page, list[str]]:
    """Open the probe page as if served by ``origin``; return it and its console lines."""
    context = browser.new_context()
    # Chromium asks before a public site reaches the loopback address space;
    # a user sideloading the add-in in Excel on the web allows it.
    context.grant_permissions(["local-network-access"], origin=origin)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.route(
        f"{origin}/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=probe_page(base)),
    )
    page.route(
        "https://appsforoffice.microsoft.com/**",
        lambda route: route.fulfill(
            status=200, content_type="text/javascript", body=OFFICE_JS_STUB
        ),
    )
    page.goto(f"{origin}/workbook")
    page.wait_for_function("() => document.getElementById('out').textContent !== 'pending'")
    return page, console


def pane_text(page: Page, base: str) -> str | None:
    """Return the framed task pane's text once it says something, or None if it never loaded."""
    for frame in page.frames:
        if frame.url.startswith(f"{base}/taskpane.html"):
            # A function, not an expression string: the pane's CSP forbids eval.
            frame.wait_for_function(
                "() => !document.getElementById('backend-status')"
                ".textContent.startsWith('Connecting')"
            )
            text: str = frame.inner_text("body")
            return text
    return None


def test_own_page_runs_under_the_csp(browser: Browser, base: str) -> None:
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.route(
        "https://appsforoffice.microsoft.com/**",
        lambda route: route.fulfill(
            status=200, content_type="text/javascript", body=OFFICE_JS_STUB
        ),
    )
    page.goto(f"{base}/taskpane.html")
    page.wait_for_function(
        "() => document.getElementById('backend-status').textContent.startsWith('Connected')"
    )
    assert page.is_visible("#demo-banner")
    assert not [line for line in console if "Content Security Policy" in line]
    page.close()


def test_excel_on_the_web_frames_the_pane_and_reads_metadata(browser: Browser, base: str) -> None:
    page, console = open_as(browser, OFFICE_ORIGIN, base)
    # The metadata is readable (CORS for Office), the API is not (same-origin only).
    assert page.inner_text("#out") == "metadata:FBCHECK api:blocked"
    text = pane_text(page, base)
    assert text is not None
    assert "Connected to the FBCheck backend" in text
    assert not [line for line in console if "frame-ancestors" in line]
    page.context.close()


def test_foreign_site_can_neither_frame_nor_read(browser: Browser, base: str) -> None:
    page, console = open_as(browser, EVIL_ORIGIN, base)
    assert page.inner_text("#out") == "metadata:blocked api:blocked"
    assert pane_text(page, base) is None
    assert [line for line in console if "frame-ancestors" in line]
    page.context.close()


def test_foreign_page_preflight_is_refused(
    browser: Browser, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A real browser must preflight the custom header; refused, so the call never comes."""
    caplog.set_level(logging.WARNING)
    html = probe_page(base).encode()

    def attacker(environ, start_response):
        """Serve the probe page from another loopback origin."""
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(html)))]
        )
        return [html]

    with BackgroundServer(attacker, port=0) as other:
        page = browser.new_page()
        page.goto(other.url + "/")
        page.wait_for_function("() => document.getElementById('out').textContent !== 'pending'")
        assert page.inner_text("#out") == "metadata:blocked api:blocked"
        page.close()
    assert "refused OPTIONS /api/health" in caplog.text
    assert "preflight_refused" in caplog.text
    assert "refused GET /api/health" not in caplog.text
