// The backend client: header, JSON body, error messages (addin/static/backend-client.js).

import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";

import { BackendError, createBackend, describeError } from "../../addin/static/backend-client.js";
import { startBackend } from "./fake-backend.mjs";

test("sends the client header and JSON, returns the answer", async () => {
  const server = await startBackend({ "PUT /api/settings": (body) => ({ demo: true, echoed: body }) });
  try {
    const answer = await createBackend({ baseUrl: server.url }).put("/api/settings", { region: "CH" });
    assert.deepEqual(answer, { demo: true, echoed: { region: "CH" } });
    assert.equal(server.requests[0].headers["x-fbcheck-client"], "fbcheck-taskpane/1");
  } finally {
    await server.close();
  }
});

test("an error body becomes a BackendError with its code and message", async () => {
  const server = await startBackend({});
  try {
    await assert.rejects(createBackend({ baseUrl: server.url }).get("/api/nothing"), (error) => {
      assert.ok(error instanceof BackendError);
      assert.equal(error.status, 404);
      assert.equal(error.code, "not_found");
      assert.equal(describeError(error), "No route GET /api/nothing.");
      return true;
    });
  } finally {
    await server.close();
  }
});

test("a non-JSON answer is named, not a parse error", async () => {
  const server = http.createServer((request, response) => {
    response.writeHead(request.url === "/ok" ? 200 : 502, { "Content-Type": "text/html" });
    response.end("<h1>Bad gateway</h1>");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const backend = createBackend({ baseUrl: `http://127.0.0.1:${server.address().port}` });
  try {
    await assert.rejects(backend.get("/broken"), { status: 502, code: "http_502", message: "The backend answered 502 to GET /broken." });
    await assert.rejects(backend.get("/ok"), { code: "bad_response", message: /not JSON/ });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("an unreachable backend says how to start it", async () => {
  await assert.rejects(createBackend({ baseUrl: "http://127.0.0.1:9" }).get("/api/health"), {
    status: 0,
    code: "backend_unreachable",
    message: "The FBCheck backend does not answer. Is `fbcheck serve` running?",
  });
});

test("describeError names Office.js errors and plain ones", () => {
  assert.equal(describeError({ code: "InvalidArgument", message: "Bad range" }), "Excel refused: Bad range (InvalidArgument)");
  assert.equal(describeError(new Error("boom")), "boom");
  const ours = Object.assign(new Error("Select one column per area."), { code: "selection_too_wide" });
  assert.equal(describeError(ours), "Select one column per area.");
});
