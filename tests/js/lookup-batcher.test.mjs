// =FBCHECK batching and streaming (addin/static/lookup-batcher.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { BackendError, createBackend } from "../../addin/static/backend-client.js";
import {
  AWAITING_CONFIRMATION_TEXT,
  BACKEND_RETRY_MAX_MS,
  BATCH_DELAY_MS,
  LookupBatcher,
  MAX_HOLD_MS,
  MAX_ITEMS,
  PROGRESS_TEXT,
  STALE_SUFFIX,
  WAITING_FOR_BACKEND_TEXT,
  backendRetryDelay,
  inputError,
} from "../../addin/static/lookup-batcher.js";
import { freePort, startBackend } from "./fake-backend.mjs";

/** Stands in for Office's CustomFunctions namespace. */
class ExcelError {
  /** Keep the code and message as Office does. */
  constructor(code, message) {
    this.code = code;
    this.message = message;
  }
}
const customFunctions = { Error: ExcelError, ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A" } };

/** Timers and a clock the test runs by hand: deterministic, no waiting on the real clock. */
class ManualTimers {
  /** Nothing scheduled yet; the clock at 0 ms. */
  constructor() {
    this.waiting = [];
    this.delays = [];
    this.time = 0;
  }

  /** The setTimer injected into the batcher. */
  get setTimer() {
    return (callback, ms) => {
      this.waiting.push({ callback, at: this.time + ms });
      this.delays.push(ms);
    };
  }

  /** The clock injected into the batcher (ms). */
  get now() {
    return () => this.time;
  }

  /** Move the clock to the latest timer scheduled so far, run them all and wait for them. */
  async runAll() {
    const due = this.waiting.splice(0);
    this.time = Math.max(this.time, ...due.map((timer) => timer.at));
    await Promise.all(due.map((timer) => timer.callback()));
  }

  /** Move the clock by ``ms``, running (in order) every timer that falls due meanwhile. */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const next = this.waiting.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) {
        break;
      }
      this.waiting.splice(this.waiting.indexOf(next), 1);
      this.time = Math.max(this.time, next.at);
      await next.callback();
    }
    this.time = end;
  }
}

/** A fake invocation that keeps every setResult. */
function invocation() {
  return {
    results: [],
    setResult(value) {
      this.results.push(value);
    },
    get last() {
      return this.results[this.results.length - 1];
    },
  };
}

/** A backend stand-in that answers lookups with ``answer(item)`` and keeps the requests. */
function recordingBackend(answer, pollAnswer = () => ({ results: {} })) {
  return {
    posts: [],
    async post(path, body) {
      this.posts.push({ path, body });
      if (path === "/api/lookups") {
        return { demo: true, results: body.items.map(answer) };
      }
      return pollAnswer(body);
    },
  };
}

/** An E.164 pending answer. */
const pending = (item) => ({ status: "pending", e164: "+" + String(item.value).replace(/\D/g, ""), answer: null, reason: null });

test("200 calls within 100 ms go out as one request", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "done", answer: "yes" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const calls = Array.from({ length: 200 }, (_, index) => {
    const cell = invocation();
    batcher.call([[`+4179000${String(index).padStart(4, "0")}`]], null, cell);
    return cell;
  });
  assert.equal(backend.posts.length, 0);
  assert.deepEqual(timers.delays, [100]);
  await timers.runAll();
  assert.equal(backend.posts.length, 1);
  assert.equal(backend.posts[0].body.items.length, 200);
  for (const cell of calls) {
    assert.deepEqual(cell.results, [[[PROGRESS_TEXT]], [["yes"]]]);
  }
});

test("a cell typed alone is sent after 100 ms without waiting for company", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "done", answer: "yes" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["+41798284651"]], null, cell);
  await timers.advance(BATCH_DELAY_MS - 1);
  assert.equal(backend.posts.length, 0);
  await timers.advance(1);
  assert.equal(backend.posts.length, 1);
  assert.deepEqual(cell.last, [["yes"]]);
});

