// Task pane entry: wires the page, the ribbon command and =FBCHECK together.
// Plan, confirmation, live progress, cancel, history, settings, account and
// cache. The DOM is built with textContent only (no HTML from data), and the
// page's CSP forbids inline script, so every handler is attached here.

import { createBackend, describeError } from "./backend-client.js";
import { CheckSession, excelRunner } from "./selection-check.js";
import { provideAction } from "./registration.js";
import { applyOfficeTheme } from "./office-theme.js";
import { fillFigures, planFigures } from "./figures.js";
import { fillResultBar } from "./result-bar.js";
import { selectTab, setupTabs, showSection, watchAttention } from "./tabs.js";
import { tokens } from "./sign-in.js";
import "./functions.js";
import "./lookup-pane.js";

const backend = createBackend();

/** The session the ribbon button and the pane share (one runtime, one module instance). */
export const session = new CheckSession({
  backend,
  excelRun: (callback) => {
    if (typeof Excel === "undefined") {
      // Opened in a plain browser: there is no workbook to read.
      return Promise.reject(new Error("Excel is not available: open this pane from the FB Check tab in Excel."));
    }
    return excelRunner(Excel)(callback);
  },
  showPane: async () => {
    // The ribbon's Check selection: its plan and progress are on the Check tab.
    showSection("panel-check");
    if (typeof Office !== "undefined" && Office.addin && Office.addin.showAsTaskpane) {
      await Office.addin.showAsTaskpane();
    }
  },
});

/** Return the element with ``id``. */
function byId(id) {
  return document.getElementById(id);
}

setupTabs(document.querySelector('[role="tablist"]'));
// A question waiting on the Check tab (a choice, a confirmation, uploads waiting for
// the user's word, a held =FBCHECK batch) marks that tab while another one is shown.
watchAttention(
  byId("tab-check"),
  ["choice-box", "confirm-box", "wait-box", "rewrite-button", "held-box", "short-box"].map(byId),
);

/** Show or hide the DEMO banner from a backend answer's "demo" flag. */
function noteDemo(demo) {
  if (demo === true || demo === false) {
    byId("demo-banner").hidden = !demo;
  }
}

/** Set a status line's text, red when it reports an error. */
function setStatus(id, text, isError = false) {
  const element = byId(id);
  element.textContent = text;
  element.classList.toggle("error", Boolean(isError));
}

/** Return the invalid rows of a plan (cells that hold no phone number), 0 without a plan. */
function invalidRows(plan) {
  return plan && Number.isFinite(plan.invalid) ? plan.invalid : 0;
}

