// The result bar's shares (addin/static/result-bar.js): each answer kind's part of the
// whole, pending widening the total without a segment, malformed counts as 0.

import assert from "node:assert/strict";
import { test } from "node:test";

import { RESULT_KINDS, resultShares } from "../../addin/static/result-bar.js";

test("each kind's share is its count over the total, in the bar's order", () => {
  const { total, parts } = resultShares({ yes: 27, no: 18, ban: 3, invalid: 2, error: 0 });
  assert.equal(total, 50);
  assert.deepEqual(
    parts.map((part) => [part.kind, part.count, part.percent]),
    [
      ["yes", 27, 54],
      ["no", 18, 36],
      ["ban", 3, 6],
      ["invalid", 2, 4],
      ["error", 0, 0],
    ],
  );
  assert.deepEqual(RESULT_KINDS, ["yes", "no", "ban", "invalid", "error"]);
});

test("pending numbers are part of the total but get no share", () => {
  const { total, parts } = resultShares({ yes: 1, pending: 3 });
  assert.equal(total, 4);
  assert.equal(parts[0].percent, 25);
  assert.equal(parts.reduce((sum, part) => sum + part.percent, 0), 25);
});

test("nothing counted yet: all shares 0, no division by zero", () => {
  const { total, parts } = resultShares({});
  assert.equal(total, 0);
  assert.ok(parts.every((part) => part.percent === 0 && part.count === 0));
});

test("missing, negative, non-numeric and infinite counts are 0", () => {
  const { total, parts } = resultShares({ yes: -4, no: "7", ban: Number.NaN, invalid: Infinity, error: 2, pending: null });
  assert.equal(total, 2);
  assert.deepEqual(
    parts.map((part) => part.count),
    [0, 0, 0, 0, 2],
  );
  assert.equal(parts[4].percent, 100);
});
