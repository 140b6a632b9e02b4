"""The Office add-in manifest: schema-valid, stable identity, https URLs, the right ribbon."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pytest
from lxml import etree

from addin.formats import package_version
from addin.web import cli as web_cli
from addin.web import create_app
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from addin.web.manifest import (
    ADDIN_ID,
    DEFAULT_BASE_URL,
    TEMPLATE_PATH,
    addin_id_for,
    display_name_for,
    manifest_version,
    normalize_base_url,
    render_manifest,
)
from addin.web.views.pages import STATIC_DIR
from tests.web.conftest import AddinClient, make_settings

REPO = Path(__file__).resolve().parents[2]
XSD_DIR = REPO.parent / "shared" / "office-manifest-xsd"
COMMITTED_MANIFEST = REPO / "manifest" / "manifest.xml"
NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "ov": "http://schemas.microsoft.com/office/taskpaneappversionoverrides",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def parse(text: str) -> etree._Element:
    """Parse manifest text without touching the network."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.fromstring(text.encode("utf-8"), parser)


def attrs(document: etree._Element, xpath: str) -> list[str]:
    """Return the attribute values an XPath selects."""
    result = document.xpath(xpath)
    assert isinstance(result, list)
    return [str(value) for value in result]


def attr(element: etree._Element | None, name: str) -> str:
    """Return an attribute that must exist on an element that must exist."""
    assert element is not None
    value = element.get(name)
    assert value is not None, name
    return value


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """Microsoft's manifest schemas; their imports resolve from the same folder."""
    main = XSD_DIR / "OfficeAppManifestV1_1.xsd"
    if not main.is_file():
        pytest.skip(f"manifest schemas not found at {XSD_DIR} (the ../shared folder is absent)")
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(main), parser))


@pytest.fixture(scope="module")
def manifest() -> etree._Element:
    """The default manifest, parsed."""
    return parse(render_manifest())


@pytest.mark.parametrize("base_url", [DEFAULT_BASE_URL, "https://127.0.0.1:9443", "https://h/a&b"])
def test_valid_against_microsoft_schema(schema: etree.XMLSchema, base_url: str) -> None:
    document = parse(render_manifest(base_url))
    assert schema.validate(document), schema.error_log


def test_schema_rejects_wrong_element_order(schema: etree.XMLSchema) -> None:
    """The validation above can fail: a tab Label before its Group is refused."""
    document = parse(render_manifest())
    tab = document.find(".//ov:CustomTab", NS)
    assert tab is not None
    label = tab.find("ov:Label", NS)
    assert label is not None
    tab.remove(label)
    tab.insert(0, label)
    assert not schema.validate(document)


def test_schema_rejects_non_guid_id(schema: etree.XMLSchema) -> None:
    document = parse(render_manifest().replace(ADDIN_ID, "not-a-guid"))
    assert not schema.validate(document)


def test_committed_manifest_is_the_rendered_default() -> None:
    assert COMMITTED_MANIFEST.read_text(encoding="utf-8") == render_manifest()


def test_id_is_the_stable_guid(manifest: etree._Element) -> None:
    assert manifest.findtext("o:Id", namespaces=NS) == ADDIN_ID
    assert str(uuid.UUID(ADDIN_ID)) == ADDIN_ID


def test_other_base_url_gets_its_own_stable_guid_and_name() -> None:
    other = "https://localhost:9443"
    assert addin_id_for(other) == addin_id_for(other + "/") != ADDIN_ID
    assert uuid.UUID(addin_id_for(other))
    assert display_name_for(other) == "FB Check (localhost:9443)"
    assert display_name_for(DEFAULT_BASE_URL) == "FB Check"
    rendered = parse(render_manifest(other))
    assert rendered.findtext("o:Id", namespaces=NS) == addin_id_for(other)


def test_every_url_is_https_under_the_base_url() -> None:
    base = "https://localhost:9443"
    document = parse(render_manifest(base))
    urls = [value for value in attrs(document, "//@DefaultValue") if "://" in value]
    assert len(urls) >= 8
    assert all(url.startswith(base + "/") for url in urls), urls


def test_resource_ids_fit_32_characters_and_resolve(manifest: etree._Element) -> None:
    defined = {attr(el, "id") for el in manifest.iterfind(".//ov:Resources//*[@id]", NS)}
    referenced = set(attrs(manifest, "//@resid"))
    assert referenced <= defined, referenced - defined
    assert all(len(resid) <= 32 for resid in referenced | defined)


