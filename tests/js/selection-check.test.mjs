// The ribbon handler and the selection check against a real local HTTP backend.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createBackend } from "../../addin/static/backend-client.js";
import { CheckSession, pollDelay } from "../../addin/static/selection-check.js";
import { startBackend } from "./fake-backend.mjs";
import { FakeWorkbook } from "./fake-excel.mjs";

/** A setValues action writing ``values`` into column B from row ``startRow``. */
function columnB(startRow, values) {
  return {
    func: "setValues",
    args: [],
    values: values.map((value) => [value]),
    sheet_position: 0,
    start_row: startRow,
    start_column: 1,
    row_count: values.length,
    column_count: 1,
  };
}

const PLAN = { rows: 3, invalid: 1, distinct: 2, cache_hits: 0, in_flight: 0, to_upload: 2, tasks: 1, billed_minimum: 2, billed_typical: 9 };

/** The sheet of the tests: a header and three cells in column A, selected. */
function sheetWithNumbers() {
  return new FakeWorkbook({
    sheets: { Sheet1: [["phone"], ["+41798284651"], [41798284652], ["not a number"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 4, columnCount: 1 }],
  });
}

/** A ribbon event that counts completed() calls. */
function ribbonEvent() {
  return {
    calls: 0,
    completed() {
      this.calls += 1;
    },
  };
}

let backend;
let jobPolls = 0;
let checkAnswer = null;
let job2Cancelled = false;

before(async () => {
  backend = await startBackend({
    "POST /xlwings/check-selection": () => checkAnswer,
    "GET /api/jobs/job-1": () => {
      jobPolls += 1;
      const done = jobPolls >= 3;
      return {
        demo: true,
        job_id: "job-1",
        state: done ? "done" : "running",
        distinct: 2,
        answered: done ? 2 : 1,
        counts: { yes: 1, no: done ? 1 : 0, ban: 0, error: 0, pending: done ? 0 : 1 },
        tasks: 1,
        tasks_open: done ? 0 : 1,
        billed: 3,
        eta_seconds: done ? 0 : 12,
      };
    },
    "POST /xlwings/write-results/job-1": () => ({
      demo: true,
      job_id: "job-1",
      actions: [columnB(1, ["yes", "no"])],
      written: 2,
      skipped: 0,
      message: "2 answers written",
    }),
    "POST /api/plans/plan-9/confirm": () => ({ demo: true, job_id: "job-1" }),
    "POST /api/plans/plan-9/discard": () => ({ demo: true, discarded: true }),
    "POST /api/jobs/job-1/cancel": () => ({ demo: true, job_id: "job-1", tasks_stopped: 1, billed: 3 }),
    "GET /api/jobs/job-2": () => ({
      demo: true,
      job_id: "job-2",
      state: job2Cancelled ? "cancelled" : "running",
      distinct: 2,
      answered: 1,
      counts: { yes: 1, no: 0, ban: 0, error: 0, pending: 1 },
      tasks: 1,
      tasks_open: job2Cancelled ? 0 : 1,
      billed: 2,
      eta_seconds: 30,
    }),
    "POST /api/jobs/job-2/cancel": () => {
      job2Cancelled = true;
      return { demo: true, job_id: "job-2", tasks_stopped: 1, billed: 2 };
    },
    "POST /xlwings/write-results/job-2": () => ({
      demo: true,
      job_id: "job-2",
      actions: [columnB(1, ["yes", ""])],
      written: 1,
      skipped: 0,
      message: "1 answers written",
    }),
  });
});

after(() => backend.close());

/** A session on ``workbook`` talking real HTTP to the test backend, polling without delay. */
function sessionOn(workbook) {
  return new CheckSession({
    excelRun: workbook.run,
    backend: createBackend({ baseUrl: backend.url }),
    sleep: async () => {},
  });
}

test("ribbon: completes the event at once, writes the plan, follows the job, writes the answers", async () => {
  jobPolls = 0;
  checkAnswer = {
    demo: true,
    job_id: "job-1",
    plan_id: null,
    needs_confirmation: false,
    plan: PLAN,
    actions: [columnB(0, ["facebook (DEMO)", "pending", "pending", "invalid"])],
    message: "2 numbers to check in 1 task; 1 invalid",
  };
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const phases = [];
  session.subscribe((check) => phases.push(check.phase));
  const event = ribbonEvent();
  const check = session.handleRibbonEvent(event);
  // Completed before the backend was even asked.
  assert.equal(event.calls, 1);
  assert.equal(backend.requests.length, 0);
  await check.finished;
  assert.equal(event.calls, 1);
  assert.equal(check.phase, "done", check.error);

  const [sent] = backend.to("POST /xlwings/check-selection");
  assert.equal(sent.headers["x-fbcheck-client"], "fbcheck-taskpane/1");
  assert.equal(sent.headers["content-type"], "application/json");
  assert.deepEqual(sent.body, {
    sheet: "Sheet1",
    region: null,
    areas: [
      {
        address: "A1:A4",
        target_column: "B",
        values: ["phone", "+41798284651", 41798284652, "not a number"],
        target: ["", "", "", ""],
      },
    ],
    overwrite: false,
    // The pane starts the job itself once the placeholders are written.
    start: false,
  });

  // The write-back read the same area afresh.
  const [written] = backend.to("POST /xlwings/write-results/job-1");
  assert.deepEqual(written.body.areas.map((area) => area.address), ["A1:A4"]);
  // It sent the answer column as it is now: the placeholders of this check.
  assert.deepEqual(written.body.areas[0].target, ["facebook (DEMO)", "pending", "pending", "invalid"]);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 4), ["facebook (DEMO)", "yes", "no", "invalid"]);
  assert.equal(check.written, 2);
  assert.equal(check.progress.state, "done");
  assert.equal(jobPolls, 3);
  assert.ok(phases.includes("running") && phases.includes("writing"));
  assert.equal(workbook.conditionalFormats.length, 6);
});

