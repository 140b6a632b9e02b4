"""The one error path: every known condition answers its status and code in the one JSON shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Blueprint, Flask

from addin.config import Settings, SettingsError
from addin.engine.errors import UnknownJobError
from addin.engine.store import StoreError
from addin.web import close_app, create_app
from addin.web.coalescer import QueueClosedError
from addin.web.engine_host import EngineClosedError
from addin.web.flask_config import PORT_KEY, SETTINGS_KEY
from addin.web.json_api import DOMAIN_ERRORS, ApiError
from addin.web.uploads import (
    ChunkConflictError,
    TooManyUploadsError,
    UnknownUploadError,
    UploadIncompleteError,
    UploadTooLargeError,
)
from addin.web.xlwings_glue import SelectionError, SelectionTooLargeError, XlwingsLicenseError
from tests.web.conftest import PORT, AddinClient, json_body, make_settings

#: One instance of every error the layer maps, with the answer it must get.
CASES: list[tuple[Exception, int, str]] = [
    (SelectionError("bad_address", "'A?' is not a range address"), 400, "bad_address"),
    (SelectionError("bad_payload", "'sheets' must be a list"), 400, "bad_payload"),
    (SelectionTooLargeError("the selection has 2,000,000 rows"), 413, "selection_too_large"),
    (XlwingsLicenseError("xlwings found no licence key"), 503, "xlwings_license"),
    (UnknownJobError("j-1"), 404, "job_not_found"),
    (SettingsError("region must be text such as 'CH' or 'US'"), 400, "bad_setting"),
    (EngineClosedError("the backend is shutting down"), 503, "shutting_down"),
    (QueueClosedError("the look-up queue is closed"), 503, "shutting_down"),
    (
        StoreError("The store /x/fbcheck.sqlite3 is locked by another program"),
        503,
        "store_unavailable",
    ),
    (ApiError(409, "settings_changed", "the API key changed"), 409, "settings_changed"),
    (UnknownUploadError("upload 'u' is unknown"), 404, "upload_not_found"),
    (UploadIncompleteError("1 of 3 chunks have not arrived"), 409, "upload_incomplete"),
    (ChunkConflictError("chunk 0 arrived already"), 409, "chunk_conflict"),
    (UploadTooLargeError("the upload exceeds 128 MiB"), 413, "upload_too_large"),
    (TooManyUploadsError("4 uploads are open already"), 429, "too_many_uploads"),
]


@pytest.fixture
def raising_app(settings: Settings) -> Flask:
    """The backend plus a route that raises ``CASES[i]`` at ``/api/raise/<i>``."""
    extra = Blueprint("raise", __name__, url_prefix="/api")

    @extra.get("/raise/<int:index>")
    def raise_case(index: int) -> str:
        """Raise one of the cases."""
        raise CASES[index][0]

    app = create_app({"TESTING": True, SETTINGS_KEY: settings, PORT_KEY: PORT})
    app.register_blueprint(extra)
    return app


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=lambda c: str(c))
def test_each_error_has_its_status_and_code(
    raising_app: Flask, index: int, case: tuple[Exception, int, str]
) -> None:
    exc, status, code = case
    response = AddinClient(raising_app).get(f"/api/raise/{index}")
    assert response.status_code == status
    assert json_body(response) == {"error": code, "message": str(exc), "demo": True}
    assert response.headers["Cache-Control"] == "no-store"


def test_every_mapped_error_has_a_case() -> None:
    mapped = {kind for kind, _, _ in DOMAIN_ERRORS}
    assert mapped <= {type(exc) for exc, _, _ in CASES}


def test_unknown_job_message_names_it() -> None:
    assert str(UnknownJobError("j-1")) == "there is no job 'j-1'"


def test_flask_errors_use_the_same_shape(client: AddinClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    body = json_body(response)
    assert (body["error"], body["demo"]) == ("not_found", True)
    assert body["message"]


def test_security_refusals_use_the_same_shape(client: AddinClient) -> None:
    body = json_body(client.get("/api/health", client_header=False))
    assert set(body) == {"error", "message", "demo"}


def test_live_mode_errors_say_demo_false(tmp_path: Path) -> None:
    app = create_app({SETTINGS_KEY: make_settings(tmp_path, api_key="k" * 16), PORT_KEY: PORT})
    try:
        body = json_body(AddinClient(app).get("/api/jobs/nope"))
    finally:
        close_app(app)
    assert body == {"error": "job_not_found", "message": "there is no job 'nope'", "demo": False}


def test_closed_engine_is_a_503_not_a_500(app: Flask, client: AddinClient) -> None:
    close_app(app)
    for path in ("/api/jobs", "/api/account", "/api/jobs/x"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert json_body(response)["error"] == "shutting_down"
    # Routes that need no engine still answer.
    assert client.get("/api/health").status_code == 200


def test_request_body_errors(client: AddinClient) -> None:
    response = client.request(
        "PUT", "/api/settings", data=b"{", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, json_body(response)["error"]) == (400, "bad_json")
    response = client.request("PUT", "/api/settings", json=[1])
    assert (response.status_code, json_body(response)["error"]) == (400, "bad_request")
