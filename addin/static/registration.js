// How the modules hand their handlers to Office: ribbon commands through the stand-ins
// that early-registration.js (a classic script) associated before the modules loaded,
// or directly with Office.actions.associate when that script did not run.

/**
 * Give the ribbon command ``name`` its handler; return how many presses waited for it.
 *
 * ``early`` is window.FBCheckEarly (early-registration.js), ``office`` the Office namespace.
 */
export function provideAction(name, handler, { early = globalThis.FBCheckEarly, office = globalThis.Office } = {}) {
  if (early && Array.isArray(early.actions) && early.actions.includes(name)) {
    return early.provideAction(name, handler);
  }
  if (office && office.actions && typeof office.actions.associate === "function") {
    office.actions.associate(name, handler);
  }
  return 0;
}
