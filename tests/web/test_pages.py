"""Static files: the task pane page and its scripts, functions.json, icons."""

from __future__ import annotations

import json
import mimetypes
import re
from html.parser import HTMLParser

import pytest

from addin.web.views.pages import SERVED_SUFFIXES, STATIC_DIR
from tests.web.conftest import AddinClient


class PageScan(HTMLParser):
    """Collect script sources, stylesheets and anything inline from a page."""

    def __init__(self) -> None:
        """Start empty."""
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.inline_handlers: list[str] = []
        self.in_script = False
        self.inline_code = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record script/link tags and on* attributes."""
        values = dict(attrs)
        self.inline_handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script":
            self.scripts.append(values.get("src"))
            self.in_script = True
        if tag == "link" and values.get("rel") == "stylesheet" and values.get("href"):
            self.stylesheets.append(str(values["href"]))

    def handle_endtag(self, tag: str) -> None:
        """Leave a script element."""
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        """Collect text inside script elements (must stay empty)."""
        if self.in_script:
            self.inline_code += data.strip()


def scan(client: AddinClient, path: str) -> PageScan:
    """Fetch and scan a page."""
    response = client.get(path, client_header=False)
    assert response.status_code == 200
    page = PageScan()
    page.feed(response.get_data(as_text=True))
    return page


def test_taskpane_loads_office_js_then_own_script(client: AddinClient) -> None:
    page = scan(client, "/taskpane.html")
    assert page.scripts == [
        "https://appsforoffice.microsoft.com/lib/1/hosted/office.js",
        # Classic, right after office.js: delayInitialization before the modules (item 8).
        "early-registration.js",
        "taskpane.js",
    ]


def test_taskpane_has_no_inline_script(client: AddinClient) -> None:
    page = scan(client, "/taskpane.html")
    assert page.inline_code == ""
    assert page.inline_handlers == []


def test_taskpane_references_are_served(client: AddinClient) -> None:
    page = scan(client, "/taskpane.html")
    local = [src for src in page.scripts if src and "://" not in src] + page.stylesheets
    assert local
    for name in local:
        assert client.get("/" + name, client_header=False).status_code == 200


def test_taskpane_says_demo(client: AddinClient) -> None:
    html = client.get("/taskpane.html").get_data(as_text=True)
    assert 'id="demo-banner"' in html
    assert "DEMO" in html


def test_backend_client_script_sends_the_client_header() -> None:
    # Every page request to /api/ and /xlwings/ goes through backend-client.js.
    assert "X-FBCheck-Client" in (STATIC_DIR / "backend-client.js").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/taskpane.html", "text/html"),
        ("/taskpane.js", "text/javascript"),
        ("/taskpane.css", "text/css"),
        ("/functions.json", "application/json"),
        ("/icons/icon-32.png", "image/png"),
    ],
)
def test_content_types(client: AddinClient, path: str, mimetype: str) -> None:
    assert client.get(path).mimetype == mimetype


@pytest.fixture
def windows_registry_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poison Python's mimetypes table as a Windows registry often does (pallets/flask#5361)."""
    poisoned = mimetypes.MimeTypes()
    for suffix in (".js", ".mjs", ".css", ".json", ".html"):
        poisoned.add_type("text/plain", suffix)
    poisoned.add_type("application/octet-stream", ".png")
    monkeypatch.setattr(mimetypes, "_db", poisoned)
    assert mimetypes.guess_type("taskpane.js")[0] == "text/plain"


@pytest.mark.usefixtures("windows_registry_types")
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/taskpane.html", "text/html; charset=utf-8"),
        ("/taskpane.js", "text/javascript; charset=utf-8"),
        ("/functions.js", "text/javascript; charset=utf-8"),
        ("/taskpane.css", "text/css; charset=utf-8"),
        ("/functions.json", "application/json"),
        ("/icons/icon-32.png", "image/png"),
    ],
)
def test_content_types_ignore_a_poisoned_mimetypes_table(
    client: AddinClient, path: str, content_type: str
) -> None:
    """Module scripts need a JavaScript type under nosniff, whatever the registry says."""
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_static_file_has_an_explicit_type() -> None:
    """A file added to the static folder with a new suffix must get its type stated."""
    suffixes = {path.suffix for path in STATIC_DIR.rglob("*") if path.is_file()}
    assert suffixes <= SERVED_SUFFIXES, suffixes - SERVED_SUFFIXES


@pytest.mark.parametrize("path", ["/taskpane.html", "/taskpane.js", "/functions.json"])
def test_pages_revalidated_not_stored(client: AddinClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"]


def test_unchanged_page_answers_304(client: AddinClient) -> None:
    etag = client.get("/taskpane.js").headers["ETag"]
    assert client.get("/taskpane.js", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/missing.html",
        "/icons/missing.png",
        "/icons/../functions.json",
        "/..%2fpyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/README.md",
        "/icons",
    ],
)
def test_unknown_or_outside_files_are_404(client: AddinClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_root_redirects_to_the_task_pane(client: AddinClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/taskpane.html"


def test_functions_metadata() -> None:
    """One FBCHECK: a cell or a range in, a (spilling) matrix of strings out, streamed."""
    metadata = json.loads((STATIC_DIR / "functions.json").read_text(encoding="utf-8"))
    (function,) = metadata["functions"]
    assert function["id"] == function["name"] == "FBCHECK"
    numbers, region, refresh = function["parameters"]
    assert numbers == {
        "name": "numbers",
        "description": numbers["description"],
        "type": "any",
        "dimensionality": "matrix",
    }
    assert region["type"] == "string"
    assert region["dimensionality"] == "scalar"
    assert region["optional"] is True
    # =FBCHECK(A2, , TRUE) buys stale answers again; left out, they show "yes (stale)".
    assert refresh["name"] == "refresh"
    assert refresh["type"] == "boolean"
    assert refresh["dimensionality"] == "scalar"
    assert refresh["optional"] is True
    assert function["result"] == {"type": "string", "dimensionality": "matrix"}
    assert function["options"] == {"stream": True}
    # Error cells reach the function (each answers #VALUE! alone) instead of failing the
    # whole range: Microsoft docs, custom functions errors, "errors as inputs".
    assert metadata["allowErrorForDataTypeAny"] is True
    assert numbers["type"] == "any"
    # Excel refuses stream together with these.
    assert not {"cancelable", "requiresAddress", "volatile"} & set(function["options"])


def test_functions_metadata_served(client: AddinClient) -> None:
    response = client.get("/functions.json", client_header=False)
    assert response.json == json.loads((STATIC_DIR / "functions.json").read_text(encoding="utf-8"))


def test_every_ribbon_command_has_an_early_stand_in() -> None:
    """A press before the modules load is kept only for commands early-registration.js lists."""
    template = (STATIC_DIR.parent / "web" / "templates" / "manifest.template.xml").read_text(
        encoding="utf-8"
    )
    commands = re.findall(r"<FunctionName>(\w+)</FunctionName>", template)
    assert commands
    early = (STATIC_DIR / "early-registration.js").read_text(encoding="utf-8")
    listed = re.search(r"var ACTIONS = (\[.*?\]);", early)
    assert listed is not None
    assert sorted(json.loads(listed[1])) == sorted(commands)
