// =FBCHECK: Microsoft's batching pattern for custom functions, with streaming.
// Calls are queued for ~100 ms and sent as one POST /api/lookups (at most
// MAX_ITEMS items per request); cached answers come back at once, the rest
// is polled with POST /api/lookups/poll for all waiting cells together, and
// every answer is streamed into its cell with invocation.setResult. No
// request is held open while the upstream works (docs/excel-platform.md).

import { describeError } from "./backend-client.js";

/** Time to collect calls before sending one batch. */
export const BATCH_DELAY_MS = 100;
/** The backend accepts at most this many items per lookup or poll request. */
export const MAX_ITEMS = 10000;
/** What a cell shows while its number is being checked. */
export const PROGRESS_TEXT = "checking…";

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
    pollDelay = lookupPollDelay,
    maxItems = MAX_ITEMS,
    setTimer = (callback, ms) => setTimeout(callback, ms),
  }) {
    this.backend = backend;
    this.customFunctions = customFunctions;
    this.batchDelay = batchDelay;
    this.pollDelay = pollDelay;
    this.maxItems = maxItems;
    this.setTimer = setTimer;
    // key -> {value, region, cells: [{call, row, column}]}, waiting for the next batch.
    this.queue = new Map();
    this.flushScheduled = false;
    // E.164 number -> [{call, row, column}], waiting for the upstream.
    this.pending = new Map();
    this.pollScheduled = false;
    this.polls = 0;
    this.requests = 0;
  }

  /** The streaming custom function: fbcheck(numbers, region, invocation). */
  call(numbers, region, invocation) {
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
          this.enqueue({ call, row: rowIndex, column: columnIndex }, value, chosenRegion);
        }
      });
    });
    // "checking…" at once, the answers later.
    call.render();
    return call;
  }

  /** Queue one cell's lookup for the next batch. */
  enqueue(cell, value, region) {
    const key = JSON.stringify([value, region]);
    let entry = this.queue.get(key);
    if (entry === undefined) {
      entry = { value, region, cells: [] };
      this.queue.set(key, entry);
    }
    entry.cells.push(cell);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.setTimer(() => this.flush(), this.batchDelay);
    }
  }

  /** Forget a cancelled invocation's cells (the cell was deleted or recalculated). */
  cancel(call) {
    call.cancelled = true;
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
    for (const part of chunk(entries, this.maxItems)) {
      const items = part.map((entry) => ({ value: entry.value, region: entry.region }));
      try {
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
        for (const entry of part) {
          for (const cell of entry.cells) {
            this.route(cell, { status: "error", reason: describeError(error) });
            touched.add(cell.call);
          }
        }
      }
    }
    for (const call of touched) {
      call.render();
    }
    this.schedulePoll();
  }

  /** Show one result in its cell; a pending number joins the poll list. */
  route(cell, result) {
    const { ErrorCode } = this.customFunctions;
    if (cell.call.cancelled) {
      return;
    }
    switch (result.status) {
      case "done":
        cell.call.setCell(cell.row, cell.column, { text: result.answer });
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

  /** Poll again later while numbers are pending. */
  schedulePoll() {
    if (this.pollScheduled || this.pending.size === 0) {
      return;
    }
    this.pollScheduled = true;
    this.setTimer(() => this.poll(), this.pollDelay(this.polls));
  }

  /** Ask once for all pending numbers of all cells; stream what changed. */
  async poll() {
    this.pollScheduled = false;
    this.polls += 1;
    const touched = new Set();
    for (const numbers of chunk([...this.pending.keys()], this.maxItems)) {
      let answer;
      try {
        this.requests += 1;
        answer = await this.backend.post("/api/lookups/poll", { numbers });
      } catch (error) {
        // Keep waiting: the job lives in the backend, not in this request.
        for (const number of numbers) {
          for (const cell of this.pending.get(number) || []) {
            cell.call.setCell(cell.row, cell.column, { text: PROGRESS_TEXT + " (backend not answering, retrying)" });
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
    if (this.pending.size === 0) {
      this.polls = 0;
    }
    this.schedulePoll();
  }
}
