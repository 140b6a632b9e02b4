// The selection check, from the ribbon button or the task pane: read the
// selection and its answer column, send them to POST /xlwings/check-selection
// (in chunks under 5 MB when large), ask the user when the answer column holds
// their data, write the placeholders, and only then start the job; follow it,
// and write the answers back when it ends.
// The ribbon command and the task pane share one JavaScript runtime (the
// manifest's shared runtime), so they share one CheckSession object.

import { describeError } from "./backend-client.js";
import { applyActions, colourAnswerColumns, replacePlaceholders } from "./excel-actions.js";
import {
  SelectionError,
  a1Address,
  answerColumnOf,
  columnLetters,
  findFreeColumns,
  proveWritable,
  readPayload,
  readSelectedAreas,
} from "./excel-payload.js";
import { sendSelection } from "./selection-upload.js";

/** Job states after which nothing changes any more. */
export const FINAL_STATES = new Set(["done", "cancelled", "failed"]);

/** What the backend writes in answer cells before the answer: before and after confirmation. */
export const UNCONFIRMED = "unconfirmed";
export const PENDING = "pending";

/** Return the poll delay in ms after ``polls`` polls: 1 s at first, then up to 3 s. */
export function pollDelay(polls) {
  return Math.min(3000, 1000 + 250 * polls);
}

/**
 * How often a settled job is looked at: nothing moves there without a person
 * (the pane's buttons, `fbcheck jobs resend/abandon`, a new key), so the pane
 * does not spin; the buttons wake it at once.
 */
export const SETTLED_POLL_MS = 30000;

/** Return "N number(s)" with the right plural. */
function numbersText(count) {
  return `${count} ${count === 1 ? "number waits" : "numbers wait"}`;
}

/**
 * Return what a settled, unfinished job asks of the user, or null.
 *
 * Answer: {kind: "uncertain" | "paused", text, resend: bool, abandon: bool}.
 * An upload whose outcome is unknown may have been billed; only the user may
 * send it again (it may bill twice) or give it up (docs/addin-api.md, Jobs).
 */
export function waitingChoice(progress) {
  if (!progress || !progress.settled || FINAL_STATES.has(progress.state)) {
    return null;
  }
  if (progress.uncertain_tasks > 0) {
    return {
      kind: "uncertain",
      text:
        `${numbersText(progress.uncertain_numbers || 0)} for your word: ` +
        "the upload's outcome is unknown and the vendor may have billed it.",
      resend: true,
      abandon: true,
    };
  }
  if (progress.paused_tasks > 0 || progress.error) {
    const why = progress.error || "the vendor does not answer for these tasks now";
    return {
      kind: "paused",
      text:
        `Paused: ${why}. The paid tasks stay open and are not uploaded again; ` +
        "they resume when the backend can ask the vendor again.",
      resend: false,
      abandon: progress.paused_tasks > 0,
    };
  }
  return null;
}

/**
 * Options of every Excel.run of the add-in: while the user edits a cell, wait until the
 * edit ends instead of failing the batch with InvalidOperation (Microsoft docs,
 * Excel.RunOptions.delayForCellEdit; "Delay execution while cell is being edited").
 * Only real Excel has an edit mode; the Node tests hold the rule with a fake one.
 */
export const RUN_OPTIONS = { delayForCellEdit: true };

/** Return ``excelRun(callback)`` over Office's ``Excel`` namespace, with RUN_OPTIONS. */
export function excelRunner(excel) {
  return (callback) => excel.run({ ...RUN_OPTIONS }, callback);
}

/** Pauses before each new try of a failed sheet write (the job is billed: keep trying). */
export const WRITE_RETRY_DELAYS_MS = [1000, 3000, 10000];

/** Return true for an error Excel raised (OfficeExtension.Error: a PascalCase code). */
export function isExcelError(error) {
  return Boolean(error && typeof error.code === "string" && /^[A-Z][A-Za-z]+$/.test(error.code));
}