def test_shared_runtime(manifest: etree._Element) -> None:
    sets = manifest.findall("o:Requirements/o:Sets/o:Set", NS)
    assert [(s.get("Name"), s.get("MinVersion")) for s in sets] == [("SharedRuntime", "1.1")]
    runtime = manifest.find(".//ov:Runtimes/ov:Runtime", NS)
    assert runtime is not None
    assert (runtime.get("resid"), runtime.get("lifetime")) == ("Taskpane.Url", "long")
    function_file = manifest.find(".//ov:FunctionFile", NS)
    assert function_file is not None
    assert function_file.get("resid") == "Taskpane.Url"


def test_custom_functions_without_namespace(manifest: etree._Element) -> None:
    point = manifest.find(".//ov:AllFormFactors/ov:ExtensionPoint", NS)
    assert point is not None
    assert point.get(XSI_TYPE) == "CustomFunctions"
    assert point.find("ov:Namespace", NS) is None
    assert manifest.find(".//ov:Namespace", NS) is None
    locations = {
        str(child.tag).split("}")[1]: attr(child.find("ov:SourceLocation", NS), "resid")
        for child in point
    }
    assert locations == {
        "Script": "Functions.Script.Url",
        "Page": "Taskpane.Url",
        "Metadata": "Functions.Metadata.Url",
    }
    assert url_of(manifest, "Functions.Script.Url") == DEFAULT_BASE_URL + "/functions.js"
    assert url_of(manifest, "Functions.Metadata.Url") == DEFAULT_BASE_URL + "/functions.json"
    assert url_of(manifest, "Taskpane.Url") == DEFAULT_BASE_URL + "/taskpane.html"


def url_of(manifest: etree._Element, resid: str) -> str | None:
    """Return the URL a resource id stands for."""
    element = manifest.find(f".//bt:Urls/bt:Url[@id='{resid}']", NS)
    return None if element is None else element.get("DefaultValue")


def string_of(manifest: etree._Element, resid: str) -> str | None:
    """Return the short or long string a resource id stands for."""
    element = manifest.find(f".//bt:String[@id='{resid}']", NS)
    return None if element is None else element.get("DefaultValue")


def test_ribbon_tab_group_and_buttons(manifest: etree._Element) -> None:
    tab = manifest.find(".//ov:ExtensionPoint[@xsi:type='PrimaryCommandSurface']/ov:CustomTab", NS)
    assert tab is not None
    assert string_of(manifest, attr(tab.find("ov:Label", NS), "resid")) == "FB Check"
    controls = tab.findall("ov:Group/ov:Control", NS)
    labels = [string_of(manifest, attr(c.find("ov:Label", NS), "resid")) for c in controls]
    assert labels == ["Check selection", "Open panel"]
    check, panel = (c.find("ov:Action", NS) for c in controls)
    assert check is not None
    assert panel is not None
    assert check.get(XSI_TYPE) == "ExecuteFunction"
    assert check.findtext("ov:FunctionName", namespaces=NS) == "checkSelection"
    assert panel.get(XSI_TYPE) == "ShowTaskpane"
    assert attr(panel.find("ov:SourceLocation", NS), "resid") == "Taskpane.Url"


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) from a PNG file's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def icon_file(url: str) -> Path:
    """Return the static file behind an icon URL of the default manifest."""
    assert url.startswith(DEFAULT_BASE_URL + "/icons/")
    return STATIC_DIR / url.removeprefix(DEFAULT_BASE_URL + "/")


def test_icon_sizes_match_the_png_files(manifest: etree._Element) -> None:
    images = {
        attr(el, "id"): attr(el, "DefaultValue")
        for el in manifest.iterfind(".//bt:Images/bt:Image", NS)
    }
    sizes = set()
    for reference in manifest.iterfind(".//ov:Icon/bt:Image", NS):
        size = int(attr(reference, "size"))
        sizes.add(size)
        assert png_size(icon_file(images[attr(reference, "resid")])) == (size, size)
    assert sorted(sizes) == [16, 32, 80]
    icon = attr(manifest.find("o:IconUrl", NS), "DefaultValue")
    high = attr(manifest.find("o:HighResolutionIconUrl", NS), "DefaultValue")
    assert png_size(icon_file(icon)) == (32, 32)
    assert png_size(icon_file(high)) == (64, 64)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://localhost:8443", "https://localhost:8443"),
        ("https://localhost:8443/", "https://localhost:8443"),
        ("  https://example.com/addin/  ", "https://example.com/addin"),
    ],
)
def test_normalize_base_url(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:8443", "https://"),
        ("localhost:8443", "https://"),
        ("https://", "no host"),
        ("https://localhost:8443/?a=1", "query"),
        ("https://localhost:8443/#x", "fragment"),
        ("https://user:pw@localhost:8443", "credentials"),
        ("https://localhost:99999", "invalid port"),
    ],
)
def test_bad_base_url_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        render_manifest(url)