test("calls that keep coming are collected until Excel pauses, at most 500 ms", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "done", answer: "no" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  // A slow recalculation: a call every 10 ms for 3 s (300 cells).
  for (let index = 0; index < 300; index += 1) {
    batcher.call([[`+4179000${String(index).padStart(4, "0")}`]], null, invocation());
    await timers.advance(10);
  }
  await timers.advance(BATCH_DELAY_MS);
  const sizes = backend.posts.map((post) => post.body.items.length);
  assert.equal(sizes.reduce((sum, size) => sum + size, 0), 300);
  // One request per 500 ms of calls, not one per 100 ms.
  assert.equal(sizes.length, (300 * 10) / MAX_HOLD_MS);
  // A pause of 100 ms ends a batch early.
  batcher.call([["+41798284651"]], null, invocation());
  await timers.advance(50);
  batcher.call([["+41798284652"]], null, invocation());
  await timers.advance(BATCH_DELAY_MS);
  assert.equal(backend.posts.length, sizes.length + 1);
  assert.equal(backend.posts.at(-1).body.items.length, 2);
});

test("the same number in many cells is sent once and answers every cell", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "done", answer: "ban" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const first = invocation();
  const second = invocation();
  batcher.call([["+41798284651"]], null, first);
  batcher.call([["+41798284651"]], null, second);
  batcher.call([["+41798284651"]], "CH", invocation());
  await timers.runAll();
  assert.deepEqual(backend.posts[0].body.items, [
    { value: "+41798284651", region: null },
    { value: "+41798284651", region: "CH" },
  ]);
  assert.deepEqual(first.last, [["ban"]]);
  assert.deepEqual(second.last, [["ban"]]);
});

test("more than 10,000 items are split into requests of at most 10,000", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend((item) => ({ status: "done", answer: item.value % 2 ? "yes" : "no" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const numbers = Array.from({ length: 25000 }, (_, index) => [41790000000 + index]);
  const cell = invocation();
  batcher.call(numbers, null, cell);
  await timers.runAll();
  assert.deepEqual(backend.posts.map((post) => post.body.items.length), [MAX_ITEMS, MAX_ITEMS, 5000]);
  // One spill, routed in order.
  const spill = cell.last;
  assert.equal(spill.length, 25000);
  assert.equal(spill[0][0], "no");
  assert.equal(spill[1][0], "yes");
  assert.equal(spill[24999][0], "yes");
});

test("a range spills: answers in place, empty cells stay empty and are not sent", async () => {
  const timers = new ManualTimers();
  const answers = { "+1": { status: "done", answer: "yes" }, "+2": { status: "done", answer: "no" } };
  const backend = recordingBackend((item) => answers[item.value]);
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["+1"], [""], [null], ["+2"]], null, cell);
  assert.deepEqual(cell.results[0], [[PROGRESS_TEXT], [""], [""], [PROGRESS_TEXT]]);
  await timers.runAll();
  assert.equal(backend.posts[0].body.items.length, 2);
  assert.deepEqual(cell.last, [["yes"], [""], [""], ["no"]]);
});

test("streaming: pending shows progress, then the polled answer", async () => {
  const timers = new ManualTimers();
  let answered = false;
  const backend = recordingBackend(pending, (body) => ({
    results: Object.fromEntries(
      body.numbers.map((number) => [number, answered ? { status: "done", answer: "yes" } : { status: "pending", progress: "checking 40%" }]),
    ),
  }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["+41 79 828 46 51"]], null, cell);
  await timers.runAll(); // the batch
  assert.deepEqual(cell.last, [[PROGRESS_TEXT]]);
  assert.equal(timers.delays[1], 2000);
  await timers.runAll(); // first poll
  assert.deepEqual(backend.posts[1], { path: "/api/lookups/poll", body: { numbers: ["+41798284651"] } });
  assert.deepEqual(cell.last, [["checking 40%"]]);
  answered = true;
  await timers.runAll(); // second poll
  assert.deepEqual(cell.last, [["yes"]]);
  // Nothing left to wait for: no further poll.
  assert.equal(timers.waiting.length, 0);
  assert.equal(cell.results.length, 3);
});

test("one poll asks for the pending numbers of all cells together", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(pending, (body) => ({
    results: Object.fromEntries(body.numbers.map((number) => [number, { status: "done", answer: number === "+1" ? "yes" : "ban" }])),
  }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const one = invocation();
  const two = invocation();
  batcher.call([["+1"]], null, one);
  batcher.call([["+2"], ["+1"]], null, two);
  await timers.runAll();
  await timers.runAll();
  const polls = backend.posts.filter((post) => post.path === "/api/lookups/poll");
  assert.equal(polls.length, 1);
  assert.deepEqual(polls[0].body.numbers.sort(), ["+1", "+2"]);
  assert.deepEqual(one.last, [["yes"]]);
  assert.deepEqual(two.last, [["ban"], ["yes"]]);
});

test("invalid input gives #VALUE! with the reason", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "invalid", reason: "too short for a phone number" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["12"]], null, cell);
  await timers.runAll();
  assert.ok(cell.last instanceof ExcelError);
  assert.equal(cell.last.code, "#VALUE!");
  assert.equal(cell.last.message, "too short for a phone number");
});

