// Reading the selection and building the xlwings payload (addin/static/excel-payload.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  a1Address,
  columnLetters,
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

test("one column with a header: values from A1, numbers stay numbers, empty cells are \"\"", async () => {
  const workbook = new FakeWorkbook({
    // B4 keeps row 4 inside the used range, so the empty A4 is sent.
    sheets: { Sheet1: [["phone"], ["+41798284651"], [41798284652], ["", "note"]] },
    selection: [{ rowIndex: 0, columnIndex: 0, rowCount: 4, columnCount: 1 }],
  });
  const payload = await payloadOf(workbook);
  assert.deepEqual(payload, {
    client: "Office.js",
    version: "0.37.8",
    book: { name: "Book1.xlsx", active_sheet_index: 0, selection: "A1:A4" },
    names: [],
    sheets: [{ name: "Sheet1", values: [["phone"], ["+41798284651"], [41798284652], [""]], pictures: [], tables: [] }],
    fbcheck: { region: null, areas: ["A1:A4"] },
  });
});

test("rows above are [] and cells left are null; two areas share rows", async () => {
  const workbook = new FakeWorkbook({
    sheets: { Data: [["x", "y", "z"], ["a", "b", "+1"], ["c", "d", "+2"], ["e", "+3", "+4"]] },
    active: "Data",
    selection: [
      { rowIndex: 1, columnIndex: 2, rowCount: 3, columnCount: 1 },
      { rowIndex: 3, columnIndex: 1, rowCount: 1, columnCount: 1 },
    ],
  });
  const payload = await payloadOf(workbook);
  assert.equal(payload.book.selection, "C2:C4,B4");
  assert.deepEqual(payload.fbcheck.areas, ["C2:C4", "B4"]);
  assert.deepEqual(payload.sheets[0].values, [[], [null, null, "+1"], [null, null, "+2"], [null, "+3", "+4"]]);
});

test("a whole-column selection is cut to the used range", async () => {
  const rows = [["phone"], ...Array.from({ length: 49 }, (_, index) => [41790000000 + index])];
  const workbook = new FakeWorkbook({ sheets: { Sheet1: rows }, selection: [wholeColumn(0)] });
  const payload = await payloadOf(workbook);
  assert.equal(payload.book.selection, "A1:A50");
  assert.equal(payload.sheets[0].values.length, 50);
});

test("values are read in blocks of at most 20,000 rows", async () => {
  const rows = Array.from({ length: 45000 }, (_, index) => [41790000000 + index]);
  const workbook = new FakeWorkbook({ sheets: { Sheet1: rows }, selection: [wholeColumn(0)] });
  // The fake refuses a read over 20,000 rows like Excel on the web refuses 5 MB.
  const payload = await payloadOf(workbook);
  assert.equal(payload.sheets[0].values.length, 45000);
  assert.equal(payload.sheets[0].values[44999][0], 41790044999);
  assert.ok(workbook.syncs >= 2 + 3);
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
