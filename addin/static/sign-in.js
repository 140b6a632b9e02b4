// The team server's sign-in: the user's personal token, typed once into the pane,
// kept in the add-in's own storage and sent as "Authorization: Bearer" by every
// backend call of the pane, the ribbon command and =FBCHECK (never in a URL).
//
// Where it is kept: OfficeRuntime.storage when Office provides it, "asynchronous,
// global, and persistent key-value storage" (SharedRuntime 1.1, 10 MB per domain:
// https://learn.microsoft.com/javascript/api/office-runtime/officeruntime.storage),
// shared by the task pane and the custom functions on every platform; else the
// page's localStorage (a plain browser, and what the shared runtime's parts share
// anyway, as they run in one page: Microsoft's "excel-shared-runtime-global-state"
// sample). The local backend has no sign-in: nothing is stored or sent there.

/** The storage key of the token. */
export const TOKEN_KEY = "fbcheck.teamToken";
/** The backend's 401 codes that mean "sign in (again)" (addin/web/security.py). */
export const SIGN_IN_CODES = ["token_required", "token_refused"];
/** What the pane says when a token is refused. */
export const SIGN_IN_AGAIN = "Sign in again: your token was not accepted (wrong, or revoked by an admin).";

/** Return the storage to use: OfficeRuntime.storage, else an async wrapper of localStorage, else null. */
function pickStorage(scope) {
  const runtime = scope.OfficeRuntime;
  if (runtime && runtime.storage && typeof runtime.storage.getItem === "function") {
    return runtime.storage;
  }
  let local = null;
  try {
    local = scope.localStorage || null;
  } catch (error) {
    // A sandboxed frame may refuse access to localStorage: no storage, sign in each time.
    local = null;
  }
  if (!local) {
    return null;
  }
  return {
    getItem: async (key) => local.getItem(key),
    setItem: async (key, value) => local.setItem(key, value),
    removeItem: async (key) => local.removeItem(key),
  };
}

/**
 * Return the token store: get() (the token or null), set(token), clear(), and
 * onSignInNeeded(listener) / signInNeeded(message) for a refused token.
 * ``scope`` holds OfficeRuntime and localStorage (default: globalThis), read on use.
 */
export function createTokenStore({ scope = globalThis } = {}) {
  let cached; // undefined until read once
  const listeners = new Set();

  async function get() {
    if (cached !== undefined) {
      return cached;
    }
    const storage = pickStorage(scope);
    let value = null;
    if (storage) {
      try {
        value = await storage.getItem(TOKEN_KEY);
      } catch (error) {
        value = null;
      }
    }
    cached = typeof value === "string" && value ? value : null;
    return cached;
  }

  async function set(token) {
    const text = String(token || "").trim();
    if (!text) {
      throw new Error("Type the personal token an admin gave you.");
    }
    if (/\s/.test(text)) {
      throw new Error("A token has no spaces: paste it exactly as it was given.");
    }
    cached = text;
    const storage = pickStorage(scope);
    if (storage) {
      await storage.setItem(TOKEN_KEY, text);
    }
  }

  async function clear() {
    cached = null;
    const storage = pickStorage(scope);
    if (storage) {
      await storage.removeItem(TOKEN_KEY);
    }
  }

  function onSignInNeeded(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  function signInNeeded(code, message) {
    for (const listener of listeners) {
      listener(code, message);
    }
  }

  /** Forget the cached token so the next get() reads the storage again (another part stored one). */
  function reload() {
    cached = undefined;
  }

  return { get, set, clear, reload, onSignInNeeded, signInNeeded };
}

/** The one token store of the page: the pane, the ribbon command and =FBCHECK share it. */
export const tokens = createTokenStore();