/** Wait ``ms`` milliseconds. */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One check of one selection, from click to answers written.
 *
 * ``phase`` walks: reading -> submitting -> (choose ->) (confirm ->) running ->
 * writing -> done | cancelled | failed, or to "discarded", "declined" or "error"
 * (``error`` holds the message). "choose" asks where the answers go when the answer
 * column holds the user's data (``conflict``, ``freeColumns``): chooseFreeColumn(),
 * chooseOverwrite() or chooseCancel(); nothing is planned or billed before that.
 * The job starts only once its placeholders are written. A job that settles
 * unfinished (an upload with an unknown outcome, paused tasks) goes to "waiting"
 * after writing what is answered; ``choice``
 * says what it asks (waitingChoice), and resend()/abandon() answer it.
 * The session's listeners hear every change.
 */
export class SelectionCheck {
  /** Start empty; CheckSession.startCheck() drives it. */
  constructor(session) {
    this.session = session;
    this.phase = "reading";
    this.error = null;
    this.message = "Reading the selection…";
    this.demo = null;
    this.selection = null;
    this.plan = null;
    this.planId = null;
    this.jobId = null;
    this.progress = null;
    this.written = null;
    this.skipped = null;
    this.choice = null;
    this.wake = null;
    this.writeError = null;
    this.finalPhase = null;
    this.conflict = null;
    this.freeColumns = null;
    this.kept = null;
  }

  /** Record a change and tell the listeners. */
  update(changes) {
    Object.assign(this, changes);
    this.session.notify(this);
  }

  /** Read the selection, then plan it (the answer column next to each area). */
  async submit() {
    const selection = await this.session.excelRun((context) => readSelectedAreas(context));
    this.update({ selection });
    await this.planSelection({ overwrite: false });
  }

  /**
   * Read the areas and their answer columns afresh, send them, and act on the answer:
   * ask where the answers go when the user's data is in the way; else write the
   * placeholders, which proves the cells can be written, and only then start the job
   * (or ask for confirmation above the threshold). Nothing is billed before that.
   */
  async planSelection({ overwrite }) {
    const { backend, excelRun } = this.session;
    this.update({ phase: "reading", conflict: null, message: "Reading the selection…" });
    const body = await excelRun(async (context) => {
      await proveWritable(context, this.selection);
      return readPayload(context, this.selection);
    });
    this.update({ phase: "submitting", message: "Planning the check…" });
    const answer = await sendSelection(
      backend,
      "/xlwings/check-selection",
      body,
      { overwrite, start: false },
      {
        onProgress: (sent, total) => this.update({ message: `Sending the selection: part ${sent} of ${total}…` }),
        sleep: this.session.sleep,
      },
    );
    if (answer.needs_choice) {
      await this.ask(answer);
      return;
    }
    try {
      await this.writeActions(answer.actions || []);
    } catch (error) {
      if (!isExcelError(error)) {
        throw error;
      }
      if (answer.job_id) {
        // A backend that started the job at once (billed): follow it anyway; the answers are
        // written when it ends, and "Write again" stays offered if that fails too.
        this.update({ writeError: describeError(error) });
        return this.started(answer);
      }
      // Nothing was started: forget the plan so nothing is ever billed for it.
      if (answer.plan_id) {
        await backend.post(`/api/plans/${encodeURIComponent(answer.plan_id)}/discard`).catch(() => {});
      }
      throw new SelectionError(
        "answer_column_unwritable",
        `The answer column could not be written, so the check was not started and nothing was billed: ${describeError(error)}`,
      );
    }
    return this.started(answer);
  }

  /** Go on from a plan whose placeholders are written: confirm, start, follow or done. */
  async started(answer) {
    this.update({
      demo: answer.demo,
      plan: answer.plan || null,
      planId: answer.plan_id || null,
      message: answer.message || "",
    });
    if (answer.needs_confirmation) {
      this.update({ phase: "confirm" });
    } else if (answer.plan_id) {
      await this.start();
    } else if (answer.job_id) {
      // A backend that started the job itself (the "start" flag is its choice to honour).
      this.update({ jobId: answer.job_id });
      await this.follow();
    } else {
      // Everything came from the cache or was invalid: already written.
      this.update({ phase: "done" });
    }
  }

