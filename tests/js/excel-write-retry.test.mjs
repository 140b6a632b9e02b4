// Writing into the sheet while the user edits a cell, and writes Excel refuses:
// every Excel.run waits for the edit to end (delayForCellEdit), a refused write is
// tried again, a protected sheet or merged answer cells are refused before anything
// is sent, and a job whose cells cannot be written is still followed and offers
// "Write again" (issue 10, items 1 and 4).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createBackend } from "../../addin/static/backend-client.js";
import {
  CheckSession,
  RUN_OPTIONS,
  WRITE_RETRY_DELAYS_MS,
  excelRunner,
  isExcelError,
} from "../../addin/static/selection-check.js";
import { startBackend } from "./fake-backend.mjs";
import { FakeWorkbook } from "./fake-excel.mjs";

/** A setValues action writing ``values`` into column B from row 0. */
function columnB(values) {
  return {
    func: "setValues",
    args: [],
    values: values.map((value) => [value]),
    sheet_position: 0,
    start_row: 0,
    start_column: 1,
    row_count: values.length,
    column_count: 1,
  };
}

let backend;
// The workbook whose writes start failing once the job runs (set by a test).
let failOnceStarted = null;

before(async () => {
  backend = await startBackend({
    // The backend plans and holds the job until the pane has written its placeholders.
    "POST /xlwings/check-selection": () => ({
      demo: true,
      job_id: null,
      plan_id: "plan-e",
      needs_confirmation: false,
      plan: { to_upload: 2 },
      actions: [columnB(["pending", "pending"])],
      message: "2 numbers to check in 1 task",
    }),
    "POST /api/plans/plan-e/confirm": () => {
      if (failOnceStarted) {
        failOnceStarted.failWrites = 100;
      }
      return { demo: true, job_id: "job-e", plan: { to_upload: 2 } };
    },
    "POST /api/plans/plan-e/discard": () => ({ demo: true, plan_id: "plan-e", discarded: true }),
    "GET /api/jobs/job-e": () => ({ demo: true, job_id: "job-e", state: "done", settled: true, distinct: 2, answered: 2, counts: { yes: 1, no: 1 } }),
    "POST /xlwings/write-results/job-e": () => ({
      demo: true,
      job_id: "job-e",
      actions: [columnB(["yes", "no"])],
      written: 2,
      skipped: 0,
      message: "2 answers written",
    }),
  });
});

after(() => backend.close());

function workbookWithNumbers() {
  return new FakeWorkbook({
    sheets: { Sheet1: [["+41798284651"], ["+41798284652"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 2, columnCount: 1 }],
  });
}

test("every Excel.run of the pane asks Excel to wait while a cell is being edited", () => {
  assert.deepEqual(RUN_OPTIONS, { delayForCellEdit: true });
  const calls = [];
  const run = excelRunner({ run: (options, callback) => calls.push({ options, callback }) });
  const callback = () => {};
  run(callback);
  assert.deepEqual(calls, [{ options: { delayForCellEdit: true }, callback }]);
});

test("the fake edit mode refuses a batch without the option, as Excel does", async () => {
  const workbook = workbookWithNumbers();
  workbook.startEditing();
  await assert.rejects(workbook.excel.run(async () => {}), { code: "InvalidOperation" });
});

test("a check started while the user edits a cell waits, then writes everything", { timeout: 10000 }, async () => {
  const workbook = workbookWithNumbers();
  workbook.startEditing();
  const session = new CheckSession({
    excelRun: excelRunner(workbook.excel),
    backend: createBackend({ baseUrl: backend.url }),
    sleep: async () => {},
  });
  const check = session.startCheck();
  await new Promise((resolve) => setTimeout(resolve, 30));
  // Nothing read or sent while the cell is in edit mode.
  assert.equal(check.phase, "reading");
  assert.equal(backend.to("POST /xlwings/check-selection").length, 0);
  workbook.stopEditing();
  await check.finished;
  assert.equal(check.phase, "done", check.error);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["yes", "no"]);
});

test("a write Excel refuses is tried again after a pause, and the answers land", async () => {
  const workbook = workbookWithNumbers();
  const delays = [];
  const session = new CheckSession({
    excelRun: excelRunner(workbook.excel),
    backend: createBackend({ baseUrl: backend.url }),
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  // The first two writes fail (say, a dialog was open): the third one lands.
  workbook.failWrites = 2;
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "done", check.error);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["yes", "no"]);
  assert.deepEqual(delays.slice(0, 2), WRITE_RETRY_DELAYS_MS.slice(0, 2));
  assert.equal(workbook.failWrites, 0);
});

test("placeholders Excel refuses: the plan is discarded, nothing is started or billed", async () => {
  const workbook = workbookWithNumbers();
  const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const confirms = backend.to("POST /api/plans/plan-e/confirm").length;
  const discards = backend.to("POST /api/plans/plan-e/discard").length;
  workbook.failWrites = 100;
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "error");
  assert.match(check.message, /^The answer column could not be written, so the check was not started and nothing was billed: Excel refused/);
  assert.equal(backend.to("POST /api/plans/plan-e/confirm").length, confirms);
  assert.equal(backend.to("POST /api/plans/plan-e/discard").length, discards + 1);
  assert.equal(check.jobId, null);
});

