// =FBCHECK: Microsoft's batching pattern for custom functions, with streaming.
// Calls are queued until Excel pauses for BATCH_DELAY_MS (at most MAX_HOLD_MS
// after the first) and sent as one POST /api/lookups (at most MAX_ITEMS items
// per request): a cell typed alone goes after 100 ms, a long recalculation in
// one request every half second. Cached answers come back at once, the rest
// is polled with POST /api/lookups/poll for all waiting cells together, and
// every answer is streamed into its cell with invocation.setResult. No
// request is held open while the upstream works (docs/excel-platform.md).
//
// A look-up Excel sees fail is final: Calculate Now does not run a custom
// function again (OfficeDev/office-js#1462). So while the backend does not
// answer, cells say "waiting for the backend…" (a streamed text, not an error)
// and the batch is sent again after 1, 2, 4 … at most 30 s, until it answers.
// Answers older than the cache lifetime come back marked stale ("yes (stale)")
// and are not bought again unless the user asks (refreshStale, or
// =FBCHECK(A2, , TRUE)); a batch above the confirmation threshold waits in the
// backend, its cells saying "awaiting confirmation", until the pane confirms.

import { BackendError, describeError } from "./backend-client.js";
import { SIGN_IN_CODES } from "./sign-in.js";

/** Time without a new call before the queued calls are sent. */
export const BATCH_DELAY_MS = 100;
/** The longest a call waits for company while Excel keeps calling. */
export const MAX_HOLD_MS = 500;
/** The backend accepts at most this many items per lookup or poll request. */
export const MAX_ITEMS = 10000;
/** What a cell shows while its number is being checked. */
export const PROGRESS_TEXT = "checking…";
/** What a cell shows while the backend does not answer (the batch is sent again). */
export const WAITING_FOR_BACKEND_TEXT = "waiting for the backend…";
/** What a cell says while the team server waits for a sign-in in the task pane. */
export const WAITING_FOR_SIGN_IN_TEXT = "sign in to the team server in the task pane…";
/** What the backend reports for a number in a batch that waits for the pane's confirmation. */
export const AWAITING_CONFIRMATION_TEXT = "awaiting confirmation";
/** Appended to an answer older than the cache lifetime: "yes (stale)". */
export const STALE_SUFFIX = " (stale)";
/** The longest pause between two attempts to reach a backend that does not answer. */
export const BACKEND_RETRY_MAX_MS = 30000;

