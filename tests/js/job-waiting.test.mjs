// A job that settles unfinished: an upload whose outcome is unknown waits for the
// user's word (send again / give up), a paused job says why, and the pane's poll
// loop slows to SETTLED_POLL_MS instead of spinning (issue 7, the task pane's choice).

import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { createBackend } from "../../addin/static/backend-client.js";
import { CheckSession, FINAL_STATES, SETTLED_POLL_MS, pollDelay, waitingChoice } from "../../addin/static/selection-check.js";
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

/** The job as the backend reports it: "uncertain" (waits), "moving" (sent again), "done" or "abandoned". */
function jobIn(stage) {
  const base = {
    demo: true,
    job_id: "job-u",
    distinct: 2,
    tasks: 1,
    billed: 3,
    possibly_billed: 1,
    error: null,
    paused_tasks: 0,
    uncertain_numbers: 0,
    uncertain_tasks: 0,
  };
  switch (stage) {
    case "uncertain":
      return {
        ...base,
        state: "running",
        settled: true,
        answered: 0,
        counts: { pending: 2 },
        uncertain_tasks: 1,
        uncertain_numbers: 2,
        error: "task ref-1: the gateway answered 504",
      };
    case "moving":
      return { ...base, state: "running", settled: false, answered: 0, counts: { pending: 2 } };
    case "done":
      return { ...base, state: "done", settled: true, answered: 2, counts: { yes: 1, no: 1 } };
    default:
      return { ...base, state: "done", settled: true, answered: 2, counts: { error: 2 } };
  }
}

let backend;
let stage = "uncertain";
let pollsAfterResend = 0;

before(async () => {
  backend = await startBackend({
    "POST /xlwings/check-selection": () => ({
      demo: true,
      job_id: "job-u",
      needs_confirmation: false,
      plan: { to_upload: 2 },
      actions: [columnB(0, ["pending", "pending"])],
      message: "2 numbers to check in 1 task",
    }),
    "GET /api/jobs/job-u": () => {
      if (stage === "moving") {
        pollsAfterResend += 1;
        if (pollsAfterResend >= 2) {
          stage = "done";
        }
        return jobIn("moving");
      }
      return jobIn(stage);
    },
    "POST /api/jobs/job-u/resend": () => {
      if (stage !== "uncertain") {
        return { status: 409, body: { error: "nothing_waits", message: "nothing of job job-u waits for your word any more" } };
      }
      stage = "moving";
      return { demo: true, job_id: "job-u", resent: 1, job: jobIn("moving") };
    },
    "POST /api/jobs/job-u/abandon": () => {
      stage = "abandoned";
      return { demo: true, job_id: "job-u", abandoned: 1, job: jobIn("abandoned") };
    },
    "POST /xlwings/write-results/job-u": () => {
      const answers = stage === "done" ? ["yes", "no"] : stage === "abandoned" ? ["error", "error"] : [];
      return {
        demo: true,
        job_id: "job-u",
        actions: answers.length ? [columnB(0, answers)] : [],
        written: answers.length,
        skipped: answers.length ? 0 : 2,
        message: answers.length ? `${answers.length} answers written` : "0 answers written; 2 rows skipped",
      };
    },
  });
});

after(() => backend.close());

beforeEach(() => {
  stage = "uncertain";
  pollsAfterResend = 0;
  backend.requests.length = 0;
});

/**
 * A session whose sleep records each delay; a settled wait never ends by itself,
 * so only the user's answer (wake) can move the loop on: a spinning loop would
 * show up as more polls.
 */
function sessionOn(workbook, delays) {
  return new CheckSession({
    excelRun: workbook.run,
    backend: createBackend({ baseUrl: backend.url }),
    sleep: (ms) => {
      delays.push(ms);
      return ms >= SETTLED_POLL_MS ? new Promise(() => {}) : Promise.resolve();
    },
  });
}

/** Resolve when ``check`` reaches ``phase``. */
function phaseReached(session, check, phase) {
  return new Promise((resolve) => {
    if (check.phase === phase) {
      resolve();
      return;
    }
    const stop = session.subscribe((changed) => {
      if (changed === check && changed.phase === phase) {
        stop();
        resolve();
      }
    });
  });
}

/** Let pending promises and timers run. */
function settle() {
  return new Promise((resolve) => setTimeout(resolve, 30));
}

