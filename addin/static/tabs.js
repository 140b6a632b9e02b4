// The task pane's tabs (Check, History, Settings): the WAI-ARIA tabs pattern.
// Buttons with role="tab" in a role="tablist", each controlling one role="tabpanel".
// Only the selected tab is in the Tab order (roving tabindex); Left/Right arrows
// move between tabs and select them (the panels are already in the page, so
// selection follows focus), Home/End go to the first/last tab.
// Pattern: https://www.w3.org/WAI/ARIA/apg/patterns/tabs/

/** Return the tabs of ``tablist`` in order. */
function tabsOf(tablist) {
  return Array.from(tablist.querySelectorAll('[role="tab"]'));
}

/** Select ``tab``: show its panel, hide the others, keep one tab in the Tab order. */
export function selectTab(tab, { focus = false } = {}) {
  const tablist = tab.closest('[role="tablist"]');
  for (const other of tabsOf(tablist)) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    const panel = document.getElementById(other.getAttribute("aria-controls"));
    if (panel) {
      panel.hidden = !selected;
    }
  }
  if (focus) {
    tab.focus();
  }
  tablist.dispatchEvent(new CustomEvent("tabchange", { detail: { tab } }));
}

/** Select the tab whose panel holds the element with ``id`` (the panel's own id works too). */
export function showSection(id) {
  const element = document.getElementById(id);
  const panel = element && element.closest('[role="tabpanel"]');
  const tab = panel && document.querySelector(`[role="tab"][aria-controls="${panel.id}"]`);
  if (tab) {
    selectTab(tab);
  }
}

/** Wire clicks and the arrow keys on ``tablist``. */
export function setupTabs(tablist) {
  const tabs = tabsOf(tablist);
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
  }
  tablist.addEventListener("keydown", (event) => {
    const index = tabs.indexOf(document.activeElement);
    if (index < 0) {
      return;
    }
    const moves = {
      ArrowRight: (index + 1) % tabs.length,
      ArrowLeft: (index - 1 + tabs.length) % tabs.length,
      Home: 0,
      End: tabs.length - 1,
    };
    if (!(event.key in moves)) {
      return;
    }
    event.preventDefault();
    selectTab(tabs[moves[event.key]], { focus: true });
  });
  const selected = tabs.find((tab) => tab.getAttribute("aria-selected") === "true") || tabs[0];
  selectTab(selected);
}

/**
 * Mark ``tab`` while any of ``boxes`` is shown and its panel is not: a question
 * waits there (a confirmation, a choice, uploads waiting for the user's word).
 */
export function watchAttention(tab, boxes) {
  const label = tab.querySelector(".attention");
  const update = () => {
    const waiting = boxes.some((box) => box && !box.hidden);
    const away = tab.getAttribute("aria-selected") !== "true";
    label.hidden = !(waiting && away);
  };
  const observer = new MutationObserver(update);
  for (const box of boxes) {
    if (box) {
      observer.observe(box, { attributes: true, attributeFilter: ["hidden"] });
    }
  }
  tab.closest('[role="tablist"]').addEventListener("tabchange", update);
  update();
}