test("an upstream error gives #N/A with the reason; in a spill only that cell", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(pending, () => ({
    results: { "+1": { status: "error", reason: "upstream task failed" }, "+2": { status: "done", answer: "no" } },
  }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const single = invocation();
  const spill = invocation();
  batcher.call([["+1"]], null, single);
  batcher.call([["+1"], ["+2"]], null, spill);
  await timers.runAll();
  await timers.runAll();
  assert.ok(single.last instanceof ExcelError);
  assert.equal(single.last.code, "#N/A");
  assert.equal(single.last.message, "upstream task failed");
  assert.equal(spill.last[0][0].code, "#N/A");
  assert.equal(spill.last[1][0], "no");
});

test("a backend that is not running: cells wait, retries back off to 30 s, answers once it is up", async () => {
  const port = await freePort();
  const timers = new ManualTimers();
  const batcher = new LookupBatcher({
    backend: createBackend({ baseUrl: `http://127.0.0.1:${port}` }),
    customFunctions,
    setTimer: timers.setTimer,
    now: timers.now,
  });
  const statuses = [];
  batcher.subscribe((status) => statuses.push(status));
  const cell = invocation();
  batcher.call([["+41798284651"], ["+41798284652"]], "CH", cell);
  for (let attempt = 0; attempt < 8; attempt += 1) {
    await timers.runAll();
    // A streamed text, never an error: Excel would not run a failed look-up again.
    assert.deepEqual(cell.last, [[WAITING_FOR_BACKEND_TEXT], [WAITING_FOR_BACKEND_TEXT]]);
  }
  assert.deepEqual(timers.delays, [100, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.equal(statuses[statuses.length - 1].backendDown, true);
  assert.ok(cell.results.every((result) => !(result instanceof ExcelError)));

  // `fbcheck serve` starts: the next attempt is answered.
  const server = await startBackend(
    {
      "POST /api/lookups": (body) => ({
        demo: true,
        results: body.items.map((item) => ({ status: "done", e164: "+" + item.value.slice(1), answer: item.value.endsWith("1") ? "yes" : "no" })),
      }),
    },
    { port },
  );
  try {
    await timers.runAll();
    assert.deepEqual(cell.last, [["yes"], ["no"]]);
    // Both cells in one request, as first asked, with the client header.
    const sent = server.to("POST /api/lookups");
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].body, { items: [{ value: "+41798284651", region: "CH" }, { value: "+41798284652", region: "CH" }] });
    assert.equal(statuses[statuses.length - 1].backendDown, false);
    // Nothing left to send or poll.
    assert.equal(timers.waiting.length, 0);
  } finally {
    await server.close();
  }
});

test("calls made while the backend is down go with the next retry; once it answers, batching waits for a pause again", async () => {
  const timers = new ManualTimers();
  let up = false;
  const posts = [];
  const backend = {
    async post(path, body) {
      posts.push({ at: timers.time, values: body.items.map((item) => item.value) });
      if (!up) {
        throw new BackendError(0, "backend_unreachable", "the backend does not answer");
      }
      return { demo: true, results: body.items.map(() => ({ status: "done", answer: "yes" })) };
    },
  };
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const first = invocation();
  batcher.call([["+1"]], null, first);
  await timers.advance(BATCH_DELAY_MS);
  assert.deepEqual(first.last, [[WAITING_FOR_BACKEND_TEXT]]);
  // Excel keeps calling while the retry waits: the calls join it, no quiet-time timer of their own.
  const second = invocation();
  await timers.advance(400);
  batcher.call([["+2"]], null, second);
  up = true;
  await timers.advance(backendRetryDelay(1) - 400);
  assert.deepEqual(
    posts.map((post) => [post.at, post.values]),
    [
      [BATCH_DELAY_MS, ["+1"]],
      [BATCH_DELAY_MS + backendRetryDelay(1), ["+1", "+2"]],
    ],
  );
  assert.deepEqual(first.last, [["yes"]]);
  assert.deepEqual(second.last, [["yes"]]);
  // The backend is up: a new call waits for Excel's pause, as before the outage.
  const third = invocation();
  batcher.call([["+3"]], null, third);
  await timers.advance(BATCH_DELAY_MS - 1);
  assert.equal(posts.length, 2);
  await timers.advance(1);
  assert.equal(posts.length, 3);
  assert.deepEqual(third.last, [["yes"]]);
});

test("the retry pause doubles from 1 s and stops growing at 30 s", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map(backendRetryDelay), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.equal(BACKEND_RETRY_MAX_MS, 30000);
});

