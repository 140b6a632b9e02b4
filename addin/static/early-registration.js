// A classic (non-module) script that taskpane.html loads right after office.js and
// before the add-in's modules. Module scripts run only once their whole import graph
// has loaded, while Excel may already call =FBCHECK or a ribbon command; this script
// runs at once and holds those calls until the modules are ready. It is a file, not
// inline code: the page's Content-Security-Policy forbids inline script.
(function () {
  "use strict";

  // The ribbon's ExecuteFunction commands (manifest <FunctionName>).
  var ACTIONS = ["checkSelection"];

  // Custom functions: with type="module" scripts Excel can invoke a function before
  // the module graph has called CustomFunctions.associate, and the cell shows #VALUE!
  // (OfficeDev/office-js#4769); streaming functions restart on every workbook open, so
  // this happens on first use and on each open. CustomFunctions.delayInitialization(),
  // called from a classic script right after office.js as in that issue, makes the
  // runtime wait for the associate call that functions.js makes once it has loaded.
  if (typeof CustomFunctions !== "undefined" && typeof CustomFunctions.delayInitialization === "function") {
    CustomFunctions.delayInitialization();
  }

  // Ribbon commands have no such delay: an ExecuteFunction button pressed before its
  // name is associated finds no handler. So each command is associated here, at once
  // (Office.actions.associate, "Configure your Office Add-in to use a shared runtime",
  // https://learn.microsoft.com/office/dev/add-ins/develop/configure-your-add-in-to-use-a-shared-runtime),
  // with a stand-in that keeps the events until the module hands over the real handler.
  var handlers = {};
  var waiting = {};

  function standIn(name) {
    return function (event) {
      if (handlers[name]) {
        return handlers[name](event);
      }
      waiting[name].push(event);
      return undefined;
    };
  }

  function associateAll() {
    if (typeof Office === "undefined" || !Office.actions || typeof Office.actions.associate !== "function") {
      return false;
    }
    ACTIONS.forEach(function (name) {
      Office.actions.associate(name, standIn(name));
    });
    return true;
  }

  ACTIONS.forEach(function (name) {
    waiting[name] = [];
  });
  if (!associateAll() && typeof Office !== "undefined" && typeof Office.onReady === "function") {
    // Some hosts define Office.actions only once office.js has initialised.
    Office.onReady(associateAll);
  }

  /** The module's way in: provideAction(name, handler) runs the events kept so far. */
  window.FBCheckEarly = {
    actions: ACTIONS.slice(),
    provideAction: function (name, handler) {
      if (!waiting[name]) {
        throw new Error("The ribbon command " + name + " is not listed in early-registration.js.");
      }
      handlers[name] = handler;
      var kept = waiting[name].splice(0);
      kept.forEach(function (event) {
        handler(event);
      });
      return kept.length;
    },
  };
})();
