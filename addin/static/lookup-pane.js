// The task pane's =FBCHECK section: the look-up batch held for confirmation (its
// estimate, Confirm / Cancel) and the cells showing stale answers (check them again).
// The shared runtime runs the pane and the custom functions in one page, so this
// module listens to the same LookupBatcher that streams the cells.

import { createBackend, describeError } from "./backend-client.js";
import { fillFigures, planFigures } from "./figures.js";
import { batcher } from "./functions.js";

const backend = createBackend();
/** The held batch on screen ({batch_id, version, numbers, plan}), or null. */
let shown = null;
let loading = null;

/** Return the element with ``id``. */
function byId(id) {
  return document.getElementById(id);
}

/** Set the section's status line, red for an error. */
function say(text, isError = false) {
  const line = byId("lookups-status");
  line.textContent = text;
  line.classList.toggle("error", Boolean(isError));
}

/** Show the section when it has something to say. */
function updateSection() {
  const status = batcher ? batcher.status() : { stale: 0 };
  byId("held-box").hidden = !shown;
  byId("stale-box").hidden = status.stale === 0;
  if (status.stale) {
    byId("stale-text").textContent =
      `${status.stale} cell(s) show an answer older than the cache lifetime, such as "yes (stale)". ` +
      "Checking them again uploads those numbers (billed).";
  }
  byId("lookups").hidden = !shown && status.stale === 0 && !byId("lookups-status").textContent;
}

/** Draw the held batch. */
function showHeld(held) {
  shown = held;
  if (held) {
    const plan = held.plan || {};
    byId("held-text").textContent =
      `=FBCHECK wants to upload ${plan.to_upload} numbers, more than your confirmation threshold. ` +
      "Nothing is billed until you confirm; the cells say \"awaiting confirmation\".";
    fillFigures(byId("held-figures"), planFigures(plan));
  }
  updateSection();
}

/** Ask the backend for the held batch (one request at a time). */
export function loadHeld() {
  if (loading === null) {
    loading = backend
      .get("/api/lookups/held")
      .then((answer) => showHeld(answer.held || null))
      .catch((error) => say(describeError(error), true))
      .finally(() => {
        loading = null;
      });
  }
  return loading;
}

byId("held-confirm").addEventListener("click", async () => {
  if (!shown) {
    return;
  }
  const batch = shown;
  byId("held-confirm").disabled = true;
  try {
    const answer = await backend.post(`/api/lookups/held/${encodeURIComponent(batch.batch_id)}/confirm`, {
      version: batch.version,
    });
    showHeld(null);
    say(`Checking ${answer.plan.to_upload} numbers; the cells fill in as the answers arrive.`);
  } catch (error) {
    // A grown batch (409) shows its new estimate; a gone one disappears.
    say(describeError(error), true);
    await loadHeld();
  } finally {
    byId("held-confirm").disabled = false;
  }
});

byId("held-cancel").addEventListener("click", async () => {
  if (!shown) {
    return;
  }
  const batch = shown;
  try {
    const answer = await backend.post(`/api/lookups/held/${encodeURIComponent(batch.batch_id)}/cancel`);
    showHeld(null);
    say(`Cancelled: ${answer.cancelled} numbers not checked, nothing billed.`);
  } catch (error) {
    say(describeError(error), true);
    await loadHeld();
  }
});

byId("stale-refresh").addEventListener("click", () => {
  const count = batcher ? batcher.refreshStale() : 0;
  say(`Checking ${count} cell(s) again.`);
  updateSection();
});

if (batcher) {
  // Cells awaiting confirmation: show (and keep current) the batch they wait in.
  batcher.subscribe((status) => {
    if (status.awaiting > 0 || shown) {
      loadHeld();
    }
    updateSection();
  });
}
loadHeld();
