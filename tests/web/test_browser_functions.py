"""=FBCHECK in headless Chromium against the real backend: start-up order and the pane's word.

Office and Excel are stubbed (``taskpane_office_stub.js``), and Excel's
custom-functions runtime as office-js#4769 describes it
(``custom_functions_runtime_stub.js``): a call that arrives before the modules
have called ``CustomFunctions.associate`` answers ``#VALUE!`` unless
``CustomFunctions.delayInitialization()`` ran first. The page's own JavaScript
talks HTTPS to the backend on the demo emulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from flask import Flask

from addin.config import Settings
from addin.web import close_app, create_app
from addin.web.certs import ServerCertificate
from addin.web.engine_host import host_of
from addin.web.flask_config import EMULATOR_CONFIG_KEY, SETTINGS_KEY
from addin.web.serving import bind_backend
from addin.web.views.lookups import AWAITING_CONFIRMATION_TEXT
from tests.js.test_shared_constants import js_constant

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright for Python is not installed"
)

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
OFFICE_STUB = Path(__file__).with_name("taskpane_office_stub.js")
RUNTIME_STUB = Path(__file__).with_name("custom_functions_runtime_stub.js")
SCREENSHOT = ROOT / "docs" / "screenshots" / "lookups-confirmation.png"
#: The emulator answers this number "ban" (pinned).
BANNED = "+41798284600"
#: Below the five numbers the pane test looks up.
CONFIRM_ABOVE = 3
#: What a cell shows while the backend does not answer, read from lookup-batcher.js.
WAITING_FOR_BACKEND = js_constant("lookup-batcher.js", "WAITING_FOR_BACKEND_TEXT")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def numbers(first: int, count: int) -> list[str]:
    """Return ``count`` Swiss mobile numbers from ``+41798284600 + first``."""
    return [f"+{41798284600 + first + offset}" for offset in range(count)]


@pytest.fixture
def backend(tmp_path: Path, certificate: ServerCertificate) -> Iterator[tuple[str, Flask]]:
    """The real backend over TLS (demo mode, fast polling): its URL and app."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        api_key=None,
        region="CH",
        poll_min_interval=0.05,
        poll_max_interval=0.3,
        confirm_above=CONFIRM_ABOVE,
    )
    app = create_app(
        {SETTINGS_KEY: settings, EMULATOR_CONFIG_KEY: {"MOCK_FIXTURES": {BANNED: "ban"}}}
    )
    try:
        with bind_backend(app, certificate=certificate) as server:
            yield f"https://localhost:{server.port}", app
    finally:
        close_app(app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; the test CA is not in its store (certificates have own tests)."""
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=["--ignore-certificate-errors"]
        )
        yield launched
        launched.close()


def new_page(browser: Browser, rows: list[list[Any]] | None = None) -> tuple[Page, list[str]]:
    """Return a pane-sized page with Office, Excel and the runtime stubbed, and its console."""
    context = browser.new_context(viewport={"width": 380, "height": 900})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.route(
        "https://appsforoffice.microsoft.com/**",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
    )
    sheet = {
        "name": "Sheet1",
        "rows": rows or [],
        "selection": [{"rowIndex": 0, "columnIndex": 0, "rowCount": 1048576, "columnCount": 1}],
    }
    page.add_init_script(f"window.__FBCHECK_TEST_SHEET__ = {json.dumps(sheet)};")
    page.add_init_script(path=str(OFFICE_STUB))
    page.add_init_script(path=str(RUNTIME_STUB))
    return page, console


def open_pane(browser: Browser, base: str) -> tuple[Page, list[str]]:
    """Open the pane and wait until it has loaded and reached the backend."""
    page, console = new_page(browser)
    page.goto(f"{base}/taskpane.html")
    page.wait_for_function(
        "() => document.getElementById('backend-status').textContent.startsWith('Connected')"
    )
    return page, console


def hold_modules(page: Page) -> list[Route]:
    """Keep functions.js from loading (so no module runs) until the test continues the routes."""
    held: list[Route] = []

    def keep(route: Route) -> None:
        """Answer later: the route stays pending."""
        held.append(route)

    page.route("**/functions.js", keep)
    return held


def wait_until_parsed_with(page: Page, held: list[Route]) -> None:
    """Wait until the page is parsed (classic scripts ran) while the module graph is held."""
    page.wait_for_function("() => document.readyState !== 'loading'")
    deadline = time.monotonic() + 20
    while not held:
        assert time.monotonic() < deadline, "functions.js was never requested"
        page.wait_for_timeout(20)
    # Module scripts run before DOMContentLoaded: the page is still "interactive".
    assert page.evaluate("() => document.readyState") == "interactive"
    assert page.evaluate("() => window.__fbcheckSheet.customFunctions.FBCHECK") is None


def last_result(page: Page, index: int) -> Any:
    """Return the last value streamed into invocation ``index``."""
    return page.evaluate("(index) => window.__excel.last(index)", index)


def wait_for_result(page: Page, index: int, test: str, timeout: float = 30_000) -> Any:
    """Wait until ``test`` (a JS function of the last result) holds; return that result."""
    page.wait_for_function(
        "(index) => { const last = window.__excel.last(index);"
        f" return last !== null && ({test})(last); }}",
        arg=index,
        timeout=timeout,
    )
    return last_result(page, index)


def ledger(app: Flask) -> dict[str, Any]:
    """Return the demo emulator's billing ledger for the demo key."""
    with host_of(app).checker() as checker:
        base_url = checker.base_url
    data: dict[str, Any] = requests.get(f"{base_url}/_mock/ledger", timeout=5).json()
    return data["keys"]["demo"]  # type: ignore[no-any-return]


# -- item 8: calls before the modules have loaded --------------------------------------


def test_a_call_before_the_modules_load_waits_and_gets_its_answer(
    browser: Browser, backend: tuple[str, Flask]
) -> None:
    base, _app = backend
    page, console = new_page(browser, rows=[["phone"], [BANNED]])
    held = hold_modules(page)
    page.goto(f"{base}/taskpane.html", wait_until="commit")
    wait_until_parsed_with(page, held)
    # The classic script ran right after office.js: the runtime now waits for associate.
    assert page.evaluate("() => window.__excel.delayed") is True

    # Excel calls =FBCHECK(A2) and the ribbon button is pressed, before any module ran.
    index = page.evaluate(
        f"() => window.__excel.invoke('FBCHECK', [[[{json.dumps(BANNED)}]], null, null])"
    )
    page.evaluate(
        """() => {
            window.__completed = 0;
            const sheet = window.__fbcheckSheet;
            sheet.select([{rowIndex: 1, columnIndex: 0, rowCount: 1, columnCount: 1}]);
            sheet.actions.checkSelection({completed: () => { window.__completed += 1; }});
        }"""
    )
    assert page.evaluate("() => window.__excel.waiting") == 1
    assert last_result(page, index) is None
    assert page.evaluate("() => window.__completed") == 0

    for route in held:
        route.continue_()
    answer = wait_for_result(page, index, "(last) => Array.isArray(last) && last[0][0] === 'ban'")
    assert answer == [["ban"]]
    results = page.evaluate("(index) => window.__excel.invocations[index].results", index)
    # A real answer, never an error on the way.
    assert all(isinstance(result, list) for result in results), results
    # The press kept by the stand-in ran once the pane's module handed over its handler.
    page.wait_for_function("() => window.__completed === 1")
    page.wait_for_function("() => window.__fbcheckSheet.cell(1, 1) === 'ban'", timeout=30_000)
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console
    page.context.close()


def test_without_the_classic_script_an_early_call_is_an_error(
    browser: Browser, backend: tuple[str, Flask]
) -> None:
    """The failure the classic script prevents (office-js#4769), shown by the same stub."""
    base, _app = backend
    page, _console = new_page(browser)
    page.route(
        "**/early-registration.js",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
    )
    held = hold_modules(page)
    page.goto(f"{base}/taskpane.html", wait_until="commit")
    wait_until_parsed_with(page, held)
    assert page.evaluate("() => window.__excel.delayed") is False
    index = page.evaluate(
        f"() => window.__excel.invoke('FBCHECK', [[[{json.dumps(BANNED)}]], null, null])"
    )
    assert last_result(page, index)["code"] == "#VALUE!"
    # No stand-in either: a ribbon press now finds no handler.
    assert page.evaluate("() => window.__fbcheckSheet.actions.checkSelection") is None
    for route in held:
        route.continue_()
    page.wait_for_function(
        "() => typeof window.__fbcheckSheet.actions.checkSelection === 'function'"
    )
    page.context.close()


# -- item 10: the pane confirms a held look-up batch; stale answers ---------------------


def test_the_pane_confirms_a_held_lookup_batch(
    browser: Browser, backend: tuple[str, Flask]
) -> None:
    base, app = backend
    page, console = open_pane(browser, base)
    assert page.is_hidden("#lookups")
    five = numbers(0, 5)
    index = page.evaluate(
        "(values) => window.__excel.invoke('FBCHECK', [values.map((v) => [v]), null, null])", five
    )
    cells = wait_for_result(
        page,
        index,
        f"(last) => last.every((row) => row[0] === {json.dumps(AWAITING_CONFIRMATION_TEXT)})",
    )
    assert len(cells) == 5
    page.wait_for_selector("#held-box", state="visible")
    assert "upload 5 numbers" in page.inner_text("#held-text")
    figures = page.inner_text("#held-figures").replace("\t", "\n")
    assert "to upload\n5" in figures
    assert "upstream tasks\n1" in figures
    assert ledger(app)["billed_total"] == 0
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.click("#held-confirm")
    page.wait_for_selector("#held-box", state="hidden")
    assert page.inner_text("#lookups-status").startswith("Checking 5 numbers")
    answers = wait_for_result(
        page, index, "(last) => last.every((row) => ['yes', 'no', 'ban'].includes(row[0]))"
    )
    assert answers[0] == ["ban"]
    account = ledger(app)
    assert account["numbers_uploaded"] == 5
    assert account["tasks_created"] == 1
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console
    page.context.close()


def test_the_pane_cancels_a_held_lookup_batch(browser: Browser, backend: tuple[str, Flask]) -> None:
    base, app = backend
    page, _console = open_pane(browser, base)
    four = numbers(10, 4)
    index = page.evaluate(
        "(values) => window.__excel.invoke('FBCHECK', [values.map((v) => [v]), null, null])", four
    )
    page.wait_for_selector("#held-box", state="visible", timeout=30_000)
    page.click("#held-cancel")
    page.wait_for_selector("#held-box", state="hidden")
    assert page.inner_text("#lookups-status") == "Cancelled: 4 numbers not checked, nothing billed."
    cells = wait_for_result(page, index, "(last) => last.every((row) => row[0].code === '#N/A')")
    assert "cancelled in the task pane" in cells[0][0]["message"]
    assert ledger(app)["billed_total"] == 0
    page.context.close()


def test_stale_answers_are_marked_and_checked_again_from_the_pane(
    browser: Browser, backend: tuple[str, Flask]
) -> None:
    base, app = backend
    page, console = open_pane(browser, base)
    two = numbers(20, 2)
    invoke = "(values) => window.__excel.invoke('FBCHECK', [values.map((v) => [v]), null, null])"
    first = page.evaluate(invoke, two)
    answers = wait_for_result(
        page, first, "(last) => last.every((row) => ['yes', 'no', 'ban'].includes(row[0]))"
    )
    # The cache lifetime ends (0 days) and the workbook is opened again: streams restart.
    page.click("#tab-settings")
    page.fill("#cache-ttl", "0")
    page.click("#settings-form button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('settings-status').textContent === 'Settings saved.'"
    )
    again = page.evaluate(invoke, two)
    stale = wait_for_result(
        page, again, "(last) => last.every((row) => row[0].endsWith(' (stale)'))"
    )
    assert stale == [[f"{row[0]} (stale)"] for row in answers]
    assert ledger(app)["numbers_uploaded"] == 2
    page.click("#tab-check")
    page.wait_for_selector("#stale-box", state="visible")
    assert page.inner_text("#stale-text").startswith("2 cell(s) show an answer older")

    page.click("#stale-refresh")
    fresh = wait_for_result(
        page, again, "(last) => last.every((row) => ['yes', 'no', 'ban'].includes(row[0]))"
    )
    assert len(fresh) == 2
    assert ledger(app)["numbers_uploaded"] == 4
    page.wait_for_selector("#stale-box", state="hidden")
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console
    page.context.close()


# -- item 9: a backend that is not reachable yet ----------------------------------------


def test_a_lookup_waits_for_the_backend_and_answers_once_it_is_reachable(
    browser: Browser, backend: tuple[str, Flask]
) -> None:
    """Look-ups refused at the connection (as with no `fbcheck serve`) wait, then answer."""
    base, _app = backend
    page, _console = open_pane(browser, base)
    refused: list[str] = []

    def refuse(route: Route) -> None:
        """Play a backend that does not listen: the connection is refused."""
        refused.append(route.request.url)
        route.abort("connectionrefused")

    page.route("**/api/lookups", refuse)
    index = page.evaluate(
        f"() => window.__excel.invoke('FBCHECK', [[[{json.dumps(BANNED)}]], null, null])"
    )
    waiting = wait_for_result(
        page, index, f"(last) => last[0][0] === {json.dumps(WAITING_FOR_BACKEND)}"
    )
    assert waiting == [[WAITING_FOR_BACKEND]]
    deadline = time.monotonic() + 20
    while len(refused) < 2:
        assert time.monotonic() < deadline, "the look-up was not sent again"
        page.wait_for_timeout(50)
    # Never an error on the way: Excel would not run a failed look-up again.
    results = page.evaluate("(index) => window.__excel.invocations[index].results", index)
    assert all(isinstance(result, list) for result in results), results

    page.unroute("**/api/lookups")
    answer = wait_for_result(page, index, "(last) => last[0][0] === 'ban'")
    assert answer == [["ban"]]
    page.context.close()
