// Print the requests the task pane sends to check a selection, one JSON line each:
// {"method", "path", "body"} with the body exactly as the pane's backend client encodes it.
// The pane's own code decides (selection-upload.js sendSelection through backend-client.js
// createBackend): one request when the cells fit, else an upload session of chunks. The
// fetch underneath only records; the upload id it answers is UPLOAD_ID, for the caller
// to replace with the id its backend gives.
//
// Usage: node bench/pane_requests.mjs SELECTION.json [CHUNK_BYTES]
//   SELECTION.json: {"sheet", "region", "areas": [{address, target_column, values, target}]}
//   CHUNK_BYTES: pack chunks of at most this many bytes (the pane's CHUNK_BYTES by default)

import { readFileSync } from "node:fs";

import { createBackend } from "../addin/static/backend-client.js";
import { CHUNK_BYTES, sendSelection } from "../addin/static/selection-upload.js";

const UPLOAD_ID = "pane-upload-id";

const [selectionPath, chunkArgument] = process.argv.slice(2);
const selection = JSON.parse(readFileSync(selectionPath, "utf8"));
const chunkBytes = chunkArgument ? Number(chunkArgument) : CHUNK_BYTES;

const lines = [];
/** Record one request and answer what the backend would, as far as sendSelection reads it. */
async function recordingFetch(url, init) {
  lines.push(JSON.stringify({ method: init.method, path: url, body: init.body ?? null }));
  const answer = url === "/xlwings/uploads" ? { upload_id: UPLOAD_ID } : {};
  return new Response(JSON.stringify(answer), { status: 200 });
}

await sendSelection(
  createBackend({ fetch: recordingFetch }),
  "/xlwings/check-selection",
  selection,
  { overwrite: false, start: false },
  { chunkBytes },
);
process.stdout.write(lines.join("\n") + "\n");
