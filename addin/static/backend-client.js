// The task pane's and the custom functions' only way to the FBCheck backend.
// Same origin, JSON in and out, and the X-FBCheck-Client header the backend
// requires on every /api/ and /xlwings/ route (docs/addin-api.md). On the team
// server, also the signed-in user's token as "Authorization: Bearer" (sign-in.js);
// a 401 there tells the token store, and the pane asks to sign in again.

import { SIGN_IN_CODES, tokens as pageTokens } from "./sign-in.js";

/** The header and value that mark a request as coming from our own page. */
export const CLIENT_HEADER = "X-FBCheck-Client";
export const CLIENT_NAME = "fbcheck-taskpane/1";

/** A refused or failed backend call: HTTP status (0 when unreachable), error code, message. */
export class BackendError extends Error {
  /** Build an error from the backend's {"error", "message"} body. */
  constructor(status, code, message) {
    super(message);
    this.name = "BackendError";
    this.status = status;
    this.code = code;
  }
}

/**
 * Return a client whose request(method, path, body) answers the parsed JSON or throws BackendError.
 * ``tokens``: where the team server's token comes from (sign-in.js; null: never sent).
 */
export function createBackend({ fetch: fetchFunction = globalThis.fetch, baseUrl = "", tokens = pageTokens } = {}) {
  async function request(method, path, body) {
    const init = { method, headers: { [CLIENT_HEADER]: CLIENT_NAME }, cache: "no-store" };
    const token = tokens ? await tokens.get() : null;
    if (token) {
      init.headers.Authorization = `Bearer ${token}`;
    }
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetchFunction(baseUrl + path, init);
    } catch (error) {
      throw new BackendError(
        0,
        "backend_unreachable",
        "The FBCheck backend does not answer. Is `fbcheck serve` running?",
      );
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      // A proxy or a crash page: say what we got rather than a JSON parse error.
      data = null;
    }
    if (!response.ok) {
      const code = (data && data.error) || "http_" + response.status;
      const message =
        (data && data.message) || `The backend answered ${response.status} to ${method} ${path}.`;
      if (response.status === 401 && tokens && SIGN_IN_CODES.includes(code)) {
        tokens.signInNeeded(code, message);
      }
      throw new BackendError(response.status, code, message);
    }
    if (data === null || typeof data !== "object") {
      throw new BackendError(
        response.status,
        "bad_response",
        `The backend answered ${method} ${path} with something that is not JSON.`,
      );
    }
    return data;
  }

  return {
    request,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body === undefined ? {} : body),
    put: (path, body) => request("PUT", path, body),
  };
}

/** Return a one-line human message for any error thrown while talking to the backend or Excel. */
export function describeError(error) {
  if (error instanceof BackendError) {
    return error.message;
  }
  if (error && typeof error.code === "string" && /^[A-Z][A-Za-z]+$/.test(error.code) && error.message) {
    // Office.js errors (OfficeExtension.Error) carry a PascalCase code such as
    // InvalidArgument; our own errors use snake_case codes and say it all.
    return `Excel refused: ${error.message} (${error.code})`;
  }
  return (error && error.message) || String(error);
}
