"""The real task pane in headless Chromium against the real backend and the demo emulator.

Only Office and Excel are stubbed (``taskpane_office_stub.js``, an in-memory
sheet with load/sync); the page's own JavaScript talks HTTPS to the backend,
which checks the numbers on its in-process emulator. The test goes through
check, plan, confirmation, progress and answers written into column B, and
saves ``docs/screenshots/taskpane.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from addin.config import Settings
from addin.web import close_app, create_app
from addin.web.certs import ServerCertificate
from addin.web.flask_config import EMULATOR_CONFIG_KEY, SETTINGS_KEY
from addin.web.serving import bind_backend

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright for Python is not installed"
)

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
STUB = Path(__file__).with_name("taskpane_office_stub.js")
SCREENSHOT = ROOT / "docs" / "screenshots" / "taskpane.png"
#: The emulator answers this number "ban" (pinned), so every answer kind shows up.
BANNED = "+41798284600"
INVALID = ["not a phone", "12"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def sheet_rows() -> list[list[Any]]:
    """Return column A: a header, 48 Swiss mobile numbers (some stored as numbers), 2 invalid."""
    numbers: list[Any] = [BANNED]
    for index in range(1, 48):
        number = 41798284600 + index
        numbers.append(float(number) if index % 5 == 0 else f"+{number}")
    return [["phone"]] + [[value] for value in numbers + INVALID]


ROWS = sheet_rows()


@pytest.fixture(scope="module")
def backend_url(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[str]:
    """The real backend over TLS (demo mode, fast polling), stopped afterwards."""
    data_dir = tmp_path_factory.mktemp("taskpane")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        api_key=None,
        region="CH",
        poll_min_interval=0.05,
        poll_max_interval=0.3,
        # Below the 50 numbers: the pane must ask before anything is billed.
        confirm_above=10,
    )
    app = create_app(
        {SETTINGS_KEY: settings, EMULATOR_CONFIG_KEY: {"MOCK_FIXTURES": {BANNED: "ban"}}}
    )
    try:
        with bind_backend(app, certificate=certificate) as server:
            yield f"https://localhost:{server.port}"
    finally:
        close_app(app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; the test CA is not in its store (certificates have own tests)."""
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--ignore-certificate-errors"],
            # Draw scrollbars as a browser does, so the screenshots show the pane's.
            ignore_default_args=["--hide-scrollbars"],
        )
        yield launched
        launched.close()


@pytest.fixture
def pane(browser: Browser, backend_url: str) -> Iterator[tuple[Page, list[str]]]:
    """The task pane in a pane-sized window with Office/Excel stubbed; its console lines."""
    yield from open_pane(browser, backend_url, ROWS)


def open_pane(
    browser: Browser,
    backend_url: str,
    rows: list[list[Any]],
    viewport: tuple[int, int] = (380, 1100),
    init: str | None = None,
) -> Iterator[tuple[Page, list[str]]]:
    """Open the pane on a stub sheet holding ``rows`` in column A; yield it and its console."""
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    # office.js comes from the internet in Excel; here the stub has defined Office already.
    page.route(
        "https://appsforoffice.microsoft.com/**",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
    )
    sheet = {
        "name": "Sheet1",
        "rows": rows,
        "selection": [{"rowIndex": 0, "columnIndex": 0, "rowCount": 1048576, "columnCount": 1}],
    }
    page.add_init_script(f"window.__FBCHECK_TEST_SHEET__ = {json.dumps(sheet)};")
    page.add_init_script(path=str(STUB))
    if init:
        page.add_init_script(init)
    page.goto(f"{backend_url}/taskpane.html")
    # Functions, not expression strings: the pane's CSP forbids eval.
    page.wait_for_function(
        "() => document.getElementById('backend-status').textContent.startsWith('Connected')"
    )
    yield page, console
    context.close()


def column_b(page: Page, count: int = len(ROWS)) -> list[Any]:
    """Return column B of the stub sheet, rows 1 to ``count``."""
    values: list[Any] = page.evaluate("(count) => window.__fbcheckSheet.column(1, 0, count)", count)
    return values


