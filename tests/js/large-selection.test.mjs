// 1,000,000 rows in column Z (issue 10, item 3): the sheet is read in row blocks, only
// column Z and its answer column AA are sent, every request body is at most 5 MB, the
// backend gets every row (it checks the reassembled upload), and the write-back is
// chunked too: its upload and every Excel write.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createBackend } from "../../addin/static/backend-client.js";
import { READ_BLOCK_ROWS } from "../../addin/static/excel-payload.js";
import { CheckSession } from "../../addin/static/selection-check.js";
import { MAX_REQUEST_BYTES, splitIntoChunks } from "../../addin/static/selection-upload.js";
import { startBackend } from "./fake-backend.mjs";
import { FakeWorkbook, jsonBytes } from "./fake-excel.mjs";

const ROWS = 1000000;
const Z = 25;
const AA = 26;

/** The number in row ``row`` (0-based) of column Z; a few stored as numbers, as in Excel. */
function numberAt(row) {
  return row % 7 === 0 ? 41790000000 + row : `+${41790000000 + row}`;
}

/** Setvalues actions for column AA as the backend answers them: 20,000 rows each. */
function columnActions(answer) {
  const actions = [];
  for (let start = 0; start < ROWS; start += 20000) {
    const count = Math.min(20000, ROWS - start);
    actions.push({
      func: "setValues",
      args: [],
      values: Array.from({ length: count }, (_, offset) => [answer(start + offset)]),
      sheet_position: 0,
      start_row: start,
      start_column: AA,
      row_count: count,
      column_count: 1,
    });
  }
  return actions;
}

let backend;
// What the backend reassembled from each upload, by upload id.
const uploads = new Map();
const assembled = [];

/** Reassemble an upload as the real backend does: every row of every area exactly once. */
function assemble(uploadId) {
  const upload = uploads.get(uploadId);
  assert.ok(upload, `unknown upload ${uploadId}`);
  assert.equal(upload.chunks.size, upload.header.chunks, "a chunk never arrived");
  const area = upload.header.areas[0];
  const values = [];
  const target = [];
  const ordered = [...upload.chunks.values()].sort((a, b) => a.offset - b.offset);
  for (const chunk of ordered) {
    assert.equal(chunk.offset, values.length, "rows missing or sent twice");
    for (let index = 0; index < chunk.values.length; index += 1) {
      values.push(chunk.values[index]);
      target.push(chunk.target[index]);
    }
  }
  uploads.delete(uploadId);
  const result = { path: null, address: area.address, target_column: area.target_column, values, target };
  assembled.push(result);
  return result;
}

before(async () => {
  let nextUpload = 0;
  backend = await startBackend({
    "POST /xlwings/uploads": (body) => {
      nextUpload += 1;
      const uploadId = `u${nextUpload}`;
      uploads.set(uploadId, { header: body, chunks: new Map() });
      return { demo: true, upload_id: uploadId, chunks: body.chunks };
    },
    "PUT /xlwings/uploads/*": (body, request) => {
      const [, , , uploadId, , index] = request.url.split("/");
      const upload = uploads.get(uploadId);
      upload.chunks.set(Number(index), body);
      return { demo: true, upload_id: uploadId, index: Number(index), received: upload.chunks.size, chunks: upload.header.chunks };
    },
    "POST /xlwings/check-selection": (body) => {
      assert.ok(body.upload_id, "a 1,000,000-row selection must come as an upload");
      const selection = assemble(body.upload_id);
      selection.path = "check";
      return {
        demo: true,
        job_id: null,
        plan_id: "plan-big",
        needs_confirmation: false,
        needs_choice: false,
        plan: { rows: ROWS, to_upload: ROWS },
        actions: columnActions(() => "pending"),
        message: "1,000,000 numbers to check",
      };
    },
    "POST /api/plans/plan-big/confirm": () => ({ demo: true, job_id: "job-big" }),
    "GET /api/jobs/job-big": () => ({ demo: true, job_id: "job-big", state: "done", settled: true, distinct: ROWS, answered: ROWS }),
    "POST /xlwings/write-results/job-big": (body) => {
      const selection = assemble(body.upload_id);
      selection.path = "write";
      return {
        demo: true,
        job_id: "job-big",
        actions: columnActions((row) => (row % 3 === 0 ? "yes" : "no")),
        written: ROWS,
        skipped: 0,
        message: "1,000,000 answers written",
      };
    },
  });
});