def test_display_name_is_xml_escaped() -> None:
    text = render_manifest("https://h/a&b")
    assert 'DefaultValue="FB Check (team: h/a&amp;b)"' in text
    assert attr(parse(text).find("o:DisplayName", NS), "DefaultValue") == "FB Check (team: h/a&b)"


def test_template_is_package_data_with_one_copy() -> None:
    """The template ships in the package; manifest/ holds only the rendered default."""
    assert TEMPLATE_PATH == REPO / "addin" / "web" / "templates" / "manifest.template.xml"
    assert TEMPLATE_PATH.is_file()
    assert not (REPO / "manifest" / "manifest.template.xml").exists()


def test_served_manifest_uses_the_servers_own_port(tmp_path) -> None:
    app = create_app({SETTINGS_KEY: make_settings(tmp_path), PORT_KEY: 9555})
    response = AddinClient(app, "https://localhost:9555").get("/manifest.xml", client_header=False)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.get_data(as_text=True) == render_manifest("https://localhost:9555")


def test_version_follows_the_package_version(manifest: etree._Element) -> None:
    """Office refreshes its cached add-in and function metadata only when <Version> grows."""
    version = manifest.find("o:Version", NS)
    assert version is not None
    assert version.text == manifest_version(package_version())


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ("0.1.0", "0.1.0.0"),
        ("1.2", "1.2.0.0"),
        ("2.10.3.4", "2.10.3.4"),
        ("1.2.3.4.5", "1.2.3.4"),
        ("1.4.0rc1", "1.4.0.0"),
        ("0.3.0.dev7", "0.3.0.0"),
        ("0+unknown", ".".join("0000")),
        ("unknown", ".".join("0000")),
    ],
)
def test_manifest_version(package: str, expected: str) -> None:
    assert manifest_version(package) == expected


TEAM = "https://fbcheck.example.com"


def test_team_server_manifest_has_its_own_stable_id_and_name(schema: etree.XMLSchema) -> None:
    """A team server's manifest sits beside a local install: another id, a name saying team."""
    document = parse(render_manifest(TEAM))
    assert schema.validate(document), schema.error_log
    team_id = document.findtext("o:Id", namespaces=NS)
    assert team_id == addin_id_for(TEAM) == addin_id_for(TEAM + "/")
    assert team_id == str(uuid.uuid5(uuid.UUID(ADDIN_ID), TEAM))
    # Rendered again, the same id; another server, another id; never the local one's.
    assert parse(render_manifest(TEAM)).findtext("o:Id", namespaces=NS) == team_id
    assert addin_id_for("https://fbcheck.other.example") not in (team_id, ADDIN_ID)
    assert team_id != ADDIN_ID
    name = attr(document.find("o:DisplayName", NS), "DefaultValue")
    assert name == "FB Check (team: fbcheck.example.com)"
    assert display_name_for("https://srv.example/fb") == "FB Check (team: srv.example/fb)"
    # A loopback URL is a local install on another port, not a team server.
    assert display_name_for("https://127.0.0.1:9443") == "FB Check (127.0.0.1:9443)"


def test_team_server_manifest_points_every_url_and_app_domain_at_the_server() -> None:
    document = parse(render_manifest(TEAM + "/fbcheck/"))
    urls = [value for value in attrs(document, "//@DefaultValue") if "://" in value]
    assert len(urls) >= 8
    assert all(url.startswith(TEAM + "/fbcheck/") for url in urls), urls
    domains = [d.text for d in document.iterfind("o:AppDomains/o:AppDomain", NS)]
    assert domains == [TEAM]
    local = parse(render_manifest())
    assert [d.text for d in local.iterfind("o:AppDomains/o:AppDomain", NS)] == [DEFAULT_BASE_URL]


@pytest.mark.parametrize(
    "url", ["http://fbcheck.example.com", "http://localhost:8443", "ftp://fbcheck.example.com"]
)
def test_manifest_command_refuses_a_base_url_without_https(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Office loads add-in pages over https only, loopback included (SourceLocation docs)."""
    assert web_cli.run(["manifest", "--base-url", url]) == 2
    captured = capsys.readouterr()
    assert "must start with https://" in captured.err
    assert captured.out == ""


def test_manifest_command_renders_a_team_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "team.xml"
    assert web_cli.run(["manifest", "--base-url", TEAM, "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_manifest(TEAM)
    assert f"Wrote {out} for {TEAM}" in capsys.readouterr().out