  /** Start the plan whose placeholders are written (below the confirmation threshold). */
  async start() {
    let answer;
    try {
      answer = await this.session.backend.post(`/api/plans/${encodeURIComponent(this.planId)}/confirm`);
    } catch (error) {
      if (error.status === 0) {
        throw new Error(
          `${describeError(error)} The check may or may not have started: if it did, History lists it and Write again writes its answers.`,
        );
      }
      throw error;
    }
    this.update({ jobId: answer.job_id, plan: answer.plan || this.plan });
    await this.follow();
  }

  /** Show the choice for answer columns that hold the user's data, with the free columns found. */
  async ask(answer) {
    const conflict = answer.conflict;
    const addresses = new Set(conflict.areas.map((area) => area.address));
    const which = [];
    this.selection.areas.forEach((area, index) => {
      if (addresses.has(answer.areas ? answer.areas[index] : null)) {
        which.push(index);
      }
    });
    this.update({ message: "Looking for a free column to the right…" });
    const freeColumns = await this.session.excelRun((context) =>
      findFreeColumns(context, this.selection, conflict.free_texts, which),
    );
    this.update({
      phase: "choose",
      demo: answer.demo,
      conflict,
      freeColumns,
      message: answer.message.charAt(0).toUpperCase() + answer.message.slice(1) + ".",
    });
  }

  /** Return the free columns found as letters ("D", "D, G"), or null when an area has none. */
  freeColumnLetters() {
    const chosen = (this.freeColumns || []).filter((column) => column !== undefined);
    if (!chosen.length || chosen.includes(null)) {
      return null;
    }
    return [...new Set(chosen.map(columnLetters))].join(", ");
  }

  /** The user's choice: write the answers into the first free column to the right. */
  async chooseFreeColumn() {
    await this.choose(async () => {
      if (this.freeColumnLetters() === null) {
        throw new SelectionError("no_free_column", "There is no free column to the right of the selection.");
      }
      const areas = this.selection.areas.map((area, index) =>
        this.freeColumns[index] === undefined ? area : { ...area, targetColumnIndex: this.freeColumns[index] },
      );
      this.update({ selection: { ...this.selection, areas } });
      await this.planSelection({ overwrite: false });
    });
  }

  /** The user's choice: overwrite the answer column's cells where there is an answer. */
  async chooseOverwrite() {
    await this.choose(() => this.planSelection({ overwrite: true }));
  }

  /** The user's choice: do nothing. Nothing was written and nothing was billed. */
  async chooseCancel() {
    await this.choose(async () => {
      this.update({ phase: "declined", conflict: null, message: "Cancelled: nothing was written and nothing was billed." });
    });
  }

  /** Run the user's choice; a failure ends the check with its message. */
  async choose(action) {
    if (this.phase !== "choose") {
      return;
    }
    try {
      await action();
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * Apply actions to the selection's sheet and colour its answer columns; a write
   * Excel refuses is tried again after WRITE_RETRY_DELAYS_MS (the values are the same,
   * so a second write does no harm), then the last error is thrown.
   */
  async writeActions(actions) {
    const { sheetName, areas } = this.selection;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.session.excelRun((context) => applyActions(context, actions, [sheetName]));
        break;
      } catch (error) {
        if (!isExcelError(error) || attempt >= WRITE_RETRY_DELAYS_MS.length) {
          throw error;
        }
        this.update({ message: `${describeError(error)} Writing again…` });
        await this.session.sleep(WRITE_RETRY_DELAYS_MS[attempt]);
      }
    }
    try {
      await this.session.excelRun((context) => colourAnswerColumns(context, sheetName, areas));
    } catch (error) {
      // Colours are a help, not the answer: a sheet that allows values but not formats
      // (unlocked cells on a protected sheet) keeps its answers uncoloured.
      if (!isExcelError(error)) {
        throw error;
      }
    }
  }