/** Return the pause in ms before attempt ``failures`` + 1 to reach the backend: 1, 2, 4 … 30 s. */
export function backendRetryDelay(failures) {
  return Math.min(BACKEND_RETRY_MAX_MS, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * Return true when ``error`` means the backend is not there (yet): no connection, or a
 * gateway saying the same. Such a look-up waits and is sent again; any other refusal is final.
 */
export function isBackendDown(error) {
  return (error instanceof BackendError && [0, 502, 503, 504].includes(error.status)) || needsSignIn(error);
}

/**
 * Return true when the team server refused the token (401): the cell waits for the
 * sign-in and is sent again, never answered #N/A (Excel does not run a failed custom
 * function again, office-js#1462).
 */
export function needsSignIn(error) {
  return error instanceof BackendError && error.status === 401 && SIGN_IN_CODES.includes(error.code);
}

/** Return what a waiting cell says after ``error``. */
function waitingText(error) {
  return needsSignIn(error) ? WAITING_FOR_SIGN_IN_TEXT : WAITING_FOR_BACKEND_TEXT;
}

/** Return the default poll delay in ms after ``polls`` polls: 2 s, growing to 5 s. */
export function lookupPollDelay(polls) {
  return Math.min(5000, 2000 + 1000 * polls);
}

/** Return ``items`` cut into lists of at most ``size``. */
export function chunk(items, size) {
  const chunks = [];
  for (let index = 0; index < items.length; index += size) {
    chunks.push(items.slice(index, index + size));
  }
  return chunks;
}

/**
 * Return the error text (e.g. "#DIV/0!") when Excel passed an error cell, else null.
 *
 * With "allowErrorForDataTypeAny": true in functions.json, Excel hands error cells to a
 * parameter of type "any" instead of failing the whole call (Microsoft docs, "Handle
 * and return errors from your custom function", errors as custom function inputs);
 * they arrive as error objects (a CustomFunctions.Error, or an error data type), never
 * as a string, number or boolean. Only real Excel shows the exact shape, so any object
 * counts as an error here.
 */
export function inputError(value, customFunctions) {
  if (value === null || value === undefined || typeof value !== "object") {
    return null;
  }
  if (customFunctions && customFunctions.Error && value instanceof customFunctions.Error) {
    return value.code || "an error";
  }
  for (const name of ["code", "basicValue", "errorType"]) {
    if (typeof value[name] === "string" && value[name]) {
      return value[name];
    }
  }
  return "an error";
}

/** Return true for a cell Excel passes as empty. */
function isEmpty(value) {
  return value === null || value === undefined || (typeof value === "string" && value.trim() === "");
}

/**
 * One =FBCHECK invocation: a matrix of cells, each with its own state, and
 * the invocation it streams results into.
 */
export class StreamingCall {
  /** Remember the invocation and the Excel error API (CustomFunctions). */
  constructor(invocation, rows, columns, customFunctions) {
    this.invocation = invocation;
    this.customFunctions = customFunctions;
    this.cells = Array.from({ length: rows }, () => Array.from({ length: columns }, () => ({ text: "" })));
    this.cancelled = false;
    this.dirty = true;
  }

  /** Set one cell's state: {text} for a shown value, {errorCode, reason} for an error. */
  setCell(row, column, state) {
    const old = this.cells[row][column];
    if (old.text !== state.text || old.errorCode !== state.errorCode || old.reason !== state.reason) {
      this.cells[row][column] = state;
      this.dirty = true;
    }
  }

  /** Send the current matrix to Excel when something changed since the last send. */
  render() {
    if (!this.dirty || this.cancelled) {
      return;
    }
    this.dirty = false;
    const { Error: ExcelError } = this.customFunctions;
    const toResult = (cell) => (cell.errorCode ? new ExcelError(cell.errorCode, cell.reason || undefined) : cell.text);
    if (this.cells.length === 1 && this.cells[0].length === 1 && this.cells[0][0].errorCode) {
      // A single cell: the error itself, so Excel shows its message.
      this.invocation.setResult(toResult(this.cells[0][0]));
      return;
    }
    this.invocation.setResult(this.cells.map((row) => row.map(toResult)));
  }
}

/**
 * The queue behind every =FBCHECK cell of the workbook: batches lookups,
 * polls pending numbers together and routes answers to their cells.
 */
export class LookupBatcher {
  /** Inject the backend client, the Excel error API, and timing for tests. */
  constructor({
    backend,
    customFunctions,
    batchDelay = BATCH_DELAY_MS,
    maxHold = MAX_HOLD_MS,
    pollDelay = lookupPollDelay,
    retryDelay = backendRetryDelay,
    maxItems = MAX_ITEMS,
    setTimer = (callback, ms) => setTimeout(callback, ms),
    now = () => Date.now(),
  }) {
    this.backend = backend;
    this.customFunctions = customFunctions;
    this.batchDelay = batchDelay;
    this.maxHold = maxHold;
    this.now = now;
    // When the batch being collected got its first and its latest call (ms).
    this.firstAt = 0;
    this.lastAt = 0;
    this.pollDelay = pollDelay;
    this.retryDelay = retryDelay;
    this.maxItems = maxItems;
    this.setTimer = setTimer;
    // key -> {value, region, refresh, cells: [cell]}, waiting for the next batch.
    // A cell is {call, row, column, value, region}.
    this.queue = new Map();
    this.flushScheduled = false;
    // E.164 number -> [cell], waiting for the upstream.
    this.pending = new Map();
    this.pollScheduled = false;
    this.polls = 0;
    this.requests = 0;
    // Failed attempts in a row to reach the backend (0 while it answers).
    this.backendFailures = 0;
    // Cells showing a stale answer, and cells whose batch awaits the pane's confirmation.
    this.stale = new Set();
    this.awaiting = new Set();
    this.listeners = [];
  }

  /**
   * The streaming custom function: fbcheck(numbers, region, invocation).
   *
   * ``refresh``: check again the numbers whose cached answer is older than the
   * cache lifetime (fresh answers still come from the cache).
   */
  call(numbers, region, invocation, { refresh = false } = {}) {
    const matrix = Array.isArray(numbers) ? numbers : [[numbers]];
    const width = matrix.reduce((widest, row) => Math.max(widest, row.length), 1);
    const call = new StreamingCall(invocation, matrix.length, width, this.customFunctions);
    invocation.onCanceled = () => this.cancel(call);
    const chosenRegion = typeof region === "string" && region.trim() ? region.trim() : null;
    matrix.forEach((row, rowIndex) => {
      row.forEach((value, columnIndex) => {
        const error = inputError(value, this.customFunctions);
        if (error !== null) {
          // That cell alone answers #VALUE!; the rest of the range is checked.
          call.setCell(rowIndex, columnIndex, {
            errorCode: this.customFunctions.ErrorCode.invalidValue,
            reason: `the cell holds ${error}, not a phone number`,
          });
        } else if (!isEmpty(value)) {
          call.setCell(rowIndex, columnIndex, { text: PROGRESS_TEXT });
          this.enqueue({ call, row: rowIndex, column: columnIndex, value, region: chosenRegion }, refresh);
        }
      });
    });
    // "checking…" at once, the answers later.
    call.render();
    return call;
  }

  /** Queue one cell's lookup for the next batch. */
  enqueue(cell, refresh = false) {
    this.requeue({ value: cell.value, region: cell.region, refresh, cells: [cell] });
    const at = this.now();
    if (!this.flushScheduled) {
      this.firstAt = at;
    }
    this.lastAt = at;
    // A retry already scheduled (the backend is down) takes these cells along.
    this.scheduleFlush(this.batchDelay, () => this.flushWhenQuiet());
  }

  /** Put an entry (back) into the queue, merging with one for the same value. */
  requeue(entry) {
    const key = JSON.stringify([entry.value, entry.region, entry.refresh]);
    const queued = this.queue.get(key);
    if (queued === undefined) {
      this.queue.set(key, { ...entry, cells: [...entry.cells] });
    } else {
      queued.cells.push(...entry.cells.filter((cell) => !queued.cells.includes(cell)));
    }
  }

  /** Send the queue after ``delay`` ms (through ``send``) unless a send is already scheduled. */
  scheduleFlush(delay, send = () => this.flush()) {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.setTimer(send, delay);
    }
  }

  /** Send the batch once Excel paused for batchDelay or it waited maxHold; else wait on. */
  flushWhenQuiet() {
    const due = Math.min(this.lastAt + this.batchDelay, this.firstAt + this.maxHold);
    const left = due - this.now();
    if (left > 0) {
      this.setTimer(() => this.flushWhenQuiet(), left);
      return Promise.resolve();
    }
    return this.flush();
  }

  /** Call ``listener(status)`` after every batch and poll; return a function that stops it. */
  subscribe(listener) {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((other) => other !== listener);
    };
  }

  /** Return what the task pane shows: cells awaiting confirmation, stale, and the backend's state. */
  status() {
    return {
      awaiting: this.awaiting.size,
      stale: this.stale.size,
      backendDown: this.backendFailures > 0,
    };
  }

  /** Tell the listeners what changed (a listener's failure never stops the cells). */
  notify() {
    const status = this.status();
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch (error) {
        console.error("FBCheck: a look-up listener failed", error);
      }
    }
  }

  /** Check again every number shown as stale (the user asked); return how many cells. */
  refreshStale() {
    const cells = [...this.stale].filter((cell) => !cell.call.cancelled);
    this.stale.clear();
    const touched = new Set();
    for (const cell of cells) {
      cell.call.setCell(cell.row, cell.column, { text: PROGRESS_TEXT });
      touched.add(cell.call);
      this.enqueue(cell, true);
    }
    for (const call of touched) {
      call.render();
    }
    this.notify();
    return cells.length;
  }

  /** Forget a cancelled invocation's cells (the cell was deleted or recalculated). */
  cancel(call) {
    call.cancelled = true;
    for (const set of [this.stale, this.awaiting]) {
      for (const cell of [...set]) {
        if (cell.call === call) {
          set.delete(cell);
        }
      }
    }
    for (const [key, entry] of this.queue) {
      entry.cells = entry.cells.filter((cell) => cell.call !== call);
      if (entry.cells.length === 0) {
        this.queue.delete(key);
      }
    }
    for (const [number, cells] of this.pending) {
      const left = cells.filter((cell) => cell.call !== call);
      if (left.length) {
        this.pending.set(number, left);
      } else {
        this.pending.delete(number);
      }
    }
  }

  /** Send the queued lookups, at most maxItems per request. */
  async flush() {
    this.flushScheduled = false;
    const entries = [...this.queue.values()];
    this.queue.clear();
    const touched = new Set();
    let down = false;
    let waitText = WAITING_FOR_BACKEND_TEXT;
    for (const part of chunk(entries, this.maxItems)) {
      const items = part.map((entry) =>
        entry.refresh ? { value: entry.value, region: entry.region, refresh: true } : { value: entry.value, region: entry.region },
      );
      try {
        if (down) {
          // The backend just failed: keep the rest for the next attempt.
          throw new BackendError(0, "backend_unreachable", "not sent: the backend did not answer");
        }
        this.requests += 1;
        const answer = await this.backend.post("/api/lookups", { items });
        part.forEach((entry, index) => {
          const result = (answer.results || [])[index];
          for (const cell of entry.cells) {
            this.route(cell, result || { status: "error", reason: "The backend gave no answer for this cell." });
            touched.add(cell.call);
          }
        });
      } catch (error) {
        if (!down && isBackendDown(error)) {
          waitText = waitingText(error);
        }
        down = down || isBackendDown(error);
        for (const entry of part) {
          const cells = entry.cells.filter((cell) => !cell.call.cancelled);
          if (down) {
            // Not an answer: wait for the backend and send the same look-ups again.
            for (const cell of cells) {
              cell.call.setCell(cell.row, cell.column, { text: waitText });
              touched.add(cell.call);
            }
            if (cells.length) {
              this.requeue({ ...entry, cells });
            }
            continue;
          }
          for (const cell of cells) {
            this.route(cell, { status: "error", reason: describeError(error) });
            touched.add(cell.call);
          }
        }
      }
    }
    this.backendFailures = down ? this.backendFailures + 1 : 0;
    for (const call of touched) {
      call.render();
    }
    if (down && this.queue.size) {
      this.scheduleFlush(this.retryDelay(this.backendFailures));
    }
    this.schedulePoll();
    this.notify();
  }

  /** Show one result in its cell; a pending number joins the poll list. */
  route(cell, result) {
    const { ErrorCode } = this.customFunctions;
    if (cell.call.cancelled) {
      return;
    }
    const stale = result.status === "done" && result.stale === true;
    const awaiting = result.status === "pending" && result.progress === AWAITING_CONFIRMATION_TEXT;
    this.stale[stale ? "add" : "delete"](cell);
    this.awaiting[awaiting ? "add" : "delete"](cell);
    switch (result.status) {
      case "done":
        cell.call.setCell(cell.row, cell.column, { text: stale ? result.answer + STALE_SUFFIX : result.answer });
        break;
      case "invalid":
        cell.call.setCell(cell.row, cell.column, { errorCode: ErrorCode.invalidValue, reason: result.reason });
        break;
      case "pending": {
        cell.call.setCell(cell.row, cell.column, { text: result.progress || PROGRESS_TEXT });
        if (result.e164) {
          const cells = this.pending.get(result.e164) || [];
          if (!cells.includes(cell)) {
            cells.push(cell);
          }
          this.pending.set(result.e164, cells);
        }
        break;
      }
      default:
        cell.call.setCell(cell.row, cell.column, { errorCode: ErrorCode.notAvailable, reason: result.reason || "The check failed." });
    }
  }

  /** Poll again later while numbers are pending (later still while the backend is down). */
  schedulePoll() {
    if (this.pollScheduled || this.pending.size === 0) {
      return;
    }
    this.pollScheduled = true;
    const delay = this.backendFailures > 0 ? this.retryDelay(this.backendFailures) : this.pollDelay(this.polls);
    this.setTimer(() => this.poll(), delay);
  }

  /** Ask once for all pending numbers of all cells; stream what changed. */
  async poll() {
    this.pollScheduled = false;
    this.polls += 1;
    const touched = new Set();
    let failed = false;
    for (const numbers of chunk([...this.pending.keys()], this.maxItems)) {
      let answer;
      try {
        this.requests += 1;
        answer = await this.backend.post("/api/lookups/poll", { numbers });
      } catch (error) {
        // Keep waiting: the job lives in the backend, not in this request.
        failed = true;
        for (const number of numbers) {
          for (const cell of this.pending.get(number) || []) {
            cell.call.setCell(cell.row, cell.column, { text: waitingText(error) });
            this.awaiting.delete(cell);
            touched.add(cell.call);
          }
        }
        continue;
      }
      const results = answer.results || {};
      for (const number of numbers) {
        const result = results[number];
        const cells = this.pending.get(number);
        if (result === undefined || cells === undefined) {
          continue;
        }
        if (result.status !== "pending") {
          this.pending.delete(number);
        }
        for (const cell of cells) {
          this.route(cell, { ...result, e164: null });
          touched.add(cell.call);
        }
      }
    }
    for (const call of touched) {
      call.render();
    }
    this.backendFailures = failed ? this.backendFailures + 1 : 0;
    if (this.pending.size === 0) {
      this.polls = 0;
    }
    this.schedulePoll();
    this.notify();
  }
}
