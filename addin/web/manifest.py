"""Render the Office add-in manifest for a base URL.

The template is package data (``addin/web/templates/manifest.template.xml``), so an
installed wheel renders it too; ``manifest/manifest.xml`` in the repository is the
rendered default, kept equal to it by a test.
"""

from __future__ import annotations

import importlib.resources
import ipaddress
import re
import uuid
from pathlib import Path
from string import Template
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from addin.formats import package_version
from addin.web.flask_config import DEFAULT_PORT, own_base_url

#: The add-in's identity in Office for the default backend URL. Never change
#: it: Office would treat the add-in as a new one and lose its registration.
ADDIN_ID = "0e220e33-abf6-4eed-9cd8-5b14c6406df0"
DEFAULT_BASE_URL = own_base_url(DEFAULT_PORT)
DISPLAY_NAME = "FB Check"

#: The template, shipped inside the package.
TEMPLATE_PATH = Path(
    str(importlib.resources.files("addin.web").joinpath("templates", "manifest.template.xml"))
)


_RELEASE = re.compile(r"[0-9]+(?:\.[0-9]+){0,3}")


def manifest_version(package: str) -> str:
    """Return the manifest ``<Version>`` (four numbers) for a package version such as ``0.1.0``.

    Office refreshes its cached copy of the add-in, the custom functions' metadata
    included, when this number grows, so it follows the package version.
    """
    match = _RELEASE.match(package)
    numbers = [str(int(part)) for part in match[0].split(".")] if match else []
    return ".".join([*numbers, "0", "0", "0", "0"][:4])


def normalize_base_url(base_url: str) -> str:
    """Return ``base_url`` without a trailing slash, or raise ValueError if unusable.

    Office loads every manifest URL over https ("The source location must be an HTTPS
    address", https://learn.microsoft.com/javascript/api/manifest/sourcelocation), a
    loopback backend included, so only ``https://host[:port][/path]`` without query,
    fragment or credentials is accepted.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme != "https":
        raise ValueError(
            f"the base URL must start with https:// (Office requires it): {base_url!r}"
        )
    if not parts.hostname:
        raise ValueError(f"the base URL has no host name: {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(
            f"the base URL must not carry a query, fragment or credentials: {base_url!r}"
        )
    try:
        parts.port  # noqa: B018 - accessing it validates the port
    except ValueError as exc:
        raise ValueError(f"the base URL has an invalid port: {base_url!r}") from exc
    return f"https://{parts.netloc}{parts.path}".rstrip("/")


def addin_id_for(base_url: str) -> str:
    """Return the stable GUID for a backend URL: ADDIN_ID for the default one.

    Another URL is another add-in for Office (both can be sideloaded side by
    side), so it gets its own GUID, derived deterministically from the URL.
    """
    url = normalize_base_url(base_url)
    if url == DEFAULT_BASE_URL:
        return ADDIN_ID
    return str(uuid.uuid5(uuid.UUID(ADDIN_ID), url))


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` or a loopback address (a backend on this computer)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_team_server(base_url: str) -> bool:
    """Return True when ``base_url`` is not on this computer: a team server's manifest.

    ``fbcheck serve`` (local mode) listens on loopback only, so any other host is a
    shared server (``fbcheck serve --team``).
    """
    host = urlsplit(normalize_base_url(base_url)).hostname or ""
    return not is_loopback_host(host)


def display_name_for(base_url: str) -> str:
    """Return the add-in name shown in Office, suffixed for a non-default URL.

    A team server's says so (``FB Check (team: fbcheck.example.com)``), so that in
    Excel it is told apart from a local install beside it.
    """
    url = normalize_base_url(base_url)
    if url == DEFAULT_BASE_URL:
        return DISPLAY_NAME
    where = url.removeprefix("https://")
    if is_team_server(url):
        return f"{DISPLAY_NAME} (team: {where})"
    return f"{DISPLAY_NAME} ({where})"


def app_domain_of(base_url: str) -> str:
    """Return the origin of ``base_url`` (``https://host[:port]``), the manifest's AppDomain."""
    parts = urlsplit(normalize_base_url(base_url))
    return f"https://{parts.netloc}"


def render_manifest(base_url: str = DEFAULT_BASE_URL, *, template: str | None = None) -> str:
    """Return the manifest XML with every URL under ``base_url``."""
    url = normalize_base_url(base_url)
    text = template if template is not None else TEMPLATE_PATH.read_text(encoding="utf-8")
    # quoteattr adds the quotes; the template already has them, so strip them.
    return Template(text).substitute(
        addin_id=addin_id_for(url),
        display_name=quoteattr(display_name_for(url))[1:-1],
        base_url=quoteattr(url)[1:-1],
        app_domain=quoteattr(app_domain_of(url))[1:-1],
        version=manifest_version(package_version()),
    )