def test_check_confirm_progress_and_answers_written(pane: tuple[Page, list[str]]) -> None:
    page, console = pane
    assert page.is_visible("#demo-banner")
    page.click("#check-button")

    # The plan comes first; nothing is billed before the confirmation.
    page.wait_for_selector("#confirm-box", state="visible")
    plan = page.inner_text("#plan-figures")
    assert "to upload\n48" in plan.replace("\t", "\n")
    assert "invalid\n2" in plan.replace("\t", "\n")
    placeholders = column_b(page)
    assert placeholders[0] == "facebook (DEMO)"
    assert set(placeholders[1:49]) == {"unconfirmed"}
    assert placeholders[49:] == ["invalid", "invalid"]

    page.click("#confirm-button")
    page.wait_for_selector("#progress", state="visible")
    page.wait_for_function(
        "() => /answers written/.test(document.getElementById('check-message').textContent)",
        timeout=30_000,
    )
    answers = column_b(page)
    assert answers[0] == "facebook (DEMO)"
    assert answers[1] == "ban"
    assert set(answers[1:49]) <= {"yes", "no", "ban"}
    assert {"yes", "no"} <= set(answers[1:49])
    assert answers[49:] == ["invalid", "invalid"]
    progress = page.inner_text("#progress-text")
    assert progress.startswith("done: 48 of 48 numbers answered")
    # Every batch waits while the user edits a cell instead of failing (delayForCellEdit).
    options = page.evaluate("() => window.__fbcheckSheet.runOptions")
    assert options
    assert all(o == {"delayForCellEdit": True} for o in options), options
    # Colour rules on the answer column, one per answer kind.
    rules = page.evaluate("() => window.__fbcheckSheet.conditionalFormats.length")
    assert rules == 6

    # The job's result as a bar: one segment per answer kind, widths in proportion.
    expected = {kind: answers[1:49].count(kind) for kind in ("yes", "no", "ban")}
    expected |= {"invalid": 2}
    assert_result_bar(page, "#progress-result", expected)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The account panel follows each job: its billed figure is no longer 0 (issue 10, item 14).
    page.click("#tab-settings")
    page.wait_for_function(
        "() => /billed\\s+[1-9]/.test(document.getElementById('account-details').innerText)"
    )
    # History lists the job with its counts, drawn as the same bar.
    page.click("#tab-history")
    page.wait_for_function("() => document.querySelectorAll('#history-rows li').length >= 1")
    history = page.inner_text("#history-rows li:first-child")
    assert "done" in history
    assert_result_bar(page, "#history-rows li:first-child .result", expected)
    page.screenshot(path=str(SCREENSHOT.with_name("taskpane-history.png")), full_page=True)
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def assert_result_bar(page: Page, selector: str, counts: dict[str, int]) -> None:
    """Assert the result bar under ``selector``: a segment per non-zero count, widths in
    proportion to the counts (within a pixel), the counts in its label and legend."""
    bar = page.evaluate(
        """(selector) => {
            const bar = document.querySelector(selector + ' .result-bar');
            const width = bar.getBoundingClientRect().width;
            const segments = Array.from(bar.querySelectorAll('.segment')).map((s) => ({
                kind: s.dataset.kind, width: s.getBoundingClientRect().width,
                colour: getComputedStyle(s).backgroundColor}));
            return {width, segments, label: bar.getAttribute('aria-label'),
                    legend: document.querySelector(selector + ' .result-legend').textContent};
        }""",
        selector,
    )
    total = sum(counts.values())
    assert bar["width"] > 100, bar
    shown = {kind: count for kind, count in counts.items() if count}
    assert [segment["kind"] for segment in bar["segments"]] == [
        kind for kind in ("yes", "no", "ban", "invalid", "error") if kind in shown
    ], bar
    for segment in bar["segments"]:
        assert segment["width"] == pytest.approx(
            bar["width"] * shown[segment["kind"]] / total, abs=1.0
        ), (segment, bar)
    # Each kind its own colour.
    colours = [segment["colour"] for segment in bar["segments"]]
    assert len(set(colours)) == len(colours), colours
    for kind in ("yes", "no", "ban", "invalid", "error"):
        assert f"{kind} {counts.get(kind, 0)}" in bar["label"], bar
        assert f"{kind} {counts.get(kind, 0)}" in bar["legend"], bar


