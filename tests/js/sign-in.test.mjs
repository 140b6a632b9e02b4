// The team server's sign-in (addin/static/sign-in.js): where the token is kept, that
// every backend call sends it as a bearer token, and what a refused token does.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createBackend } from "../../addin/static/backend-client.js";
import { LookupBatcher, WAITING_FOR_SIGN_IN_TEXT } from "../../addin/static/lookup-batcher.js";
import { SIGN_IN_CODES, TOKEN_KEY, createTokenStore } from "../../addin/static/sign-in.js";
import { startBackend } from "./fake-backend.mjs";

/** An OfficeRuntime.storage stand-in: asynchronous, like Office's. */
function officeStorage() {
  const items = new Map();
  return {
    items,
    getItem: async (key) => (items.has(key) ? items.get(key) : null),
    setItem: async (key, value) => {
      items.set(key, String(value));
    },
    removeItem: async (key) => {
      items.delete(key);
    },
  };
}

/** A localStorage stand-in: synchronous, like the browser's. */
function localStorageStandIn() {
  const items = new Map();
  return {
    items,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
  };
}

test("the token is kept in OfficeRuntime.storage when Office has it, not in localStorage", async () => {
  const storage = officeStorage();
  const local = localStorageStandIn();
  const store = createTokenStore({ scope: { OfficeRuntime: { storage }, localStorage: local } });
  assert.equal(await store.get(), null);
  await store.set("  fbct_abc  ");
  assert.equal(storage.items.get(TOKEN_KEY), "fbct_abc");
  assert.equal(local.items.size, 0);
  // Another part of the add-in (a second store over the same storage) reads it.
  const other = createTokenStore({ scope: { OfficeRuntime: { storage } } });
  assert.equal(await other.get(), "fbct_abc");
  await store.clear();
  assert.equal(storage.items.has(TOKEN_KEY), false);
  assert.equal(await store.get(), null);
});

test("without OfficeRuntime the page's localStorage keeps it; without either, memory only", async () => {
  const local = localStorageStandIn();
  const store = createTokenStore({ scope: { localStorage: local } });
  await store.set("fbct_local");
  assert.equal(local.items.get(TOKEN_KEY), "fbct_local");
  const bare = createTokenStore({ scope: {} });
  await bare.set("fbct_memory");
  assert.equal(await bare.get(), "fbct_memory");
});

test("an empty token or one with spaces is refused with a sentence", async () => {
  const store = createTokenStore({ scope: {} });
  await assert.rejects(store.set("   "), /Type the personal token/);
  await assert.rejects(store.set("fbct_a b"), /no spaces/);
  assert.equal(await store.get(), null);
});

test("every call sends the token as a bearer header, never in the URL", async () => {
  const server = await startBackend({
    "GET /api/jobs": () => ({ demo: true, jobs: [] }),
    "POST /api/lookups": () => ({ demo: true, results: [] }),
  });
  try {
    const tokens = createTokenStore({ scope: {} });
    const backend = createBackend({ baseUrl: server.url, tokens });
    await backend.get("/api/jobs");
    await tokens.set("fbct_secret");
    await backend.get("/api/jobs");
    await backend.post("/api/lookups", { items: [] });
    const [before, ...after] = server.requests;
    assert.equal(before.headers.authorization, undefined);
    for (const request of after) {
      assert.equal(request.headers.authorization, "Bearer fbct_secret");
      assert.ok(!request.path.includes("fbct_"), request.path);
      assert.equal(request.headers["x-fbcheck-client"], "fbcheck-taskpane/1");
    }
  } finally {
    await server.close();
  }
});

test("a 401 with a sign-in code tells the token store's listeners; other refusals do not", async () => {
  let status = 401;
  let code = "token_refused";
  const server = await startBackend({
    "GET /api/jobs": () => ({ status, body: { error: code, message: "Sign in again: this token is wrong or was revoked.", demo: true } }),
  });
  try {
    const tokens = createTokenStore({ scope: {} });
    const heard = [];
    tokens.onSignInNeeded((what, message) => heard.push([what, message]));
    const backend = createBackend({ baseUrl: server.url, tokens });
    for (const sent of SIGN_IN_CODES) {
      code = sent;
      await assert.rejects(backend.get("/api/jobs"), (error) => error.status === 401 && error.code === sent);
    }
    assert.deepEqual(
      heard.map(([what]) => what),
      ["token_required", "token_refused"],
    );
    assert.match(heard[1][1], /^Sign in again/);
    status = 403;
    code = "admin_only";
    await assert.rejects(backend.get("/api/jobs"), (error) => error.status === 403);
    assert.equal(heard.length, 2);
  } finally {
    await server.close();
  }
});

test("=FBCHECK cells wait for the sign-in instead of failing, then are answered with the token", async () => {
  const server = await startBackend({
    "POST /api/lookups": (body, request) =>
      request.headers.authorization === "Bearer fbct_good"
        ? { demo: true, results: body.items.map(() => ({ status: "done", e164: "+41798284651", answer: "yes" })) }
        : { status: 401, body: { error: "token_refused", message: "Sign in again.", demo: true } },
  });
  // Timers run by hand on a hand-moved clock: no waiting on the real one.
  let time = 0;
  const waiting = [];
  const timers = { setTimer: (callback, ms) => waiting.push({ callback, at: time + ms }) };
  /** Run timers in order until ``done()`` holds (at most 20). */
  async function runUntil(done) {
    for (let step = 0; step < 20 && !done(); step += 1) {
      waiting.sort((a, b) => a.at - b.at);
      const next = waiting.shift();
      assert.ok(next, "nothing scheduled");
      time = Math.max(time, next.at);
      await next.callback();
    }
  }
  try {
    const tokens = createTokenStore({ scope: {} });
    await tokens.set("fbct_revoked");
    const customFunctions = { Error: class {}, ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A" } };
    const batcher = new LookupBatcher({
      backend: createBackend({ baseUrl: server.url, tokens }),
      customFunctions,
      setTimer: timers.setTimer,
      now: () => time,
    });
    const results = [];
    batcher.call("+41798284651", undefined, { setResult: (value) => results.push(value) });
    const last = () => JSON.stringify(results.at(-1));
    await runUntil(() => last() === JSON.stringify([[WAITING_FOR_SIGN_IN_TEXT]]));
    assert.deepEqual(results.at(-1), [[WAITING_FOR_SIGN_IN_TEXT]]);
    assert.ok(results.every((value) => !(value instanceof customFunctions.Error)));
    // The user signs in again in the pane: the retry carries the new token.
    await tokens.set("fbct_good");
    assert.ok(waiting.length > 0, "a retry is scheduled");
    await runUntil(() => last() === JSON.stringify([["yes"]]));
    assert.deepEqual(results.at(-1), [["yes"]]);
    const auth = server.to("POST /api/lookups").map((request) => request.headers.authorization);
    assert.deepEqual(auth, ["Bearer fbct_revoked", "Bearer fbct_good"]);
  } finally {
    await server.close();
  }
});
