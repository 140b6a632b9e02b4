// Sending a selection: one request when it fits, else an upload session whose chunks are
// idempotent by index (a lost chunk is sent again, a dropped connection is retried).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createBackend } from "../../addin/static/backend-client.js";
import { CHUNK_TRIES, sendSelection, utf8Length } from "../../addin/static/selection-upload.js";
import { startBackend } from "./fake-backend.mjs";

/** A selection of ``rows`` numbers in A with an empty answer column. */
function selection(rows) {
  return {
    sheet: "Sheet1",
    region: null,
    areas: [
      {
        address: `A1:A${rows}`,
        target_column: "B",
        values: Array.from({ length: rows }, (_, row) => `+4179${String(row).padStart(7, "0")}`),
        target: Array.from({ length: rows }, () => ""),
      },
    ],
  };
}

let backend;
let chunks = new Map();
let dropNext = 0;
let loseOnce = false;

before(async () => {
  backend = await startBackend({
    "POST /xlwings/uploads": (body) => {
      chunks = new Map();
      return { demo: true, upload_id: "u-1", chunks: body.chunks };
    },
    "PUT /xlwings/uploads/u-1/chunks/*": (body, request) => {
      if (dropNext > 0) {
        dropNext -= 1;
        request.socket.destroy();
        return new Promise(() => {});
      }
      const index = Number(request.url.split("/").pop());
      if (loseOnce && index === 1) {
        loseOnce = false;
        return { demo: true, received: chunks.size };
      }
      chunks.set(index, body);
      return { demo: true, received: chunks.size };
    },
    "POST /xlwings/check-selection": (body) => {
      if (body.upload_id === undefined) {
        return { demo: true, inline: body.areas[0].values.length };
      }
      const expected = backend.to("POST /xlwings/uploads").at(-1).body.chunks;
      if (chunks.size < expected) {
        return { status: 409, body: { error: "upload_incomplete", message: "1 of the upload's chunks have not arrived" } };
      }
      const rows = [...chunks.values()].reduce((total, chunk) => total + chunk.values.length, 0);
      return { demo: true, rows, overwrite: body.overwrite };
    },
  });
});

after(() => backend.close());

test("utf8Length counts bytes as UTF-8 encodes them", () => {
  for (const text of ["", "abc", "ü", "€", "😀", "a😀ü€"]) {
    assert.equal(utf8Length(text), Buffer.byteLength(text));
  }
});

test("a small selection goes in one request, with the fields", async () => {
  const client = createBackend({ baseUrl: backend.url });
  const answer = await sendSelection(client, "/xlwings/check-selection", selection(10), { overwrite: true, start: false });
  assert.equal(answer.inline, 10);
  const [sent] = backend.to("POST /xlwings/check-selection").slice(-1);
  assert.equal(sent.body.overwrite, true);
  assert.equal(sent.body.start, false);
});

test("a large selection goes in chunks; a chunk the backend lost is sent again", async () => {
  const client = createBackend({ baseUrl: backend.url });
  loseOnce = true;
  const before = backend.to("POST /xlwings/check-selection").length;
  const answer = await sendSelection(client, "/xlwings/check-selection", selection(3000), { overwrite: false }, { chunkBytes: 10000 });
  assert.deepEqual(answer, { demo: true, rows: 3000, overwrite: false });
  // The first attempt was refused as incomplete, the second after sending every chunk again.
  assert.equal(backend.to("POST /xlwings/check-selection").length, before + 2);
  assert.ok([...chunks.keys()].length >= 5);
  assert.ok(backend.requests.filter((r) => r.method === "PUT").every((r) => r.bytes <= 10000 + 200));
});

test("a dropped connection while sending a chunk is tried again", async () => {
  const client = createBackend({ baseUrl: backend.url });
  dropNext = CHUNK_TRIES - 1;
  const answer = await sendSelection(client, "/xlwings/check-selection", selection(3000), {}, { chunkBytes: 10000, sleep: async () => {} });
  assert.equal(answer.rows, 3000);
});

test("a chunk that never gets through ends the send with the backend's message", async () => {
  const client = createBackend({ baseUrl: backend.url });
  dropNext = CHUNK_TRIES;
  await assert.rejects(
    sendSelection(client, "/xlwings/check-selection", selection(3000), {}, { chunkBytes: 10000, sleep: async () => {} }),
    { code: "backend_unreachable" },
  );
  dropNext = 0;
});