def test_ribbon_button_completes_at_once_and_writes_answers(pane: tuple[Page, list[str]]) -> None:
    """The ribbon's ExecuteFunction handler: event completed once, answers follow."""
    page, console = pane
    # Three numbers, below the confirmation threshold: no question asked.
    page.evaluate(
        """() => {
            const sheet = window.__fbcheckSheet;
            sheet.select([{rowIndex: 1, columnIndex: 0, rowCount: 3, columnCount: 1}]);
            window.__completed = 0;
            sheet.actions.checkSelection({completed: () => { window.__completed += 1; }});
        }"""
    )
    assert page.evaluate("() => window.__completed") == 1
    page.wait_for_function(
        "() => ['yes', 'no', 'ban'].includes(window.__fbcheckSheet.cell(3, 1))", timeout=30_000
    )
    answers = column_b(page)
    assert answers[1] == "ban"
    assert set(answers[1:4]) <= {"yes", "no", "ban"}
    # Only the selected rows were touched.
    assert answers[0] == ""
    assert answers[4] == ""
    assert page.evaluate("() => window.__completed") == 1
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_fbcheck_function_streams_answers(pane: tuple[Page, list[str]]) -> None:
    """=FBCHECK over a range: progress text at once, then the answers, #VALUE! for invalid."""
    page, _console = pane
    page.evaluate(
        """() => {
            window.__results = [];
            const invocation = {setResult: (value) => window.__results.push(value)};
            window.__fbcheckSheet.customFunctions.FBCHECK(
                [["+41798284600"], ["+41 79 828 47 99"], ["12"], [""]], null, invocation);
        }"""
    )
    first = page.evaluate("() => window.__results[0]")
    assert first == [["checking…"], ["checking…"], ["checking…"], [""]]
    page.wait_for_function(
        "() => { const last = window.__results[window.__results.length - 1];"
        " return ['yes', 'no', 'ban'].includes(last[1][0]); }",
        timeout=30_000,
    )
    last = page.evaluate("() => window.__results[window.__results.length - 1]")
    assert last[0] == ["ban"]
    assert last[2][0]["code"] == "#VALUE!"
    assert last[2][0]["message"]
    assert last[3] == [""]


def test_settings_show_the_key_masked(pane: tuple[Page, list[str]]) -> None:
    """The settings form shows demo state; the key field is a password field and empty."""
    page, _console = pane
    page.wait_for_function("() => document.getElementById('region').value !== ''")
    assert page.get_attribute("#api-key", "type") == "password"
    assert page.input_value("#api-key") == ""
    assert page.input_value("#region") == "CH"
    assert page.input_value("#confirm-above") == "10"


def test_two_columns_are_refused_with_a_clear_message(pane: tuple[Page, list[str]]) -> None:
    page, _console = pane
    # A note in B3 puts column B inside the used range, so the selection stays two wide.
    page.evaluate(
        """() => {
            window.__fbcheckSheet.set(2, 1, "note");
            window.__fbcheckSheet.select(
                [{rowIndex: 0, columnIndex: 0, rowCount: 5, columnCount: 2}]);
        }"""
    )
    page.click("#check-button")
    page.wait_for_function(
        "() => document.getElementById('check-message').classList.contains('error')"
    )
    assert page.inner_text("#check-message") == (
        "Select one column per area: A1:B5 spans 2 columns."
    )


def test_settings_are_saved_through_the_backend(pane: tuple[Page, list[str]]) -> None:
    page, _console = pane
    page.wait_for_function("() => document.getElementById('region').value !== ''")
    page.click("#tab-settings")
    page.fill("#cache-ttl", "7")
    page.click("#settings-form button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('settings-status').textContent === 'Settings saved.'"
    )
    page.reload()
    page.wait_for_function("() => document.getElementById('cache-ttl').value === '7'")
    assert page.input_value("#region") == "CH"


def test_a_refused_setting_shows_the_backend_message(pane: tuple[Page, list[str]]) -> None:
    page, _console = pane
    page.wait_for_function("() => document.getElementById('region').value !== ''")
    # The browser's own form checks would stop "ZZ9"; send what they allow but the backend refuses.
    page.click("#tab-settings")
    page.fill("#region", "ZZ")
    page.click("#settings-form button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('settings-status').classList.contains('error')"
    )
    assert "ZZ" in page.inner_text("#settings-status")


