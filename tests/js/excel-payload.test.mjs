// Reading the selection and building the xlwings payload (addin/static/excel-payload.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  READ_BLOCK_ROWS,
  SPILL_CELL,
  a1Address,
  columnLetters,
  findFreeColumns,
  isFreeCell,
  readPayload,
  readSelectedAreas,
  SelectionError,
} from "../../addin/static/excel-payload.js";
import { FakeWorkbook, wholeColumn } from "./fake-excel.mjs";

/** Read the selection and its payload in one Excel.run, as the add-in does. */
async function payloadOf(workbook) {
  return workbook.run(async (context) => readPayload(context, await readSelectedAreas(context)));
}

test("column letters and A1 addresses", () => {
  assert.equal(columnLetters(0), "A");
  assert.equal(columnLetters(25), "Z");
  assert.equal(columnLetters(26), "AA");
  assert.equal(columnLetters(16383), "XFD");
  assert.equal(a1Address({ rowIndex: 1, columnIndex: 0, rowCount: 3, columnCount: 1 }), "A2:A4");
  assert.equal(a1Address({ rowIndex: 4, columnIndex: 2, rowCount: 1, columnCount: 1 }), "C5");
});

test("one column with a header: its values and its answer column, numbers stay numbers", async () => {
  const workbook = new FakeWorkbook({
    // B4 keeps row 4 inside the used range, so the empty A4 is sent.
    sheets: { Sheet1: [["phone"], ["+41798284651", "pending"], [41798284652], ["", "note"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 4, columnCount: 1 }],
  });
  const payload = await payloadOf(workbook);
  assert.deepEqual(payload, {
    sheet: "Sheet1",
    region: null,
    areas: [
      {
        address: "A1:A4",
        target_column: "B",
        values: ["phone", "+41798284651", 41798284652, ""],
        target: ["", "pending", "", "note"],
      },
    ],
  });
});

test("only the selected and the answer columns are read: nothing left of the selection", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Data: [["x", "y", "z"], ["a", "b", "+1"], ["c", "d", "+2"], ["e", "+3", "+4"]] },
    active: "Data",
    selection: [
      { rowIndex: 1, columnIndex: 2, rowCount: 3, columnCount: 1 },
      { rowIndex: 3, columnIndex: 0, rowCount: 1, columnCount: 1 },
    ],
  });
  const payload = await payloadOf(workbook);
  assert.deepEqual(
    payload.areas.map(({ address, target_column, values, target }) => [address, target_column, values, target]),
    [
      ["C2:C4", "D", ["+1", "+2", "+4"], ["", "", ""]],
      ["A4", "B", ["e"], ["+3"]],
    ],
  );
  const read = new Set(workbook.ranges.map(({ area }) => area.columnIndex));
  assert.deepEqual([...read].sort(), [0, 1, 2, 3]);
  assert.ok(workbook.ranges.every(({ area }) => area.columnCount === 1));
});

test("the answer column sends formulas as their text and spilled cells as {spill: true}", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["+1"], ["+2"], ["+3"], ["+4"], ["+5"], ["+6"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 6, columnCount: 1 }],
  });
  workbook.setFormula("Sheet1", 0, 1, "=FBCHECK(A1)", "yes");
  // A spill from C? into B4:B5 (its anchor is elsewhere): the values look like ours.
  workbook.set("Sheet1", 3, 1, "yes");
  workbook.set("Sheet1", 4, 1, "no");
  workbook.spills.push({ sheet: "Sheet1", rowIndex: 3, columnIndex: 1, rowCount: 2, columnCount: 1 });
  workbook.set("Sheet1", 5, 1, "pending");
  const payload = await workbook.run(async (context) =>
    readPayload(context, await readSelectedAreas(context), { spill: true }),
  );
  assert.deepEqual(payload.areas[0].target, ["=FBCHECK(A1)", "", "", SPILL_CELL, SPILL_CELL, "pending"]);
});

test("a selection in a chosen answer column reads that column", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["+1", "Alice", "", "yes"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 1, columnCount: 1 }],
  });
  const payload = await workbook.run(async (context) => {
    const selection = await readSelectedAreas(context);
    selection.areas[0].targetColumnIndex = 3;
    return readPayload(context, selection);
  });
  assert.deepEqual(payload.areas[0], { address: "A1", target_column: "D", values: ["+1"], target: ["yes"] });
});

test("a whole-column selection is cut to the used range", async () => {
  const rows = [["phone"], ...Array.from({ length: 49 }, (_, index) => [41790000000 + index])];
  const workbook = new FakeWorkbook({ sheets: { Sheet1: rows }, selection: [wholeColumn(0)] });
  const payload = await payloadOf(workbook);
  assert.equal(payload.areas[0].address, "A1:A50");
  assert.equal(payload.areas[0].values.length, 50);
});