test("ribbon: a backend refusal is shown and the event completes once", async () => {
  backend.requests.length = 0;
  checkAnswer = { status: 400, body: { error: "selection_too_wide", message: "Select one column per area." } };
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const event = ribbonEvent();
  const check = session.handleRibbonEvent(event);
  await check.finished;
  assert.equal(event.calls, 1);
  assert.equal(check.phase, "error");
  assert.equal(check.message, "Select one column per area.");
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 4), ["", "", "", ""]);
});

test("ribbon: an Excel failure is shown and the event completes once", async () => {
  const workbook = sheetWithNumbers();
  workbook.failOn = "getSelectedRanges";
  const session = sessionOn(workbook);
  const event = ribbonEvent();
  const check = session.handleRibbonEvent(event);
  await check.finished;
  assert.equal(event.calls, 1);
  assert.equal(check.phase, "error");
  assert.match(check.message, /Excel refused: The selection cannot be read\. \(GeneralException\)/);
});

test("ribbon: an unreachable backend is named in the message", async () => {
  const workbook = sheetWithNumbers();
  const session = new CheckSession({
    excelRun: workbook.run,
    backend: createBackend({ baseUrl: "http://127.0.0.1:9" }),
    sleep: async () => {},
  });
  const event = ribbonEvent();
  const check = session.handleRibbonEvent(event);
  await check.finished;
  assert.equal(event.calls, 1);
  assert.match(check.message, /backend does not answer/);
});

test("ribbon: the event completes even when opening the pane fails", async () => {
  checkAnswer = { demo: true, job_id: null, needs_confirmation: false, plan: PLAN, actions: [], message: "all cached" };
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  session.showPane = async () => {
    throw new Error("no pane on this host");
  };
  const event = ribbonEvent();
  const check = session.handleRibbonEvent(event);
  await check.finished;
  assert.equal(event.calls, 1);
  assert.equal(check.phase, "done");
});

test("above the threshold: the plan waits for confirm, then the job runs and is written", async () => {
  jobPolls = 0;
  checkAnswer = {
    demo: true,
    job_id: null,
    plan_id: "plan-9",
    needs_confirmation: true,
    plan: PLAN,
    actions: [columnB(0, ["facebook (DEMO)", "unconfirmed", "unconfirmed", "invalid"])],
    message: "2 numbers to check",
  };
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "confirm");
  assert.equal(check.planId, "plan-9");
  assert.equal(backend.to("GET /api/jobs/job-1").length, 0);
  // While running, the confirmed cells say "pending".
  const seen = [];
  session.subscribe((changed) => {
    if (changed.phase === "running") {
      seen.push(workbook.column("Sheet1", 1, 1, 2).join(","));
    }
  });
  await check.confirm();
  assert.equal(seen[0], "pending,pending");
  assert.equal(check.phase, "done");
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 4), ["facebook (DEMO)", "yes", "no", "invalid"]);
});

