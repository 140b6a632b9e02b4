"""The task pane's wait-or-drop prompt for =FBCHECK look-ups under the v1 minimum.

Headless Chromium against the real backend (demo mode, the emulator spoken to in the
v1 dialect, whose minimum is 100 numbers per task); only Office and Excel are stubbed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from addin.config import Settings
from addin.web import close_app, create_app
from addin.web.certs import ServerCertificate
from addin.web.flask_config import SETTINGS_KEY
from addin.web.serving import bind_backend
from tests.web.test_browser_taskpane import CHROMIUM, open_pane

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright for Python is not installed"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

ROWS = [["phone"], ["+41798284601"]]
FEW = [f"+4179828{n:04d}" for n in range(4700, 4712)]

#: Sends look-ups as the page's =FBCHECK code does (same origin, the client header).
SEND_LOOKUPS = """async (numbers) => {
  const response = await fetch("/api/lookups", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-FBCheck-Client": "taskpane"},
    body: JSON.stringify({items: numbers.map((value) => ({value, region: null}))}),
  });
  return response.status;
}"""


@pytest.fixture(scope="module")
def backend_url(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[str]:
    """The real backend over TLS, demo mode in the v1 dialect."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=Path(tmp_path_factory.mktemp("below-minimum")),
        api_key=None,
        api_dialect="v1",
        region="CH",
        poll_min_interval=0.05,
        poll_max_interval=0.3,
    )
    app = create_app({SETTINGS_KEY: settings})
    try:
        with bind_backend(app, certificate=certificate) as server:
            yield f"https://localhost:{server.port}"
    finally:
        close_app(app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium."""
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=["--ignore-certificate-errors"]
        )
        yield launched
        launched.close()


@pytest.fixture
def pane(browser: Browser, backend_url: str) -> Iterator[tuple[Page, list[str]]]:
    """The task pane with a stub sheet."""
    yield from open_pane(browser, backend_url, ROWS)


def test_the_pane_offers_to_wait_or_drop_too_few_lookups(
    pane: tuple[Page, list[str]],
) -> None:
    page, console = pane
    assert page.evaluate(SEND_LOOKUPS, FEW) == 200
    page.wait_for_selector("#short-box", state="visible", timeout=20_000)
    text = page.inner_text("#short-text")
    assert "12 =FBCHECK number(s) are not sent yet" in text
    assert "at least 100 new numbers per task" in text
    page.click("#short-wait")
    page.wait_for_selector("#short-box", state="hidden")
    # One more held number changes the count: the pane asks again.
    assert page.evaluate(SEND_LOOKUPS, ["+41798284800"]) == 200
    page.wait_for_selector("#short-box", state="visible", timeout=20_000)
    assert "13 =FBCHECK number(s)" in page.inner_text("#short-text")
    page.click("#short-drop")
    page.wait_for_function(
        "() => document.getElementById('short-status').textContent === 'Dropped 13 number(s).'"
    )
    page.wait_for_selector("#short-box", state="hidden")
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_check_balance_asks_the_vendor_only_on_the_click(pane: tuple[Page, list[str]]) -> None:
    page, console = pane
    details = "() => document.getElementById('account-details').textContent"
    page.wait_for_function(f"{details}.includes('dialect')")
    assert "asked the vendor now" not in page.evaluate(details)
    page.click("#tab-settings")
    page.click("#check-balance")
    page.wait_for_function(f"{details}.includes('balance (asked the vendor now)')")
    text = page.evaluate(details)
    assert "possibly billed1" in text  # the balance request is counted as possibly billed
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console