test("a backend that refuses the request answers #N/A with its message, without retrying", async () => {
  const server = await startBackend({
    "POST /api/lookups": () => ({ status: 413, body: { error: "too_many_items", message: "send at most 10,000 items per request" } }),
  });
  try {
    const timers = new ManualTimers();
    const batcher = new LookupBatcher({ backend: createBackend({ baseUrl: server.url }), customFunctions, setTimer: timers.setTimer, now: timers.now });
    const cell = invocation();
    batcher.call([["+1"]], null, cell);
    await timers.runAll();
    assert.ok(cell.last instanceof ExcelError);
    assert.equal(cell.last.code, "#N/A");
    assert.equal(cell.last.message, "send at most 10,000 items per request");
    assert.equal(timers.waiting.length, 0);
  } finally {
    await server.close();
  }
});

test("a stale answer is shown marked, not bought; refreshStale asks again with refresh", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend((item) =>
    item.refresh ? { status: "done", answer: "no" } : { status: "done", answer: "yes", stale: true },
  );
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["+1"], ["+2"]], null, cell);
  await timers.runAll();
  assert.deepEqual(cell.last, [["yes" + STALE_SUFFIX], ["yes (stale)"]]);
  assert.equal(batcher.status().stale, 2);
  assert.equal(backend.posts.length, 1);

  assert.equal(batcher.refreshStale(), 2);
  assert.deepEqual(cell.last, [[PROGRESS_TEXT], [PROGRESS_TEXT]]);
  await timers.runAll();
  assert.deepEqual(backend.posts[1].body.items, [
    { value: "+1", region: null, refresh: true },
    { value: "+2", region: null, refresh: true },
  ]);
  assert.deepEqual(cell.last, [["no"], ["no"]]);
  assert.equal(batcher.status().stale, 0);
});

test("=FBCHECK(A2, , TRUE) sends its numbers with refresh", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "done", answer: "ban" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  batcher.call([["+1"]], null, invocation(), { refresh: true });
  batcher.call([["+1"]], null, invocation());
  await timers.runAll();
  // Two entries: the refresh is not lost by merging with the plain call of the same number.
  assert.deepEqual(backend.posts[0].body.items, [
    { value: "+1", region: null, refresh: true },
    { value: "+1", region: null },
  ]);
});

test("a batch awaiting confirmation: the cells say so, the pane hears it, then the answer", async () => {
  const timers = new ManualTimers();
  let confirmed = false;
  const backend = recordingBackend(
    (item) => ({ status: "pending", e164: item.value, progress: "queued" }),
    (body) => ({
      results: Object.fromEntries(
        body.numbers.map((number) => [
          number,
          confirmed ? { status: "done", answer: "yes" } : { status: "pending", progress: AWAITING_CONFIRMATION_TEXT },
        ]),
      ),
    }),
  );
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const heard = [];
  batcher.subscribe((status) => heard.push(status.awaiting));
  const cell = invocation();
  batcher.call([["+1"], ["+2"]], null, cell);
  await timers.runAll(); // the batch: queued
  assert.deepEqual(cell.last, [["queued"], ["queued"]]);
  await timers.runAll(); // a poll: held for confirmation
  assert.deepEqual(cell.last, [[AWAITING_CONFIRMATION_TEXT], [AWAITING_CONFIRMATION_TEXT]]);
  assert.equal(batcher.status().awaiting, 2);
  confirmed = true;
  await timers.runAll();
  assert.deepEqual(cell.last, [["yes"], ["yes"]]);
  assert.deepEqual(heard, [0, 2, 0]);
});

test("a failed poll keeps the cell waiting and polls again", async () => {
  const timers = new ManualTimers();
  let fail = true;
  const backend = recordingBackend(pending, () => {
    if (fail) {
      throw new Error("connection reset");
    }
    return { results: { "+1": { status: "done", answer: "yes" } } };
  });
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["+1"]], null, cell);
  await timers.runAll();
  await timers.runAll();
  assert.equal(cell.last[0][0], WAITING_FOR_BACKEND_TEXT);
  fail = false;
  await timers.runAll();
  assert.deepEqual(cell.last, [["yes"]]);
});

