"""The pane's own sender (selection-upload.js, run by Node) against the real backend over TLS.

A selection in column Z too large for one request goes in chunks; the backend
reassembles every row and plans it (above the confirmation threshold, so nothing is
billed). Every request the JavaScript sent is at most 5 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from addin.web import close_app, create_app
from addin.web.certs import ServerCertificate
from addin.web.flask_config import SETTINGS_KEY
from addin.web.serving import bind_backend
from tests.web.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
ROWS = 250_000
FIRST = 41790000000

SCRIPT = """
import { createBackend } from './addin/static/backend-client.js';
import { MAX_REQUEST_BYTES, sendSelection } from './addin/static/selection-upload.js';

const [baseUrl, rows, first] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
const sizes = [];
const recording = (url, init) => {
  sizes.push([init.method, new TextEncoder().encode(init.body || '').length]);
  return fetch(url, init);
};
const backend = createBackend({ fetch: recording, baseUrl });
// Every fifth number stored as a number, as Excel sends it.
const values = Array.from({ length: rows }, (_, r) => (r % 5 ? `+${first + r}` : first + r));
values[0] = 'phone';
const selection = {
  sheet: 'Sheet1', region: 'CH',
  areas: [{ address: `Z1:Z${rows}`, target_column: 'AA', values, target: values.map(() => '') }],
};
const answer = await sendSelection(backend, '/xlwings/check-selection', selection, { start: false },
  { chunkBytes: 1000000 });
console.log(JSON.stringify({ sizes, limit: MAX_REQUEST_BYTES, plan: answer.plan,
  needs_confirmation: answer.needs_confirmation, job_id: answer.job_id,
  rows_written: answer.actions.reduce((total, action) => total + action.row_count, 0),
  columns: [...new Set(answer.actions.map((action) => action.start_column))] }));
"""


@pytest.fixture(scope="module")
def backend_url(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[str]:
    """The real backend over TLS on loopback (demo mode), stopped afterwards."""
    settings = make_settings(tmp_path_factory.mktemp("upload-js"), region="CH")
    app = create_app({SETTINGS_KEY: settings})
    try:
        with bind_backend(app, certificate=certificate) as server:
            yield f"https://localhost:{server.port}"
    finally:
        close_app(app)


def test_the_pane_sender_uploads_column_z_in_chunks_the_backend_reassembles(
    backend_url: str, certificate: ServerCertificate
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the pane's sender did not run against the backend")
    completed = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT, backend_url, str(ROWS), str(FIRST)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(certificate.ca_file)},
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    result = json.loads(completed.stdout)
    methods = [method for method, _ in result["sizes"]]
    # One session, one PUT per chunk, then the check naming the upload.
    assert methods[0] == "POST"
    assert methods[-1] == "POST"
    assert set(methods[1:-1]) == {"PUT"}
    assert len(methods) - 2 >= 4
    assert max(size for _, size in result["sizes"]) <= result["limit"]
    # Every row arrived: the header and 249,999 distinct numbers, all planned.
    plan = result["plan"]
    assert (plan["rows"], plan["distinct"], plan["to_upload"]) == (ROWS - 1, ROWS - 1, ROWS - 1)
    assert result["needs_confirmation"] is True
    assert result["job_id"] is None
    # Placeholders for every row go into column AA (0-based 26), nowhere else.
    assert result["rows_written"] == ROWS
    assert result["columns"] == [26]
