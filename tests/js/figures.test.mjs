// The estimate's figures (addin/static/figures.js): what every confirmation shows of a plan,
// with the numbers colleagues already paid for on a team server only.

import assert from "node:assert/strict";
import { test } from "node:test";

import { planFigures } from "../../addin/static/figures.js";

const PLAN = {
  distinct: 15,
  cache_hits: 7,
  in_flight: 3,
  to_upload: 5,
  tasks: 1,
  billed_minimum: 2,
  billed_typical: 9,
};

test("a team server's plan shows how many numbers colleagues paid for", () => {
  const figures = new Map(planFigures({ ...PLAN, paid_by_colleagues: 6 }));
  assert.equal(figures.get("paid for by colleagues"), 6);
  assert.equal(figures.get("answered from the cache"), 7);
  assert.equal(figures.get("already being checked"), 3);
});

test("zero paid by colleagues is still said on a team server", () => {
  const figures = new Map(planFigures({ ...PLAN, paid_by_colleagues: 0 }));
  assert.equal(figures.get("paid for by colleagues"), 0);
});

test("a local backend's plan has no such figure, so it is left out", () => {
  const pairs = planFigures(PLAN).filter(([, value]) => value !== undefined && value !== null);
  assert.deepEqual(
    pairs.map(([label]) => label),
    [
      "distinct numbers",
      "answered from the cache",
      "already being checked",
      "to upload",
      "upstream tasks",
      "billed (at least)",
      "billed (typical)",
    ],
  );
});