test("a cancelled cell is no longer polled nor updated", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(pending, () => ({ results: { "+1": { status: "done", answer: "yes" } } }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  batcher.call([["+1"]], null, cell);
  await timers.runAll();
  cell.onCanceled();
  await timers.runAll();
  assert.equal(backend.posts.filter((post) => post.path === "/api/lookups/poll").length, 0);
  assert.deepEqual(cell.last, [[PROGRESS_TEXT]]);
});

test("a cell cancelled before its batch is sent is left out of the batch", async () => {
  const timers = new ManualTimers();
  const backend = recordingBackend(() => ({ status: "done", answer: "yes" }));
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const gone = invocation();
  batcher.call([["+1"]], null, gone);
  batcher.call([["+2"]], null, invocation());
  gone.onCanceled();
  await timers.runAll();
  assert.deepEqual(backend.posts[0].body.items, [{ value: "+2", region: null }]);
});

test("over real HTTP: batch, poll and answers with the client header", async () => {
  let polls = 0;
  const server = await startBackend({
    "POST /api/lookups": (body) => ({
      demo: true,
      results: body.items.map((item) =>
        item.value === "+41798284651"
          ? { status: "done", e164: "+41798284651", answer: "no", reason: null, job_id: null }
          : { status: "pending", e164: "+41798284652", answer: null, reason: null, job_id: "j" },
      ),
    }),
    "POST /api/lookups/poll": (body) => {
      polls += 1;
      return {
        demo: true,
        results: Object.fromEntries(body.numbers.map((number) => [number, polls > 1 ? { status: "done", answer: "ban" } : { status: "pending", progress: "checking 50%" }])),
      };
    },
  });
  try {
    const timers = new ManualTimers();
    const batcher = new LookupBatcher({ backend: createBackend({ baseUrl: server.url }), customFunctions, setTimer: timers.setTimer, now: timers.now });
    const cell = invocation();
    batcher.call([["+41798284651"], [41798284652]], "CH", cell);
    await timers.runAll();
    assert.deepEqual(cell.last, [["no"], [PROGRESS_TEXT]]);
    await timers.runAll();
    assert.deepEqual(cell.last, [["no"], ["checking 50%"]]);
    await timers.runAll();
    assert.deepEqual(cell.last, [["no"], ["ban"]]);
    assert.deepEqual(server.requests[0].body, { items: [{ value: "+41798284651", region: "CH" }, { value: 41798284652, region: "CH" }] });
    assert.ok(server.requests.every((request) => request.headers["x-fbcheck-client"] === "fbcheck-taskpane/1"));
  } finally {
    await server.close();
  }
});

test("an error cell in the range answers #VALUE! alone; the other cells are checked", async () => {
  const timers = new ManualTimers();
  const answers = { "+1": { status: "done", answer: "yes" }, "+2": { status: "done", answer: "no" } };
  const backend = recordingBackend((item) => answers[item.value]);
  const batcher = new LookupBatcher({ backend, customFunctions, setTimer: timers.setTimer, now: timers.now });
  const cell = invocation();
  // As Excel passes error inputs with allowErrorForDataTypeAny: an error object per cell.
  batcher.call([["+1"], [new ExcelError("#DIV/0!")], [{ type: "Error", basicValue: "#N/A" }], ["+2"]], null, cell);
  await timers.runAll();
  assert.deepEqual(
    backend.posts[0].body.items.map((item) => item.value),
    ["+1", "+2"],
  );
  const [first, divided, missing, last] = cell.last;
  assert.deepEqual(first, ["yes"]);
  assert.deepEqual(last, ["no"]);
  assert.equal(divided[0].code, "#VALUE!");
  assert.equal(divided[0].message, "the cell holds #DIV/0!, not a phone number");
  assert.equal(missing[0].code, "#VALUE!");
  assert.equal(missing[0].message, "the cell holds #N/A, not a phone number");
});

test("inputError: only objects are errors; text, numbers, booleans and empty cells are not", () => {
  for (const value of ["+41798284651", 41798284651, true, "", null, undefined, "#N/A"]) {
    assert.equal(inputError(value, customFunctions), null, String(value));
  }
  assert.equal(inputError(new ExcelError("#REF!"), customFunctions), "#REF!");
  assert.equal(inputError({ errorType: "Div0" }, customFunctions), "Div0");
  assert.equal(inputError({}, customFunctions), "an error");
});
