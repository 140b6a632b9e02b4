// Task pane start-up: ask the backend whether it runs in demo mode and say so.
// Every API call carries the X-FBCheck-Client header, which the backend requires.
"use strict";

(function () {
  const CLIENT_HEADER = { "X-FBCheck-Client": "taskpane" };

  function showStatus(text, isError) {
    const status = document.getElementById("backend-status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function loadHealth() {
    try {
      const response = await fetch("/api/health", { headers: CLIENT_HEADER, cache: "no-store" });
      const body = await response.json();
      if (!response.ok) {
        showStatus("The backend refused the request: " + (body.message || response.status), true);
        return;
      }
      document.getElementById("demo-banner").hidden = !body.demo;
      showStatus("Connected to the FBCheck backend (version " + body.version + ")" + (body.demo ? ", DEMO mode." : "."));
    } catch (error) {
      showStatus("The FBCheck backend does not answer. Is `fbcheck serve` running?", true);
    }
  }

  // Office.onReady resolves in Excel and, outside Office, right away in a browser.
  if (typeof Office !== "undefined" && Office.onReady) {
    Office.onReady(loadHealth);
  } else {
    document.addEventListener("DOMContentLoaded", loadHealth);
  }
})();