test("a write that fails after the job started: the job is still followed, then 'Write again' writes it", async () => {
  const workbook = workbookWithNumbers();
  const delays = [];
  const session = new CheckSession({
    excelRun: excelRunner(workbook.excel),
    backend: createBackend({ baseUrl: backend.url }),
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  // The placeholders land; once the job is started every write fails (say, the user
  // protected the sheet meanwhile).
  failOnceStarted = workbook;
  const check = session.startCheck();
  await check.finished;
  failOnceStarted = null;
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["pending", "pending"]);
  assert.ok(backend.to("GET /api/jobs/job-e").length >= 1);
  assert.ok(backend.to("POST /xlwings/write-results/job-e").length >= 1);
  assert.equal(check.phase, "unwritten");
  assert.match(check.message, /could not be written: Excel refused: The sheet could not be written\. \(GeneralException\)/);
  assert.match(check.message, /press Write again/);
  // The write gave up after the last pause only.
  assert.deepEqual(delays.filter((ms) => WRITE_RETRY_DELAYS_MS.includes(ms)), WRITE_RETRY_DELAYS_MS);

  workbook.failWrites = 0;
  await check.rewrite();
  assert.equal(check.phase, "done", check.error);
  assert.equal(check.writeError, null);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["yes", "no"]);
});

test("a backend that started the job at once: failed placeholders still follow the billed job", async () => {
  const started = await startBackend({
    "POST /xlwings/check-selection": () => ({ demo: true, job_id: "job-s", actions: [columnB(["pending", "pending"])] }),
    "GET /api/jobs/job-s": () => ({ demo: true, job_id: "job-s", state: "done", settled: true, distinct: 2, answered: 2 }),
    "POST /xlwings/write-results/job-s": () => ({ demo: true, job_id: "job-s", actions: [columnB(["yes", "no"])], written: 2 }),
  });
  try {
    const workbook = workbookWithNumbers();
    workbook.failWrites = 4;
    const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: started.url }), sleep: async () => {} });
    const check = session.startCheck();
    await check.finished;
    assert.equal(check.phase, "done", check.error);
    assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["yes", "no"]);
  } finally {
    await started.close();
  }
});

test("a protected sheet is refused before anything is sent (nothing billed)", async () => {
  const workbook = workbookWithNumbers();
  workbook.protectedSheets.add("Sheet1");
  const before = backend.requests.length;
  const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "error");
  assert.match(check.message, /^The sheet Sheet1 is protected and the answer column B1:B2 is locked/);
  assert.match(check.message, /Nothing was billed\.$/);
  assert.equal(backend.requests.length, before);
});

test("a protected sheet whose answer cells are unlocked is checked (only locked cells refuse writes)", async () => {
  const workbook = workbookWithNumbers();
  workbook.protectedSheets.add("Sheet1");
  workbook.unlocked.push({ sheet: "Sheet1", rowIndex: 0, columnIndex: 1, rowCount: 2, columnCount: 1 });
  const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "done", check.error);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["yes", "no"]);
});

test("a protected sheet with only some answer cells unlocked is refused", async () => {
  const workbook = workbookWithNumbers();
  workbook.protectedSheets.add("Sheet1");
  workbook.unlocked.push({ sheet: "Sheet1", rowIndex: 0, columnIndex: 1, rowCount: 1, columnCount: 1 });
  const before = backend.requests.length;
  const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const check = session.startCheck();
  await check.finished;
  assert.match(check.message, /is locked/);
  assert.equal(backend.requests.length, before);
});

test("merged cells in the answer column are refused before anything is sent", async () => {
  const workbook = workbookWithNumbers();
  workbook.merged.push({ sheet: "Sheet1", rowIndex: 0, columnIndex: 1, rowCount: 2, columnCount: 2 });
  const before = backend.requests.length;
  const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "error");
  assert.match(check.message, /^The answer column B1:B2 holds merged cells/);
  assert.equal(backend.requests.length, before);
});

test("merged cells elsewhere (in column D) do not stop the check", async () => {
  const workbook = workbookWithNumbers();
  workbook.merged.push({ sheet: "Sheet1", rowIndex: 0, columnIndex: 3, rowCount: 2, columnCount: 2 });
  const session = new CheckSession({ excelRun: excelRunner(workbook.excel), backend: createBackend({ baseUrl: backend.url }), sleep: async () => {} });
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "done", check.error);
});

test("isExcelError: Office's PascalCase codes only", () => {
  assert.equal(isExcelError({ code: "InvalidOperation" }), true);
  assert.equal(isExcelError({ code: "selection_too_wide" }), false);
  assert.equal(isExcelError(new Error("x")), false);
  assert.equal(isExcelError(null), false);
});
