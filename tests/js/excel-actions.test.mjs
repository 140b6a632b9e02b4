// Applying xlwings actions: block writes under 5 MB, values before formats, colours.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  applyActions,
  colourAnswerColumns,
  replacePlaceholders,
  splitIntoBlocks,
} from "../../addin/static/excel-actions.js";
import { FakeWorkbook, jsonBytes } from "./fake-excel.mjs";

const FIVE_MB = 5 * 1024 * 1024;

/** A setValues action as xlwings' book.json() writes it. */
function setValues(startRow, startColumn, values) {
  return {
    func: "setValues",
    args: [],
    values,
    sheet_position: 0,
    start_row: startRow,
    start_column: startColumn,
    row_count: values.length,
    column_count: values[0].length,
  };
}

test("a 50,000-row setValues goes in at least 3 blocks, each under 5 MB", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [] } });
  const values = Array.from({ length: 50000 }, (_, index) => [index % 3 ? "yes" : "no"]);
  const result = await workbook.run((context) => applyActions(context, [setValues(1, 1, values)], ["Sheet1"]));
  assert.ok(result.blocks >= 3, `blocks: ${result.blocks}`);
  assert.equal(workbook.writes.length, result.blocks);
  for (const write of workbook.writes) {
    assert.ok(write.bytes < FIVE_MB);
    assert.ok(write.rows <= 20000);
  }
  // One sync per block, and every row landed in the right place.
  assert.equal(workbook.syncs, result.blocks);
  assert.deepEqual(workbook.column("Sheet1", 1, 1, 50000), values.map((row) => row[0]));
  assert.equal(workbook.cell("Sheet1", 0, 1), "");
  assert.equal(workbook.cell("Sheet1", 50001, 1), "");
});

test("long cells shrink the blocks below 5 MB", () => {
  const values = Array.from({ length: 20000 }, () => ["x".repeat(400)]);
  assert.ok(jsonBytes(values) > FIVE_MB);
  const blocks = splitIntoBlocks(values);
  assert.ok(blocks.length >= 2);
  for (const block of blocks) {
    assert.ok(jsonBytes(block.values) < FIVE_MB);
  }
  assert.equal(blocks.reduce((rows, block) => rows + block.values.length, 0), 20000);
  assert.deepEqual(blocks.map((block) => block.offset), blocks.map((_, index) => blocks.slice(0, index).reduce((rows, block) => rows + block.values.length, 0)));
});

test("values are written before formats, whatever the order of the actions", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [] } });
  const colour = { func: "setRangeColor", args: ["#C6EFCE"], sheet_position: 0, start_row: 0, start_column: 1, row_count: 2, column_count: 1 };
  await workbook.run((context) => applyActions(context, [colour, setValues(0, 1, [["yes"], ["no"]])], ["Sheet1"]));
  assert.deepEqual(workbook.log.map((entry) => entry.op), ["values", "fill"]);
  assert.ok(workbook.log[0].sync < workbook.log[1].sync);
});

test("clearContents empties the range", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [["a", "old"], ["b", "old"]] } });
  const clear = { func: "clearContents", args: [], sheet_position: 0, start_row: 0, start_column: 1, row_count: 2, column_count: 1 };
  await workbook.run((context) => applyActions(context, [clear], ["Sheet1"]));
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 2), ["", ""]);
  assert.deepEqual(workbook.column("Sheet1", 0, 0, 2), ["a", "b"]);
});

test("an unknown action is refused before anything is written", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [] } });
  const actions = [setValues(0, 0, [["x"]]), { func: "runMacro", args: ["evil"], sheet_position: 0 }];
  await assert.rejects(
    workbook.run((context) => applyActions(context, actions, ["Sheet1"])),
    /does not know: runMacro/,
  );
  assert.equal(workbook.writes.length, 0);
});

test("an action on a sheet the payload did not include is refused", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [] } });
  const action = { ...setValues(0, 0, [["x"]]), sheet_position: 3 };
  await assert.rejects(
    workbook.run((context) => applyActions(context, [action], ["Sheet1"])),
    /sheet #3, which the selection does not include/,
  );
});

test("answer columns get one colour rule per answer, replaced on a second check", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [["+1"], ["+2"]] } });
  const areas = [{ rowIndex: 0, columnIndex: 0, rowCount: 2, columnCount: 1 }];
  await workbook.run((context) => colourAnswerColumns(context, "Sheet1", areas));
  await workbook.run((context) => colourAnswerColumns(context, "Sheet1", areas));
  const rules = workbook.conditionalFormats;
  assert.equal(rules.length, 6);
  assert.deepEqual(rules[0].area, { rowIndex: 0, columnIndex: 1, rowCount: 2, columnCount: 1 });
  const byText = Object.fromEntries(rules.map((rule) => [rule.cellValue.rule.formula1, rule.cellValue.format.fill.color]));
  assert.equal(byText['="yes"'], "#C6EFCE");
  assert.equal(byText['="ban"'], "#FFC7CE");
  assert.equal(byText['="no"'], "#EDEDED");
  assert.equal(byText['="invalid"'], byText['="error"']);
});

test("placeholders are replaced in the answer column, answers stay", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["phone", "facebook"], ["+1", "pending"], ["+2", "yes"], ["x", "invalid"], ["+3", "unconfirmed"]] },
  });
  const areas = [{ rowIndex: 0, columnIndex: 0, rowCount: 5, columnCount: 1 }];
  const cleared = await workbook.run((context) => replacePlaceholders(context, "Sheet1", areas, ["pending", "unconfirmed"], ""));
  assert.equal(cleared, 2);
  assert.deepEqual(workbook.column("Sheet1", 1, 0, 5), ["facebook", "", "yes", "invalid", ""]);
});