/** Return a short human duration: "12 s", "about 3 min", "about 2 h". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) {
    return undefined;
  }
  if (seconds < 60) {
    return `${Math.max(0, Math.round(seconds))} s`;
  }
  if (seconds < 3600) {
    return `about ${Math.round(seconds / 60)} min`;
  }
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

// ---- the current check ---------------------------------------------------

/** Draw the plan, confirmation, progress and message of ``check``. */
function renderCheck(check) {
  if (check !== session.current) {
    return;
  }
  noteDemo(check.demo);
  setStatus("check-message", check.message || "", ["error", "unwritten"].includes(check.phase));
  byId("check-button").disabled = ["reading", "submitting", "writing"].includes(check.phase);

  const plan = check.plan;
  byId("plan").hidden = !plan;
  if (plan) {
    fillFigures(byId("plan-figures"), [
      ["rows", plan.rows],
      ["invalid", plan.invalid],
      ...planFigures(plan),
      ["not sent (under the minimum)", plan.held || undefined],
      ["balance (asked now)", plan.balance],
    ]);
  }
  byId("confirm-box").hidden = check.phase !== "confirm";

  // The answer column holds the user's data: nothing is planned until they choose.
  byId("choice-box").hidden = check.phase !== "choose";
  if (check.phase === "choose") {
    const letters = check.freeColumnLetters();
    const free = byId("free-column-button");
    free.disabled = letters === null;
    free.textContent = letters === null ? "No free column to the right" : `Write into column ${letters} (the first free one to the right)`;
  }

  const progress = check.progress;
  byId("progress").hidden = !progress;
  if (progress) {
    const counts = progress.counts || {};
    const distinct = progress.distinct || 0;
    byId("progress-bar").value = distinct ? (progress.answered || 0) / distinct : 0;
    byId("progress-text").textContent =
      `${progress.state}: ${progress.answered || 0} of ${distinct} numbers answered` +
      (progress.tasks_open ? `, ${progress.tasks_open} task(s) open` : "");
    fillResultBar(byId("progress-result"), { ...counts, invalid: invalidRows(progress.plan || plan) });
    fillFigures(byId("progress-figures"), [
      ["pending", counts.pending],
      ["tasks", progress.tasks],
      ["billed", progress.billed],
      // Requests that got no usable answer: the vendor may have billed them.
      ["possibly billed", progress.possibly_billed ? progress.possibly_billed : undefined],
      [
        "uploads that may have been billed twice",
        progress.uncertain_creates ? progress.uncertain_creates : undefined,
      ],
      ["time left", progress.state === "running" ? formatDuration(progress.eta_seconds) : undefined],
      ["problem", progress.error || undefined],
      ["written to the sheet", check.written],
      ["skipped (cell changed)", check.skipped],
      ["not written (your data there)", check.kept || undefined],
      ["could not write", check.writeError || undefined],
    ]);
  }
  byId("cancel-button").hidden = check.phase !== "running";
  byId("rewrite-button").hidden = check.phase !== "unwritten";

  // A settled job that waits for the user's word (or is paused): say why, offer the choice.
  const choice = check.choice;
  byId("wait-box").hidden = !choice;
  if (choice) {
    byId("wait-text").textContent = choice.text;
    byId("resend-button").hidden = !choice.resend;
    byId("abandon-button").hidden = !choice.abandon;
  }
}

session.subscribe(renderCheck);

byId("check-button").addEventListener("click", () => {
  session.startCheck();
});
byId("confirm-button").addEventListener("click", () => {
  byId("confirm-box").hidden = true;
  session.current.confirm();
});
byId("discard-button").addEventListener("click", () => {
  byId("confirm-box").hidden = true;
  session.current.discard();
});
byId("free-column-button").addEventListener("click", () => {
  byId("choice-box").hidden = true;
  session.current.chooseFreeColumn();
});
byId("overwrite-button").addEventListener("click", () => {
  byId("choice-box").hidden = true;
  session.current.chooseOverwrite();
});
byId("choice-cancel-button").addEventListener("click", () => {
  byId("choice-box").hidden = true;
  session.current.chooseCancel();
});
byId("cancel-button").addEventListener("click", () => {
  session.current.cancel();
});
byId("rewrite-button").addEventListener("click", () => {
  session.current.rewrite();
});
byId("resend-button").addEventListener("click", () => {
  session.current.resend();
});
byId("abandon-button").addEventListener("click", () => {
  session.current.abandon();
});

// ---- history -------------------------------------------------------------

/** Return one History entry for a job's progress dict: label, state, when, result bar. */
function historyRow(job) {
  const row = document.createElement("li");
  row.className = "job";
  const counts = job.counts || {};
  const head = document.createElement("div");
  head.className = "job-head";
  const label = document.createElement("span");
  label.className = "job-label";
  label.textContent = job.label || job.job_id.slice(0, 8);
  const state = document.createElement("span");
  state.className = `job-state ${job.state}`;
  state.textContent = job.state;
  head.append(label, state);
  const when = document.createElement("p");
  when.className = "job-when";
  // created_at is in seconds since the epoch (the backend's clock).
  when.textContent = job.created_at ? new Date(job.created_at * 1000).toLocaleString() : "";
  const result = document.createElement("div");
  result.className = "result";
  fillResultBar(result, { ...counts, invalid: invalidRows(job.plan) });
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Write again";
  button.addEventListener("click", () => {
    // Its progress and any question it asks are on the Check tab.
    selectTab(byId("tab-check"));
    session.writeAgain(job.job_id);
  });
  row.append(head, when, result, button);
  return row;
}

/** Load the job history, newest first. */
async function loadHistory() {
  try {
    const answer = await backend.get("/api/jobs");
    noteDemo(answer.demo);
    const rows = (answer.jobs || []).map(historyRow);
    byId("history-rows").replaceChildren(...rows);
    setStatus("history-status", rows.length ? "" : "No checks yet.");
  } catch (error) {
    setStatus("history-status", describeError(error), true);
  }
}

