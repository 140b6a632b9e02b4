// Registration order (item 8 of issue 10): early-registration.js, a classic script run
// right after office.js, and registration.js, through which the modules hand over.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

import { provideAction } from "../../addin/static/registration.js";

const EARLY = readFileSync(new URL("../../addin/static/early-registration.js", import.meta.url), "utf8");

/** Run early-registration.js as a classic script in a page with ``globals``; return its window. */
function runEarly(globals) {
  const window = {};
  vm.runInNewContext(EARLY, { window, ...globals });
  return window;
}

/** An Office namespace whose Office.actions.associate keeps the handlers. */
function fakeOffice({ actions = true } = {}) {
  const associated = {};
  const ready = [];
  const office = {
    associated,
    onReady(callback) {
      ready.push(callback);
    },
    becomeReady() {
      office.actions = { associate: (name, handler) => (associated[name] = handler) };
      ready.splice(0).forEach((callback) => callback());
    },
  };
  if (actions) {
    office.actions = { associate: (name, handler) => (associated[name] = handler) };
  }
  return office;
}

test("the classic script asks the custom-functions runtime to wait", () => {
  const calls = [];
  runEarly({ Office: fakeOffice(), CustomFunctions: { delayInitialization: () => calls.push("delay") } });
  assert.deepEqual(calls, ["delay"]);
});

test("without CustomFunctions (Excel 2021 volume licence, a browser) it still runs", () => {
  const office = fakeOffice();
  const window = runEarly({ Office: office });
  assert.deepEqual([...window.FBCheckEarly.actions], ["checkSelection"]);
  assert.equal(typeof office.associated.checkSelection, "function");
});

test("a ribbon press before the module loads is kept and run when the handler arrives", () => {
  const office = fakeOffice();
  const window = runEarly({ Office: office });
  const early = { name: "first press" };
  assert.equal(office.associated.checkSelection(early), undefined);
  const seen = [];
  const kept = provideAction("checkSelection", (event) => seen.push(event), { early: window.FBCheckEarly, office });
  assert.equal(kept, 1);
  assert.deepEqual(seen, [early]);
  // Later presses go straight to the handler, through the same stand-in.
  office.associated.checkSelection({ name: "second press" });
  assert.deepEqual(seen.map((event) => event.name), ["first press", "second press"]);
});

test("Office.actions defined only once office.js is ready: associated then", () => {
  const office = fakeOffice({ actions: false });
  runEarly({ Office: office });
  assert.equal(office.associated.checkSelection, undefined);
  office.becomeReady();
  assert.equal(typeof office.associated.checkSelection, "function");
});

test("without the classic script the module associates directly", () => {
  const office = fakeOffice();
  const handler = () => {};
  assert.equal(provideAction("checkSelection", handler, { early: undefined, office }), 0);
  assert.equal(office.associated.checkSelection, handler);
});

test("a command the classic script does not list is refused by it, never dropped", () => {
  const office = fakeOffice();
  const window = runEarly({ Office: office });
  assert.throws(() => window.FBCheckEarly.provideAction("other", () => {}), /not listed in early-registration\.js/);
  // registration.js does not send such a name to the stand-ins: it associates it directly.
  const handler = () => {};
  provideAction("other", handler, { early: window.FBCheckEarly, office });
  assert.equal(office.associated.other, handler);
});