  /** Confirm a plan above the threshold: the job starts and is billed. */
  async confirm() {
    try {
      const answer = await this.session.backend.post(`/api/plans/${encodeURIComponent(this.planId)}/confirm`);
      this.update({ jobId: answer.job_id, plan: answer.plan || this.plan, message: "Confirmed: checking." });
      const { sheetName, areas } = this.selection;
      await this.session.excelRun((context) => replacePlaceholders(context, sheetName, areas, [UNCONFIRMED], PENDING));
      await this.follow();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Discard a plan: nothing is billed; the placeholder cells it wrote are emptied. */
  async discard() {
    try {
      await this.session.backend.post(`/api/plans/${encodeURIComponent(this.planId)}/discard`);
      const { sheetName, areas } = this.selection;
      await this.session.excelRun((context) =>
        replacePlaceholders(context, sheetName, areas, [UNCONFIRMED, PENDING], ""),
      );
      this.update({ phase: "discarded", message: "Discarded: nothing was billed." });
    } catch (error) {
      this.fail(error);
    }
  }

  /** Ask the backend to stop the job's tasks; the poll loop then sees "cancelled". */
  async cancel() {
    try {
      const answer = await this.session.backend.post(`/api/jobs/${encodeURIComponent(this.jobId)}/cancel`);
      this.update({ message: `Cancelling: ${answer.tasks_stopped} task(s) stopped.` });
    } catch (error) {
      this.update({ message: "Cancel failed: " + describeError(error) });
    }
  }

  /** Poll the job until it ends, then write its answers into the sheet. */
  async follow() {
    this.update({ phase: "running", choice: null });
    let polls = 0;
    let settledShown = false;
    for (;;) {
      let progress;
      try {
        progress = await this.session.backend.get(`/api/jobs/${encodeURIComponent(this.jobId)}`);
      } catch (error) {
        if (error.status === 0) {
          // The backend restarted or is busy: keep the job, try again.
          this.update({ message: describeError(error) + " Retrying…" });
          await this.pause(pollDelay(polls));
          polls += 1;
          continue;
        }
        throw error;
      }
      this.update({ progress, demo: progress.demo });
      if (FINAL_STATES.has(progress.state)) {
        break;
      }
      const choice = waitingChoice(progress);
      if (choice === null) {
        if (settledShown) {
          // Moving again (sent again, a new key): back to the normal pace.
          settledShown = false;
          polls = 0;
          this.update({ phase: "running", choice: null });
        }
        await this.pause(pollDelay(polls));
        polls += 1;
        continue;
      }
      if (!settledShown) {
        settledShown = true;
        // What is answered goes into the sheet now; the waiting cells keep "pending".
        await this.writeResults(this.jobId, "waiting", choice.text);
      }
      this.update({ phase: "waiting", choice, message: choice.text });
      await this.pause(SETTLED_POLL_MS);
    }
    await this.writeResults(this.jobId, this.progress.state);
  }

  /** Sleep ``ms``, or less when wake() is called (the user answered the question). */
  pause(ms) {
    return Promise.race([
      this.session.sleep(ms),
      new Promise((resolve) => {
        this.wake = resolve;
      }),
    ]);
  }

  /** Send the job's uncertain uploads again, on the user's word (the vendor may bill twice). */
  async resend() {
    await this.answerChoice("resend", (answer) => `Sending ${answer.resent} upload(s) again, as you asked.`);
  }

  /** Give up the job's uncertain and paused tasks, on the user's word (their numbers say error). */
  async abandon() {
    await this.answerChoice("abandon", (answer) => `Gave up ${answer.abandoned} task(s): their numbers say error.`);
  }

  /** POST the user's answer, then let the poll loop look at the job at once. */
  async answerChoice(action, describe) {
    this.update({ choice: null });
    try {
      const answer = await this.session.backend.post(`/api/jobs/${encodeURIComponent(this.jobId)}/${action}`);
      this.update({ phase: "running", progress: answer.job || this.progress, message: describe(answer) });
    } catch (error) {
      this.update({ message: describeError(error) });
    }
    if (this.wake) {
      this.wake();
    }
  }

  /**
   * Read the same areas afresh and write the job's answers where the numbers still are.
   * ``message`` replaces the backend's sentence (a waiting job's cells say "pending").
   * When Excel refuses the write (after the retries) the check ends "unwritten": the
   * answers are kept by the backend and rewrite() ("Write again") tries once more.
   */
  async writeResults(jobId, finalPhase, message = null) {
    this.update({ phase: "writing", message: "Writing the answers…" });
    const body = await this.session.excelRun((context) => readPayload(context, this.selection));
    const answer = await sendSelection(this.session.backend, `/xlwings/write-results/${encodeURIComponent(jobId)}`, body, {}, {
      sleep: this.session.sleep,
    });
    try {
      await this.writeActions(answer.actions || []);
    } catch (error) {
      if (!isExcelError(error)) {
        throw error;
      }
      this.update({
        phase: "unwritten",
        finalPhase,
        writeError: describeError(error),
        message: `The answers could not be written: ${describeError(error)} They are kept: press Write again.`,
      });
      return;
    }
    this.update({ writeError: null });
    this.update({
      phase: finalPhase,
      demo: answer.demo,
      written: answer.written,
      skipped: finalPhase === "waiting" ? null : answer.skipped,
      kept: answer.kept || null,
      message: message || answer.message || `${answer.written} answers written.`,
    });
    this.session.notifyHistory();
  }

  /** "Write again" after a failed write: the job's answers, read and written afresh. */
  async rewrite() {
    try {
      await this.writeResults(this.jobId, this.finalPhase || "done");
    } catch (error) {
      this.fail(error);
    }
  }

  /** Record an error as the check's final state. */
  fail(error) {
    this.update({ phase: "error", error: describeError(error), message: describeError(error) });
  }
}

/**
 * What the ribbon command and the task pane share: the backend client, how to
 * run Excel code, the checks started so far and the listeners of the pane.
 */
export class CheckSession {
  /** Inject Excel.run, the backend client, a sleep function and how to show the pane. */
  constructor({ excelRun, backend, sleep: sleepFunction = sleep, showPane = async () => {} }) {
    this.excelRun = excelRun;
    this.backend = backend;
    this.sleep = sleepFunction;
    this.showPane = showPane;
    this.current = null;
    this.checks = [];
    this.listeners = new Set();
    this.historyListeners = new Set();
  }

  /** Call ``listener(check)`` on every change of any check; returns an unsubscribe function. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Call ``listener()`` when a job's answers were written (history changed). */
  onHistoryChange(listener) {
    this.historyListeners.add(listener);
    return () => this.historyListeners.delete(listener);
  }

  /** Tell the listeners that ``check`` changed. */
  notify(check) {
    for (const listener of this.listeners) {
      listener(check);
    }
  }

  /** Tell the history listeners. */
  notifyHistory() {
    for (const listener of this.historyListeners) {
      listener();
    }
  }

  /** Start checking the current selection; resolves when the check ends (never throws). */
  startCheck() {
    const check = new SelectionCheck(this);
    this.current = check;
    this.checks.push(check);
    this.notify(check);
    check.finished = check.submit().catch((error) => check.fail(error));
    return check;
  }

  /**
   * The ribbon's "Check selection" (ExecuteFunction): open the pane, start the
   * check and complete the event at once; the pane shows plan, progress and errors.
   */
  handleRibbonEvent(event) {
    let check = null;
    try {
      this.showPane().catch(() => {});
      check = this.startCheck();
    } finally {
      event.completed();
    }
    return check;
  }

  /**
   * Write a past job's answers into the current selection: beside it, or into the answer
   * columns the user chose for that job when it was checked here on the same areas.
   */
  async writeAgain(jobId) {
    const check = new SelectionCheck(this);
    this.current = check;
    this.checks.push(check);
    check.jobId = jobId;
    this.notify(check);
    try {
      const selection = sameTargets(
        await this.excelRun((context) => readSelectedAreas(context)),
        this.checks.find((earlier) => earlier !== check && earlier.jobId === jobId && earlier.selection),
      );
      check.update({ selection });
      await check.writeResults(jobId, "done");
    } catch (error) {
      check.fail(error);
    }
    return check;
  }
}

/** Return ``selection`` with the answer columns of ``earlier``'s check when it had the same areas. */
function sameTargets(selection, earlier) {
  if (!earlier || earlier.selection.sheetName !== selection.sheetName) {
    return selection;
  }
  const before = earlier.selection.areas;
  const same =
    before.length === selection.areas.length &&
    before.every((area, index) => a1Address(area) === a1Address(selection.areas[index]) && area.columnIndex === selection.areas[index].columnIndex);
  if (!same) {
    return selection;
  }
  return { ...selection, areas: selection.areas.map((area, index) => ({ ...area, targetColumnIndex: answerColumnOf(before[index]) })) };
}