byId("history-refresh").addEventListener("click", loadHistory);
session.onHistoryChange(loadHistory);
// Each job bills: the account's figures change with it (issue 10, item 14).
session.onHistoryChange(() => loadAccount());

// ---- settings, account, cache --------------------------------------------

/** Show the stored settings (the key only masked). */
function showSettings(settings) {
  noteDemo(settings.demo);
  // The team server's key lives on the server only: no field for it, its fingerprint shown.
  byId("api-key-field").hidden = settings.team === true;
  byId("team-key").hidden = settings.team !== true;
  if (settings.team === true) {
    byId("team-key").textContent = settings.key_fingerprint
      ? `The vendor API key is set on the team server (fingerprint ${settings.key_fingerprint}).`
      : "No vendor API key is set on the team server: DEMO mode.";
  }
  byId("api-key-current").textContent = settings.api_key || "not set";
  byId("api-key").value = "";
  byId("api-key").placeholder = settings.api_key || "not set";
  byId("region").value = settings.region || "";
  byId("cache-ttl").value = settings.cache_ttl_days ?? "";
  byId("confirm-above").value = settings.confirm_above ?? "";
}

/** Load the settings. */
async function loadSettings() {
  try {
    showSettings(await backend.get("/api/settings"));
  } catch (error) {
    setStatus("settings-status", describeError(error), true);
  }
}

/** Send changed settings once with PUT /api/settings, then show what the backend stored. */
async function saveSettings(changes, doneText) {
  try {
    await backend.put("/api/settings", changes);
    await loadSettings();
    await Promise.all([loadHealth(), loadAccount()]);
    setStatus("settings-status", doneText);
  } catch (error) {
    setStatus("settings-status", describeError(error), true);
  }
}

byId("settings-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const changes = {
    region: byId("region").value.trim().toUpperCase(),
    cache_ttl_days: Number(byId("cache-ttl").value),
    confirm_above: Number(byId("confirm-above").value),
  };
  const key = byId("api-key").value.trim();
  if (key) {
    // Sent once; the field is emptied and only the masked key comes back.
    changes.api_key = key;
  }
  saveSettings(changes, "Settings saved.");
});
byId("api-key-remove").addEventListener("click", () => {
  saveSettings({ api_key: "" }, "API key removed: DEMO mode.");
});

/**
 * Show what is known of the vendor account. `live` (the Check balance button: a person
 * looks) asks the v1 balance route, which the vendor may bill; nothing else calls it.
 */
async function loadAccount(live = false) {
  try {
    const account = await backend.get(live ? "/api/account?balance=live" : "/api/account");
    noteDemo(account.demo);
    const pairs = Object.entries(account)
      .filter(([name]) => name !== "demo" && name !== "balance_live")
      .map(([name, value]) => [
        name === "balance" && account.balance_live ? "balance (asked the vendor now)" : name.replaceAll("_", " "),
        typeof value === "object" && value !== null ? JSON.stringify(value) : value,
      ]);
    fillFigures(byId("account-details"), pairs);
  } catch (error) {
    fillFigures(byId("account-details"), [["state", describeError(error)]]);
  }
}

byId("check-balance").addEventListener("click", () => loadAccount(true));

// ---- =FBCHECK look-ups too few for one task of the vendor (below its minimum) ----

/** How often the pane asks the backend (not the vendor) about held look-ups, in ms. */
const SHORT_INTERVAL_MS = 5000;
/** The held count the user chose to keep waiting for (the prompt returns when it changes). */
let shortAcknowledged = 0;

/** Show the wait-or-drop prompt while look-ups are held (fewer new numbers than the minimum). */
async function loadShort() {
  try {
    const answer = await backend.get("/api/lookups/below-minimum");
    const box = byId("short-box");
    if (!answer.waiting) {
      shortAcknowledged = 0;
      box.hidden = true;
      return;
    }
    byId("short-text").textContent =
      `${answer.waiting} =FBCHECK number(s) are not sent yet: the vendor takes at least ` +
      `${answer.minimum} new numbers per task, and nothing is added to make up the difference. ` +
      "They are sent with the next ones until enough are waiting, or drop them (their cells then say why).";
    box.hidden = answer.waiting === shortAcknowledged;
  } catch (error) {
    setStatus("short-status", describeError(error), true);
  }
}

