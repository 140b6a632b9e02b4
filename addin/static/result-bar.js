// A job's result as a small stacked bar: yes / no / ban / invalid / error, the
// rest (still pending) left as the empty track. CSS only: each segment is a span
// whose width is its share of the total; a text legend carries the same counts
// for screen readers and for anyone who does not read colours.

/** The answer kinds in the bar, in order. */
export const RESULT_KINDS = ["yes", "no", "ban", "invalid", "error"];

/**
 * Return each kind's count and its share of the whole bar in percent.
 * ``counts`` may hold ``pending``: it widens the total (the empty track) but gets
 * no segment. Missing, negative or non-numeric counts are 0.
 */
export function resultShares(counts) {
  const number = (value) => (Number.isFinite(value) && value > 0 ? value : 0);
  const parts = RESULT_KINDS.map((kind) => ({ kind, count: number(counts[kind]) }));
  const total = parts.reduce((sum, part) => sum + part.count, 0) + number(counts.pending);
  return {
    total,
    parts: parts.map((part) => ({ ...part, percent: total ? (100 * part.count) / total : 0 })),
  };
}

/** Draw ``counts`` into ``container`` (emptied first): the bar and its legend. */
export function fillResultBar(container, counts) {
  const { total, parts } = resultShares(counts);
  const pending = total - parts.reduce((sum, part) => sum + part.count, 0);
  const bar = document.createElement("div");
  bar.className = "result-bar";
  bar.setAttribute("role", "img");
  const words = parts.map((part) => `${part.kind} ${part.count}`);
  if (pending) {
    words.push(`pending ${pending}`);
  }
  bar.setAttribute("aria-label", `Result: ${words.join(", ")}`);
  for (const part of parts) {
    if (!part.count) {
      continue;
    }
    const segment = document.createElement("span");
    segment.className = `segment is-${part.kind}`;
    segment.dataset.kind = part.kind;
    segment.dataset.count = String(part.count);
    segment.style.width = `${part.percent}%`;
    segment.title = `${part.kind}: ${part.count}`;
    bar.append(segment);
  }
  const legend = document.createElement("p");
  legend.className = "result-legend";
  legend.setAttribute("aria-hidden", "true");
  for (const part of parts) {
    const item = document.createElement("span");
    item.className = `key is-${part.kind}`;
    item.textContent = `${part.kind} ${part.count}`;
    legend.append(item);
  }
  if (pending) {
    const item = document.createElement("span");
    item.className = "key is-pending";
    item.textContent = `pending ${pending}`;
    legend.append(item);
  }
  container.replaceChildren(bar, legend);
}
