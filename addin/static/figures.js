// Labelled figures (a <dl>) shared by the task pane's sections.

/** Fill a <dl> with [label, value] pairs; pairs without a value are left out. */
export function fillFigures(list, pairs) {
  list.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === undefined || value === null) {
      continue;
    }
    const term = document.createElement("dt");
    term.textContent = label;
    const detail = document.createElement("dd");
    detail.textContent = String(value);
    if (detail.textContent.length > 24) {
      // A sentence (a problem, a state), not a figure: on its own line below its label.
      term.className = "wide";
      detail.className = "wide";
    }
    list.append(term, detail);
  }
}

/** Return the estimate's figures of a plan, as every confirmation shows them. */
export function planFigures(plan) {
  return [
    ["distinct numbers", plan.distinct],
    ["answered from the cache", plan.cache_hits],
    ["already being checked", plan.in_flight],
    // Team mode only (absent from a local backend's plan, so left out).
    ["paid for by colleagues", plan.paid_by_colleagues],
    ["to upload", plan.to_upload],
    ["upstream tasks", plan.tasks],
    ["billed (at least)", plan.billed_minimum],
    ["billed (typical)", plan.billed_typical],
  ];
}