# -- an upload whose outcome is unknown: the pane asks, the user answers -----------------------

UNCERTAIN_ROWS: list[list[Any]] = [["phone"], ["+41798284700"], ["+41798284701"], ["+41798284702"]]


@pytest.fixture(scope="module")
def gateway_backend_url(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[str]:
    """A backend whose emulator bills the first upload, then answers it with a gateway 504."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("gateway"),
        api_key=None,
        region="CH",
        poll_min_interval=0.05,
        poll_max_interval=0.3,
    )
    app = create_app(
        {
            SETTINGS_KEY: settings,
            EMULATOR_CONFIG_KEY: {"MOCK_CREATE_FAULT": "gateway_504", "MOCK_CREATE_FAULT_COUNT": 1},
        }
    )
    try:
        with bind_backend(app, certificate=certificate) as server:
            yield f"https://localhost:{server.port}"
    finally:
        close_app(app)


@pytest.fixture
def gateway_pane(browser: Browser, gateway_backend_url: str) -> Iterator[tuple[Page, list[str]]]:
    """The pane on the gateway backend, column A holding a header and three numbers."""
    yield from open_pane(browser, gateway_backend_url, UNCERTAIN_ROWS)


def test_an_uncertain_upload_waits_for_the_users_word(
    gateway_pane: tuple[Page, list[str]],
) -> None:
    """The pane shows the choice, polls slowly meanwhile, and "Send again" finishes the job."""
    page, console = gateway_pane
    polls: list[str] = []
    page.on(
        "request",
        lambda request: polls.append(request.url) if "/api/jobs/" in request.url else None,
    )
    page.click("#check-button")
    page.wait_for_selector("#wait-box", state="visible", timeout=30_000)
    assert page.inner_text("#wait-text") == (
        "3 numbers wait for your word: the upload's outcome is unknown"
        " and the vendor may have billed it."
    )
    assert page.is_visible("#resend-button")
    assert page.inner_text("#resend-button") == "Send again (may bill twice)"
    assert page.inner_text("#abandon-button") == "Give them up"
    figures = page.inner_text("#progress-figures").replace("\t", "\n")
    assert "possibly billed\n1" in figures
    assert column_b(page, 4) == ["facebook (DEMO)", "pending", "pending", "pending"]
    # Only the pane's container scrolls: bring the question into the picture.
    page.locator("#wait-box").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT.with_name("taskpane-waiting.png")))
    # Settled: the pane does not spin on the job while it waits.
    seen = len(polls)
    page.wait_for_timeout(2_500)
    assert len(polls) == seen, polls[seen:]

    page.click("#resend-button")
    page.wait_for_function(
        "() => /answers written/.test(document.getElementById('check-message').textContent)",
        timeout=30_000,
    )
    assert page.is_hidden("#wait-box")
    answers = column_b(page, 4)
    assert set(answers[1:]) <= {"yes", "no", "ban"}
    assert page.inner_text("#progress-text").startswith("done: 3 of 3 numbers answered")
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


# -- the answer column holds the user's data: the pane asks first (issue 10, item 2) ----------

#: Column A: a header and numbers (A3 empty); column B: the user's notes; C and on: free.
CONFLICT_ROWS: list[list[Any]] = [
    ["phone", "Notes"],
    ["+41798284810", "Alice"],
    ["", "keep me"],
    ["+41798284811", ""],
    ["+41798284812", "call back"],
]
NOTES = [row[1] for row in CONFLICT_ROWS]


@pytest.fixture
def conflict_pane(browser: Browser, backend_url: str) -> Iterator[tuple[Page, list[str]]]:
    """The pane on a sheet whose answer column B holds the user's notes."""
    yield from open_pane(browser, backend_url, CONFLICT_ROWS)


def column(page: Page, index: int, count: int = len(CONFLICT_ROWS)) -> list[Any]:
    """Return column ``index`` (0-based) of the stub sheet, rows 1 to ``count``."""
    values: list[Any] = page.evaluate(
        "([index, count]) => window.__fbcheckSheet.column(index, 0, count)", [index, count]
    )
    return values


def job_count(page: Page) -> int:
    """Return how many jobs the backend knows, asked from the page as the pane asks."""
    count: int = page.evaluate(
        """async () => {
            const response = await fetch('/api/jobs?limit=200',
                {headers: {'X-FBCheck-Client': 'fbcheck-taskpane/1'}});
            return (await response.json()).jobs.length;
        }"""
    )
    return count


def ask_where(page: Page) -> int:
    """Press Check, wait for the question; assert nothing was written or started; return jobs."""
    jobs = job_count(page)
    page.click("#check-button")
    page.wait_for_selector("#choice-box", state="visible", timeout=30_000)
    assert page.inner_text("#check-message").startswith(
        "The answer column B holds other data in 4 cells (B1: 'Notes'; B2: 'Alice')"
    )
    assert column(page, 1) == NOTES
    assert column(page, 2) == [""] * len(CONFLICT_ROWS)
    assert job_count(page) == jobs
    return jobs


def wait_written(page: Page) -> None:
    """Wait until the pane says the answers are written."""
    page.wait_for_function(
        "() => /answers written/.test(document.getElementById('check-message').textContent)",
        timeout=30_000,
    )


def test_choice_first_free_column(conflict_pane: tuple[Page, list[str]]) -> None:
    """ "Write into column C": the answers go there; the notes in B stay as they are."""
    page, console = conflict_pane
    jobs = ask_where(page)
    assert page.inner_text("#free-column-button") == (
        "Write into column C (the first free one to the right)"
    )
    page.screenshot(path=str(SCREENSHOT.with_name("taskpane-choice.png")), full_page=True)
    page.click("#free-column-button")
    wait_written(page)
    answers = column(page, 2)
    assert answers[0] == "facebook (DEMO)"
    assert answers[2] == ""
    assert {answers[1], answers[3], answers[4]} <= {"yes", "no", "ban"}
    assert column(page, 1) == NOTES
    assert job_count(page) == jobs + 1
    assert page.is_hidden("#choice-box")

    # History's "Write again" for that job writes into the column chosen for it, not into B.
    page.evaluate(
        "() => { for (let row = 0; row < 5; row += 1) window.__fbcheckSheet.set(row, 2, ''); }"
    )
    page.wait_for_function(
        "() => /Sheet1!A1:A5/.test(document.getElementById('history-rows').textContent)"
    )
    page.click("#tab-history")
    page.click("#history-rows li:first-child button")
    page.wait_for_function(
        "() => ['yes', 'no', 'ban'].includes(window.__fbcheckSheet.cell(1, 2))", timeout=30_000
    )
    assert column(page, 2)[1:] == answers[1:]
    assert column(page, 1) == NOTES
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_choice_overwrite(conflict_pane: tuple[Page, list[str]]) -> None:
    """ "Overwrite": answers replace the notes beside numbers; the note beside A3 stays."""
    page, console = conflict_pane
    jobs = ask_where(page)
    page.click("#overwrite-button")
    wait_written(page)
    answers = column(page, 1)
    assert answers[0] == "facebook (DEMO)"
    assert answers[2] == "keep me"
    assert {answers[1], answers[3], answers[4]} <= {"yes", "no", "ban"}
    assert column(page, 2) == [""] * len(CONFLICT_ROWS)
    assert job_count(page) == jobs + 1
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_choice_cancel(conflict_pane: tuple[Page, list[str]]) -> None:
    """ "Cancel": nothing written anywhere, no job, nothing billed."""
    page, console = conflict_pane
    jobs = ask_where(page)
    # The question waits on the Check tab: another tab shows a mark on Check meanwhile.
    assert page.is_hidden("#tab-check .attention")
    page.click("#tab-history")
    assert page.is_visible("#tab-check .attention")
    assert "waits for your answer" in page.inner_text("#tab-check")
    page.click("#tab-check")
    assert page.is_hidden("#tab-check .attention")
    page.click("#choice-cancel-button")
    page.wait_for_function(
        "() => document.getElementById('check-message').textContent.startsWith('Cancelled')"
    )
    assert page.inner_text("#check-message") == (
        "Cancelled: nothing was written and nothing was billed."
    )
    assert page.is_hidden("#choice-box")
    assert column(page, 1) == NOTES
    assert column(page, 2) == [""] * len(CONFLICT_ROWS)
    assert job_count(page) == jobs
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


# -- tabs and scrolling (issue 10, items 13 and 15) ---------------------------------------

TABS = {
    "tab-check": "panel-check",
    "tab-history": "panel-history",
    "tab-settings": "panel-settings",
}


def tab_state(page: Page) -> dict[str, Any]:
    """Return the selected tab, each tab's tabindex, the visible panels and the focus."""
    state: dict[str, Any] = page.evaluate(
        """() => ({
            selected: Array.from(document.querySelectorAll('[role=tab]'))
                .filter((t) => t.getAttribute('aria-selected') === 'true').map((t) => t.id),
            tabindex: Object.fromEntries(Array.from(document.querySelectorAll('[role=tab]'))
                .map((t) => [t.id, t.tabIndex])),
            visible: Array.from(document.querySelectorAll('[role=tabpanel]'))
                .filter((p) => p.checkVisibility()).map((p) => p.id),
            focus: document.activeElement.id,
        })"""
    )
    return state


def test_tabs_follow_the_aria_pattern_with_click_and_keyboard(
    pane: tuple[Page, list[str]],
) -> None:
    page, console = pane
    roles = page.evaluate(
        """() => Array.from(document.querySelectorAll('[role=tablist] [role=tab]')).map((t) => {
            const panel = document.getElementById(t.getAttribute('aria-controls'));
            return [t.id, panel.id, panel.getAttribute('role'),
                    panel.getAttribute("aria-labelledby"), t.innerText];
        })"""
    )
    assert [row[:4] for row in roles] == [
        [tab, panel, "tabpanel", tab] for tab, panel in TABS.items()
    ]
    assert [row[4] for row in roles] == ["Check", "History", "Settings"]
    assert tab_state(page) == {
        "selected": ["tab-check"],
        "tabindex": {"tab-check": 0, "tab-history": -1, "tab-settings": -1},
        "visible": ["panel-check"],
        "focus": "",
    }

    page.click("#tab-history")
    state = tab_state(page)
    assert state["selected"] == ["tab-history"]
    assert state["visible"] == ["panel-history"]
    assert state["tabindex"] == {"tab-check": -1, "tab-history": 0, "tab-settings": -1}

    # Arrow keys move and select (wrapping), Home and End go to the ends.
    for key, expected in [
        ("ArrowRight", "tab-settings"),
        ("ArrowRight", "tab-check"),
        ("ArrowLeft", "tab-settings"),
        ("Home", "tab-check"),
        ("End", "tab-settings"),
        ("ArrowLeft", "tab-history"),
    ]:
        page.keyboard.press(key)
        state = tab_state(page)
        assert state["selected"] == [expected], (key, state)
        assert state["focus"] == expected, (key, state)
        assert state["visible"] == [TABS[expected]], (key, state)
        assert state["tabindex"][expected] == 0
    # Only the selected tab is in the Tab order: Tab goes on into its panel.
    page.keyboard.press("Tab")
    assert tab_state(page)["focus"] == "panel-history"
    # Enter on a focused tab selects it too (it is a button).
    page.focus("#tab-settings")
    page.keyboard.press("Enter")
    assert tab_state(page)["selected"] == ["tab-settings"]
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_every_section_is_in_a_tab_and_reachable(pane: tuple[Page, list[str]]) -> None:
    page, _console = pane
    homes = page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('main section'))
            .map((s) => [s.id, s.closest('[role=tabpanel]')?.id ?? null]))"""
    )
    assert homes == {
        "check": "panel-check",
        "lookups": "panel-check",
        "short-box": "panel-check",
        "history": "panel-history",
        "settings": "panel-settings",
        "account": "panel-settings",
    }
    for tab, controls in [
        ("#tab-check", ["#check-button"]),
        ("#tab-history", ["#history-refresh"]),
        ("#tab-settings", ["#api-key", "#settings-form button[type=submit]", "#clear-cache"]),
    ]:
        page.click(tab)
        for control in controls:
            page.locator(control).scroll_into_view_if_needed()
            assert page.is_visible(control), control
    # The account panel keeps its ids (and fills in) on the Settings tab.
    page.wait_for_function("() => document.getElementById('account-details').children.length > 0")
    page.click("#clear-cache")
    page.wait_for_function(
        "() => document.getElementById('cache-status').textContent.startsWith('Cleared')"
    )


@pytest.fixture
def small_pane(browser: Browser, backend_url: str) -> Iterator[tuple[Page, list[str]]]:
    """The pane in a 320 x 500 window (Excel on Windows' default task pane width)."""
    yield from open_pane(browser, backend_url, ROWS, viewport=(320, 500))


def test_the_pane_scrolls_visibly_when_content_overflows(
    small_pane: tuple[Page, list[str]],
) -> None:
    page, console = small_pane
    page.click("#tab-settings")
    page.wait_for_function("() => document.getElementById('account-details').children.length > 0")
    box = page.evaluate(
        """() => {
            const scroll = document.getElementById('pane-scroll');
            return {
                overflowY: getComputedStyle(scroll).overflowY,
                scrollHeight: scroll.scrollHeight,
                clientHeight: scroll.clientHeight,
                scrollbar: scroll.offsetWidth - scroll.clientWidth,
                bottom: scroll.getBoundingClientRect().bottom,
                page: document.scrollingElement.scrollHeight,
            };
        }"""
    )
    assert box["overflowY"] == "auto", box
    assert box["scrollHeight"] > box["clientHeight"], box
    # The scrollbar is drawn and takes room (not an overlay that hides until hovered).
    assert box["scrollbar"] == 10, box
    # The page itself does not scroll: the container ends at the window's bottom.
    assert box["page"] <= 500, box
    assert box["bottom"] == pytest.approx(500, abs=1), box
    # The last control is below the fold, and the mouse wheel brings it into view.
    assert (
        page.evaluate("() => document.getElementById('clear-cache').getBoundingClientRect().top")
        > 500
    )
    page.mouse.move(160, 400)
    page.mouse.wheel(0, 3000)
    page.wait_for_function(
        "() => { const s = document.getElementById('pane-scroll');"
        " return s.scrollTop + s.clientHeight >= s.scrollHeight - 1; }"
    )
    rect = page.evaluate(
        "() => { const r = document.getElementById('clear-cache').getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom}; }"
    )
    assert rect["top"] > 0, rect
    assert rect["bottom"] <= 500, rect
    # The tabs stay where they are while the panel scrolls.
    tabs = page.evaluate("() => document.getElementById('tab-check').getBoundingClientRect().top")
    assert 0 <= tabs < 200, tabs
    page.screenshot(path=str(SCREENSHOT.with_name("taskpane-scrolled.png")))
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_a_dark_office_theme_darkens_the_pane(browser: Browser, backend_url: str) -> None:
    """Office.context.officeTheme (Black theme): the pane takes its body colours."""
    theme = (
        "window.Office.context.officeTheme = {bodyBackgroundColor: '#262626',"
        " bodyForegroundColor: '#ffffff', controlBackgroundColor: '#1f1f1f',"
        " controlForegroundColor: '#ffffff', isDarkTheme: true};"
    )
    for page, console in open_pane(browser, backend_url, ROWS, init=theme):
        look = page.evaluate(
            """() => ({dark: document.documentElement.classList.contains('dark'),
                body: getComputedStyle(document.body).backgroundColor,
                text: getComputedStyle(document.body).color,
                button: getComputedStyle(document.getElementById('history-refresh'))
                    .backgroundColor,
                primary: getComputedStyle(document.getElementById('check-button')).color})"""
        )
        assert look == {
            "dark": True,
            "body": "rgb(38, 38, 38)",
            "text": "rgb(255, 255, 255)",
            "button": "rgb(31, 31, 31)",
            "primary": "rgb(255, 255, 255)",
        }, look
        page.screenshot(path=str(SCREENSHOT.with_name("taskpane-dark.png")))
        assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_without_an_office_theme_the_pane_stays_light(pane: tuple[Page, list[str]]) -> None:
    page, _console = pane
    look = page.evaluate(
        """() => ({dark: document.documentElement.classList.contains('dark'),
            body: getComputedStyle(document.body).backgroundColor})"""
    )
    assert look == {"dark": False, "body": "rgb(255, 255, 255)"}
