// A real HTTP server on 127.0.0.1 that plays the FBCheck backend for the
// JavaScript tests: each route answers from a handler, every request is kept.

import http from "node:http";

/**
 * Start a backend with ``routes``: {"POST /path": (body, request) => {status, body} | body},
 * on ``port`` (default: a free one). A route key may end in "*" to match every path with
 * that prefix. Each request is kept with its body's size in bytes as sent.
 */
export async function startBackend(routes, { port: wanted = 0 } = {}) {
  const requests = [];
  const server = http.createServer((request, response) => {
    const parts = [];
    request.on("data", (chunk) => {
      parts.push(chunk);
    });
    request.on("end", async () => {
      const raw = Buffer.concat(parts);
      const body = raw.length ? JSON.parse(raw.toString("utf8")) : null;
      requests.push({ method: request.method, path: request.url, headers: request.headers, body, bytes: raw.length });
      const key = `${request.method} ${request.url}`;
      let handler = routes[key];
      if (handler === undefined) {
        const prefix = Object.keys(routes).find((route) => route.endsWith("*") && key.startsWith(route.slice(0, -1)));
        handler = prefix === undefined ? undefined : routes[prefix];
      }
      let status = 200;
      let answer;
      if (handler === undefined) {
        status = 404;
        answer = { error: "not_found", message: `No route ${request.method} ${request.url}.` };
      } else {
        let result;
        try {
          result = await handler(body, request);
        } catch (error) {
          // A failed assertion in a handler answers 500 with its message instead of hanging.
          result = { status: 500, body: { error: "test_handler_failed", message: String(error && error.message) } };
        }
        if (result && result.status && result.body) {
          status = result.status;
          answer = result.body;
        } else {
          answer = result;
        }
      }
      response.writeHead(status, { "Content-Type": "application/json" });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise((resolve) => server.listen(wanted, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Requests to one "METHOD /path". */
    to(route) {
      return requests.filter((request) => `${request.method} ${request.path}` === route);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** Return a loopback port nothing listens on (taken, then released). */
export async function freePort() {
  const probe = http.createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
