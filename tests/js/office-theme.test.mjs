// The Office theme's colours for the pane (addin/static/office-theme.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { themeColours } from "../../addin/static/office-theme.js";

test("a dark theme: its flag as a property or as a method", () => {
  const colours = { bodyBackgroundColor: "#262626", bodyForegroundColor: "#FFFFFF" };
  assert.deepEqual(themeColours({ ...colours, isDarkTheme: true }), {
    dark: true,
    background: "#262626",
    foreground: "#FFFFFF",
  });
  assert.equal(themeColours({ ...colours, isDarkTheme: () => true }).dark, true);
  assert.equal(themeColours({ ...colours, isDarkTheme: false }).dark, false);
});

test("without the flag the background decides", () => {
  assert.equal(themeColours({ bodyBackgroundColor: "#1f1f1f" }).dark, true);
  assert.equal(themeColours({ bodyBackgroundColor: "#ffffff" }).dark, false);
  assert.equal(themeColours({ bodyBackgroundColor: "#e6e6e6" }).dark, false);
});

test("no theme or no usable background: nothing applied", () => {
  for (const theme of [undefined, null, "dark", 7, {}, { bodyBackgroundColor: "red" }, { bodyBackgroundColor: "#fff" }, { bodyBackgroundColor: "#12345g" }]) {
    assert.equal(themeColours(theme), null, JSON.stringify(theme));
  }
});

test("a malformed foreground is ignored, the background kept", () => {
  assert.deepEqual(themeColours({ bodyBackgroundColor: "#333333", bodyForegroundColor: "white; x" }), {
    dark: true,
    background: "#333333",
    foreground: null,
  });
});