test("a discarded plan bills nothing and empties its placeholder cells", async () => {
  backend.requests.length = 0;
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const check = session.startCheck();
  await check.finished;
  await check.discard();
  assert.equal(check.phase, "discarded");
  assert.equal(backend.to("POST /api/plans/plan-9/discard").length, 1);
  assert.equal(backend.to("POST /api/plans/plan-9/confirm").length, 0);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 4), ["facebook (DEMO)", "", "", "invalid"]);
});

test("cancel stops the job; what was answered is still written", async () => {
  checkAnswer = {
    demo: true,
    job_id: "job-2",
    plan_id: null,
    needs_confirmation: false,
    plan: PLAN,
    actions: [columnB(0, ["facebook (DEMO)", "pending", "pending", "invalid"])],
    message: "2 numbers to check in 1 task",
  };
  const workbook = sheetWithNumbers();
  let polls = 0;
  const session = new CheckSession({
    excelRun: workbook.run,
    backend: createBackend({ baseUrl: backend.url }),
    // The user presses Cancel while the job runs (during the second wait).
    sleep: async () => {
      polls += 1;
      if (polls === 2) {
        await session.current.cancel();
      }
    },
  });
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "cancelled");
  assert.equal(backend.to("POST /api/jobs/job-2/cancel").length, 1);
  assert.equal(backend.to("POST /xlwings/write-results/job-2").length, 1);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 4), ["facebook (DEMO)", "yes", "", "invalid"]);
});

test("a failed cancel is reported and the job is still followed", async () => {
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const check = session.startCheck();
  await check.finished;
  check.jobId = "no-such-job";
  await check.cancel();
  assert.match(check.message, /^Cancel failed: No route POST \/api\/jobs\/no-such-job\/cancel/);
});

test("write again: a past job's answers go beside the current selection", async () => {
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const check = await session.writeAgain("job-1");
  assert.equal(check.phase, "done", check.error);
  assert.deepEqual(workbook.column("Sheet1", 1, 1, 2), ["yes", "no"]);
});

test("write again for an unknown job shows the backend's message", async () => {
  const workbook = sheetWithNumbers();
  const session = sessionOn(workbook);
  const check = await session.writeAgain("nope");
  assert.equal(check.phase, "error");
  assert.match(check.message, /No route POST \/xlwings\/write-results\/nope/);
});

test("poll delay grows from 1 s to 3 s", () => {
  assert.equal(pollDelay(0), 1000);
  assert.ok(pollDelay(4) > pollDelay(0));
  assert.equal(pollDelay(100), 3000);
});

test("a job the backend no longer knows ends the check with its message", async () => {
  checkAnswer = { demo: true, job_id: "job-gone", needs_confirmation: false, plan: PLAN, actions: [], message: "" };
  const workbook = sheetWithNumbers();
  const check = sessionOn(workbook).startCheck();
  await check.finished;
  assert.equal(check.phase, "error");
  assert.match(check.message, /No route GET \/api\/jobs\/job-gone/);
});

test("an unreachable backend while polling is retried, not fatal", async () => {
  checkAnswer = { demo: true, job_id: "job-1", needs_confirmation: false, plan: PLAN, actions: [], message: "" };
  jobPolls = 0;
  const workbook = sheetWithNumbers();
  const real = createBackend({ baseUrl: backend.url });
  let failures = 1;
  const flaky = {
    ...real,
    get: async (path) => {
      if (failures > 0) {
        failures -= 1;
        return createBackend({ baseUrl: "http://127.0.0.1:9" }).get(path);
      }
      return real.get(path);
    },
  };
  const messages = [];
  const session = new CheckSession({ excelRun: workbook.run, backend: flaky, sleep: async () => {} });
  session.subscribe((check) => messages.push(check.message));
  const check = session.startCheck();
  await check.finished;
  assert.equal(check.phase, "done");
  assert.ok(messages.some((message) => /does not answer.*Retrying/.test(message)));
});