function workbookWithNumbers() {
  return new FakeWorkbook({
    sheets: { Sheet1: [["+41798284651"], ["+41798284652"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 2, columnCount: 1 }],
  });
}

test("waitingChoice: the uncertain upload asks the user; the sentence names the numbers", () => {
  const choice = waitingChoice(jobIn("uncertain"));
  assert.deepEqual(choice, {
    kind: "uncertain",
    text: "2 numbers wait for your word: the upload's outcome is unknown and the vendor may have billed it.",
    resend: true,
    abandon: true,
  });
  assert.match(waitingChoice({ ...jobIn("uncertain"), uncertain_numbers: 1 }).text, /^1 number waits for your word/);
});

test("waitingChoice: a paused job says why and offers no re-send", () => {
  const paused = {
    ...jobIn("moving"),
    settled: true,
    paused_tasks: 2,
    error: "task 77: the vendor answered 402: balance exhausted",
  };
  const choice = waitingChoice(paused);
  assert.equal(choice.kind, "paused");
  assert.match(choice.text, /^Paused: task 77: the vendor answered 402: balance exhausted\./);
  assert.equal(choice.resend, false);
  assert.equal(choice.abandon, true);
});

test("waitingChoice: nothing to ask while the job moves or once it is finished", () => {
  assert.equal(waitingChoice(jobIn("moving")), null);
  assert.equal(waitingChoice(jobIn("done")), null);
  for (const state of FINAL_STATES) {
    assert.equal(waitingChoice({ ...jobIn("uncertain"), state }), null);
  }
  assert.equal(waitingChoice(null), null);
});

test("a settled job stops the fast polling; 'Send again' resumes it and the answers are written", { timeout: 10000 }, async () => {
  const workbook = workbookWithNumbers();
  const delays = [];
  const session = sessionOn(workbook, delays);
  const check = session.startCheck();
  await phaseReached(session, check, "waiting");
  await settle();
  const pollsWhileWaiting = backend.to("GET /api/jobs/job-u").length;
  await settle();
  // No spinning: the loop sleeps SETTLED_POLL_MS and polls no more.
  assert.equal(backend.to("GET /api/jobs/job-u").length, pollsWhileWaiting);
  assert.equal(pollsWhileWaiting, 1);
  assert.deepEqual(delays, [SETTLED_POLL_MS]);
  assert.equal(check.choice.kind, "uncertain");
  assert.equal(check.message, check.choice.text);
  // What was answered was written at once (nothing here); the waiting cells keep "pending".
  assert.equal(backend.to("POST /xlwings/write-results/job-u").length, 1);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["pending", "pending"]);
  // Nothing was sent again by itself.
  assert.equal(backend.to("POST /api/jobs/job-u/resend").length, 0);

  await check.resend();
  await check.finished;
  assert.equal(backend.to("POST /api/jobs/job-u/resend").length, 1);
  assert.equal(check.phase, "done", check.error);
  assert.equal(check.choice, null);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["yes", "no"]);
  // Back to the normal pace after the answer.
  assert.deepEqual(delays.slice(1), [pollDelay(0), pollDelay(1)]);
});

test("'Give them up' abandons, nothing is sent again, the cells say error", { timeout: 10000 }, async () => {
  const workbook = workbookWithNumbers();
  const session = sessionOn(workbook, []);
  const check = session.startCheck();
  await phaseReached(session, check, "waiting");
  await check.abandon();
  await check.finished;
  assert.equal(backend.to("POST /api/jobs/job-u/abandon").length, 1);
  assert.equal(backend.to("POST /api/jobs/job-u/resend").length, 0);
  assert.equal(check.phase, "done");
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["error", "error"]);
});

test("a refused answer (nothing waits any more) is shown and the loop looks again", { timeout: 10000 }, async () => {
  const workbook = workbookWithNumbers();
  const messages = [];
  const session = sessionOn(workbook, []);
  session.subscribe((check) => messages.push(check.message));
  const check = session.startCheck();
  await phaseReached(session, check, "waiting");
  // Someone ran `fbcheck jobs abandon` meanwhile.
  stage = "abandoned";
  await check.resend();
  assert.ok(messages.includes("nothing of job job-u waits for your word any more"), messages);
  await check.finished;
  assert.equal(check.phase, "done");
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["error", "error"]);
});