byId("short-wait").addEventListener("click", async () => {
  const answer = await backend.get("/api/lookups/below-minimum");
  shortAcknowledged = answer.waiting;
  byId("short-box").hidden = true;
});
byId("short-drop").addEventListener("click", async () => {
  try {
    const answer = await backend.post("/api/lookups/below-minimum/drop");
    setStatus("short-status", `Dropped ${answer.dropped} number(s).`);
    await loadShort();
  } catch (error) {
    setStatus("short-status", describeError(error), true);
  }
});
setInterval(loadShort, SHORT_INTERVAL_MS);

byId("clear-cache").addEventListener("click", async () => {
  try {
    const answer = await backend.post("/api/cache/clear");
    setStatus("cache-status", `Cleared ${answer.cleared} cached answer(s).`);
  } catch (error) {
    setStatus("cache-status", describeError(error), true);
  }
});

// ---- start-up ------------------------------------------------------------

/**
 * Ask the backend whether it runs, in demo mode, and whether it is a team server;
 * return false when the team server needs a sign-in first (the sign-in form is shown).
 */
async function loadHealth() {
  try {
    const health = await backend.get("/api/health");
    noteDemo(health.demo);
    setStatus(
      "backend-status",
      `Connected to the FBCheck ${health.team ? "team server" : "backend"} (version ${health.version})${
        health.demo ? ", DEMO mode." : "."
      }`,
    );
    if (health.team === true) {
      return await checkSignIn();
    }
  } catch (error) {
    setStatus("backend-status", describeError(error), true);
  }
  return true;
}

// ---- the team server's sign-in --------------------------------------------

/** Show the sign-in form with ``text`` (a refused token: "Sign in again: ..."). */
function showSignIn(text) {
  byId("sign-in").hidden = false;
  byId("signed-in").hidden = true;
  setStatus("sign-in-status", text, /again/i.test(text));
  byId("sign-in-token").value = "";
}

/** Ask the team server who the stored token belongs to; false (form shown) without one. */
async function checkSignIn() {
  if (!(await tokens.get())) {
    showSignIn("Not signed in yet.");
    return false;
  }
  try {
    const me = await backend.get("/api/whoami");
    byId("sign-in").hidden = true;
    byId("signed-in").hidden = false;
    byId("signed-in-text").textContent = `Signed in as ${me.user}${me.admin ? " (admin: every job)" : ""}.`;
    return true;
  } catch (error) {
    // A 401 has shown the form already (below); anything else is said on the status line.
    if (!(error && error.status === 401)) {
      setStatus("backend-status", describeError(error), true);
    }
    return false;
  }
}

// Any call refused for its token (the pane's, the ribbon's, =FBCHECK's) asks to sign in again.
tokens.onSignInNeeded((code, message) => showSignIn(message));

byId("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await tokens.set(byId("sign-in-token").value);
  } catch (error) {
    setStatus("sign-in-status", describeError(error), true);
    return;
  }
  if (await checkSignIn()) {
    loadSettings();
    loadAccount();
    loadHistory();
  }
});

byId("sign-out").addEventListener("click", async () => {
  await tokens.clear();
  showSignIn("Signed out: the token was removed from this add-in's storage.");
});

/** Load everything the pane shows. */
function start() {
  try {
    if (typeof Office !== "undefined" && Office.context) {
      applyOfficeTheme(Office.context.officeTheme);
    }
  } catch (error) {
    // A host without the theme API: the light default stays; the pane still loads.
    console.warn("Office theme not applied:", error);
  }
  loadHealth().then((ready) => {
    if (ready) {
      loadSettings();
      loadAccount();
      loadHistory();
    }
  });
}

// The ribbon's ExecuteFunction button; the shared runtime keeps this page alive.
// early-registration.js associated it before the modules loaded and kept any press.
provideAction("checkSelection", (event) => session.handleRibbonEvent(event));

if (typeof Office !== "undefined" && Office.onReady) {
  Office.onReady(start);
} else {
  start();
}
