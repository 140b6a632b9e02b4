"""The task pane's sign-in in headless Chromium against a real team server (``serve --team``).

Office and Excel are stubbed as in ``test_browser_taskpane.py``, plus an in-memory
``OfficeRuntime.storage``; the page's own JavaScript signs in, lists its user's own
jobs, and turns a refused token into "sign in again".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from addin.engine.store import Store
from addin.http_server import BackgroundServer
from addin.web import close_app, create_app
from addin.web.certs import ServerCertificate
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from addin.web.team import TEAM_KEY, TeamMode
from tests.web.engine_app import fast_settings, number, payload
from tests.web.test_browser_taskpane import CHROMIUM, ROWS, browser, open_pane

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

__all__ = ["browser"]  # the module-scoped Chromium of the task pane's tests

#: An OfficeRuntime.storage kept in the page (Office's is asynchronous and persistent);
#: the test reads what the pane stored through ``window.__officeStorage``.
OFFICE_RUNTIME = """
window.__officeStorage = {};
window.OfficeRuntime = { storage: {
  getItem: async (key) => (key in window.__officeStorage ? window.__officeStorage[key] : null),
  setItem: async (key, value) => { window.__officeStorage[key] = String(value); },
  removeItem: async (key) => { delete window.__officeStorage[key]; },
} };
"""


@pytest.fixture(scope="module")
def team(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[tuple[str, dict[str, str], Store]]:
    """A team server over TLS with alice's and bob's jobs; its URL, their tokens, the store."""
    settings = fast_settings(tmp_path_factory.mktemp("team-pane"), region="CH")
    app = create_app({SETTINGS_KEY: settings, PORT_KEY: 8443, TEAM_KEY: TeamMode()})
    store = Store(settings.db_path)
    tokens = {name: store.add_user(name) for name in ("alice", "bob")}
    server = BackgroundServer(app, certfile=certificate.certfile, keyfile=certificate.keyfile)
    app.config[PORT_KEY] = server.port
    base = f"https://localhost:{server.port}"
    try:
        with server:
            for name, area in (("alice", "A1:A3"), ("bob", "C1:C3")):
                started = requests.post(
                    f"{base}/xlwings/check-selection",
                    json=payload(
                        (area, [number(i + (0 if name == "alice" else 50)) for i in range(3)])
                    ),
                    headers={"Authorization": f"Bearer {tokens[name]}"},
                    verify=str(certificate.ca_file),
                    timeout=30,
                )
                assert started.status_code == 200, started.text
            yield base, tokens, store
    finally:
        close_app(app)
        store.close()


def sign_in(page: Page, token: str) -> None:
    """Type ``token`` into the sign-in form and submit it."""
    page.wait_for_selector("#sign-in", state="visible")
    page.fill("#sign-in-token", token)
    page.click("#sign-in-button")


def history_text(page: Page) -> str:
    """Return the History list's text once it shows at least one job."""
    page.wait_for_function("() => document.querySelectorAll('#history-rows li').length >= 1")
    return str(page.inner_text("#history-rows"))


def test_sign_in_then_see_only_ones_own_jobs(
    browser: Browser, team: tuple[str, dict[str, str], Store]
) -> None:
    base, tokens, _ = team
    for page, console in open_pane(browser, base, ROWS, init=OFFICE_RUNTIME):
        assert page.is_visible("#sign-in")
        assert "team server" in page.inner_text("#backend-status")
        sign_in(page, tokens["alice"])
        page.wait_for_selector("#signed-in", state="visible")
        assert page.inner_text("#signed-in-text") == "Signed in as alice."
        assert not page.is_visible("#sign-in")
        stored: dict[str, Any] = page.evaluate("() => window.__officeStorage")
        assert stored == {"fbcheck.teamToken": tokens["alice"]}
        page.click("#tab-history")
        text = history_text(page)
        assert "A1:A3" in text
        assert "C1:C3" not in text  # bob's job
        # The key field is replaced by the server's word on it.
        page.click("#tab-settings")
        assert not page.is_visible("#api-key")
        assert "DEMO" in page.inner_text("#team-key")
        assert not [line for line in console if line.startswith("pageerror")], console


def test_a_stored_token_signs_in_by_itself(
    browser: Browser, team: tuple[str, dict[str, str], Store]
) -> None:
    base, tokens, _ = team
    init = (
        OFFICE_RUNTIME
        + f"window.__officeStorage['fbcheck.teamToken'] = {json.dumps(tokens['bob'])};"
    )
    for page, _console in open_pane(browser, base, ROWS, init=init):
        page.wait_for_selector("#signed-in", state="visible")
        assert page.inner_text("#signed-in-text") == "Signed in as bob."
        page.click("#tab-history")
        text = history_text(page)
        assert "C1:C3" in text
        assert "A1:A3" not in text


def test_a_wrong_token_asks_to_sign_in_again(
    browser: Browser, team: tuple[str, dict[str, str], Store]
) -> None:
    base, _, _ = team
    for page, _console in open_pane(browser, base, ROWS, init=OFFICE_RUNTIME):
        sign_in(page, "fbct_not-a-real-token")
        page.wait_for_function(
            "() => /^Sign in again/.test(document.getElementById('sign-in-status').textContent)"
        )
        assert page.is_visible("#sign-in")
        assert not page.is_visible("#signed-in")


def test_a_token_revoked_meanwhile_asks_to_sign_in_again(
    browser: Browser, tmp_path: Path, certificate: ServerCertificate
) -> None:
    settings = fast_settings(tmp_path, region="CH")
    app = create_app({SETTINGS_KEY: settings, PORT_KEY: 8443, TEAM_KEY: TeamMode()})
    store = Store(settings.db_path)
    token = store.add_user("carol")
    server = BackgroundServer(app, certfile=certificate.certfile, keyfile=certificate.keyfile)
    app.config[PORT_KEY] = server.port
    try:
        with server:
            for page, _console in open_pane(
                browser, f"https://localhost:{server.port}", ROWS, init=OFFICE_RUNTIME
            ):
                sign_in(page, token)
                page.wait_for_selector("#signed-in", state="visible")
                store.revoke_user("carol")
                page.click("#tab-history")
                page.click("#history-refresh")
                page.wait_for_selector("#sign-in", state="visible")
                assert page.inner_text("#sign-in-status").startswith("Sign in again")
    finally:
        close_app(app)
        store.close()