after(() => backend.close());

test("the chunker packs rows under the bound and never splits a row", () => {
  const selection = {
    sheet: "S",
    region: null,
    areas: [{ address: "A1:A5", target_column: "B", values: ["ab", "ü", "😀", "", 12], target: ["", "", "x", "", ""] }],
  };
  // Bytes per row: cell JSON plus a comma, for the value and its answer cell ("ü" is 2 bytes,
  // the emoji 4): 8, 8, 11, 6, 6.
  const chunks = splitIntoChunks(selection, { maxBytes: 16 });
  assert.deepEqual(
    chunks.map((chunk) => [chunk.offset, chunk.values, chunk.target]),
    [
      [0, ["ab", "ü"], ["", ""]],
      [2, ["😀"], ["x"]],
      [3, ["", 12], ["", ""]],
    ],
  );
});

test("1,000,000 rows in column Z: requests of at most 5 MB, every row received, writes chunked", { timeout: 600000 }, async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: { columns: { [Z]: Array.from({ length: ROWS }, (_, row) => numberAt(row)) } } },
    selection: [{ rowIndex: 0, columnIndex: Z, rowCount: ROWS, columnCount: 1 }],
  });
  const session = new CheckSession({ excelRun: workbook.run, backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "done", check.error);

  // Every request the pane sent fits Excel on the web's 5 MB.
  const sizes = backend.requests.map((request) => request.bytes);
  assert.ok(Math.max(...sizes) <= MAX_REQUEST_BYTES, `largest request ${Math.max(...sizes)} bytes`);
  const chunks = backend.requests.filter((request) => request.method === "PUT");
  // 1,000,000 rows of ~14 bytes and their answer cells: several chunks per upload.
  assert.ok(chunks.length >= 2 * 4, `${chunks.length} chunks`);

  // Check and write-back each reassembled all rows: column Z's values, in order, and AA's cells.
  assert.deepEqual(
    assembled.map((selection) => [selection.path, selection.address, selection.target_column, selection.values.length]),
    [
      ["check", "Z1:Z1000000", "AA", ROWS],
      ["write", "Z1:Z1000000", "AA", ROWS],
    ],
  );
  for (const selection of assembled) {
    assert.ok(
      selection.values.every((value, row) => value === numberAt(row)),
      "a row arrived changed or out of order",
    );
  }
  assert.ok(assembled[0].target.every((cell) => cell === ""));
  assert.ok(assembled[1].target.every((cell) => cell === "pending"));

  // Office.js reads went in row blocks (the fake refuses more), and no column left of Z was read.
  assert.ok(workbook.ranges.length >= (2 * 2 * ROWS) / READ_BLOCK_ROWS);
  assert.ok(workbook.ranges.every(({ area }) => area.rowCount <= READ_BLOCK_ROWS && area.columnIndex >= Z));

  // Writes back to Excel are chunked too: each under 5 MB, and the answers landed.
  assert.ok(workbook.writes.length >= (2 * ROWS) / 20000);
  assert.ok(workbook.writes.every((write) => write.bytes <= MAX_REQUEST_BYTES && write.rows <= 20000));
  assert.equal(workbook.cell("Sheet1", 0, AA), "yes");
  assert.equal(workbook.cell("Sheet1", ROWS - 1, AA), (ROWS - 1) % 3 === 0 ? "yes" : "no");
  assert.equal(jsonBytes(workbook.column("Sheet1", AA, 0, 3)), jsonBytes(["yes", "no", "no"]));
});