test("values are read in blocks of at most 20,000 rows", async () => {
  const rows = Array.from({ length: 45000 }, (_, index) => [41790000000 + index]);
  const workbook = new FakeWorkbook({ sheets: { Sheet1: rows }, selection: [wholeColumn(0)] });
  // The fake refuses a read over 20,000 rows like Excel on the web refuses 5 MB.
  const payload = await payloadOf(workbook);
  assert.equal(payload.areas[0].values.length, 45000);
  assert.equal(payload.areas[0].values[44999], 41790044999);
  assert.equal(payload.areas[0].target.length, 45000);
  assert.ok(workbook.ranges.every(({ area }) => area.rowCount <= READ_BLOCK_ROWS));
  assert.equal(workbook.ranges.length, 6);
});

test("the rule for free cells: empty or a text the backend lists", () => {
  const free = ["yes", "pending", "facebook (DEMO)"];
  assert.ok(isFreeCell("", free));
  assert.ok(isFreeCell(null, free));
  assert.ok(isFreeCell("pending", free));
  for (const cell of ["Alice", 0, 12, true, "=A1", SPILL_CELL, "Yes"]) {
    assert.equal(isFreeCell(cell, free), false, String(cell));
  }
});

test("the first free column right of a taken answer column, skipping other areas' columns", async () => {
  const workbook = new FakeWorkbook({
    sheets: {
      Sheet1: [
        ["+1", "Alice", "", "x", "", ""],
        ["+2", "Bob", "+9", "pending", "", ""],
        ["+3", "", "", "", "note", ""],
      ],
    },
    selection: [
      { rowIndex: 0, columnIndex: 0, rowCount: 3, columnCount: 1 },
      { rowIndex: 1, columnIndex: 2, rowCount: 1, columnCount: 1 },
    ],
  });
  const found = await workbook.run(async (context) => {
    const selection = await readSelectedAreas(context);
    // Area 0 needs a new column: C is area 1's, D holds "x", E holds "note", F is free.
    return findFreeColumns(context, selection, ["pending", "yes"], [0]);
  });
  assert.deepEqual(found, [5, undefined]);
});

test("an answer column of ours only is free; so is the edge of the sheet, and past XFD there is none", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["+1", "Alice", "yes"], ["+2", "Bob", ""]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 2, columnCount: 1 }],
  });
  const free = await workbook.run(async (context) =>
    findFreeColumns(context, await readSelectedAreas(context), ["yes"], [0]),
  );
  assert.deepEqual(free, [2]);
  const edge = new FakeWorkbook({ sheets: { Sheet1: { columns: { 16382: ["+1"], 16383: ["Alice"] } } }, selection: [{ rowIndex: 0, columnIndex: 16382, rowCount: 1, columnCount: 1 }] });
  const none = await edge.run(async (context) => findFreeColumns(context, await readSelectedAreas(context), ["yes"], [0]));
  assert.deepEqual(none, [null]);
});

test("two columns in one area are refused before any value is read", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["a", "b"], ["c", "d"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 2, columnCount: 2 }],
  });
  await assert.rejects(payloadOf(workbook), (error) => {
    assert.ok(error instanceof SelectionError);
    assert.equal(error.code, "selection_too_wide");
    assert.match(error.message, /one column per area: A1:B2 spans 2 columns/);
    return true;
  });
});

test("more than 1,000,000 rows are refused", async () => {
  const rows = [];
  rows[1048575] = [1];
  rows[0] = [1];
  const workbook = new FakeWorkbook({ sheets: { Sheet1: rows.map((row) => row || []) }, selection: [wholeColumn(0)] });
  await assert.rejects(payloadOf(workbook), (error) => {
    assert.equal(error.code, "selection_too_large");
    assert.match(error.message, /1,048,576 rows; at most 1,000,000/);
    return true;
  });
});

test("an empty sheet is refused with a clear message", async () => {
  const workbook = new FakeWorkbook({ sheets: { Sheet1: [] }, selection: [wholeColumn(0)] });
  await assert.rejects(payloadOf(workbook), { code: "empty_selection", message: /sheet is empty/ });
});

test("a selection outside the used range is refused", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["+1"], ["+2"]] },
    selection: [{ rowIndex: 10, columnIndex: 3, rowCount: 5, columnCount: 1 }],
  });
  await assert.rejects(payloadOf(workbook), { code: "empty_selection", message: /holds no values/ });
});

test("reading without load and sync fails (the mock enforces Office.js semantics)", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Sheet1: [["+1"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 1, columnCount: 1 }],
  });
  const sheet = workbook.context.workbook.worksheets.getActiveWorksheet();
  sheet.load("name");
  assert.notEqual(sheet.name, "Sheet1");
  await workbook.context.sync();
  assert.equal(sheet.name, "Sheet1");
});
