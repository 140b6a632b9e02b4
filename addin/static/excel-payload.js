// Read the Excel selection with Office.js and build the xlwings payload the
// backend reads with xw.Book(json=...) (docs/addin-api.md, "Selection check").
// Our own small client: only the payload shape and the reads we need.

/** The xlwings version whose payload shape we send. */
export const XLWINGS_VERSION = "0.37.8";
/** Rows read per range.values call: Excel on the web caps one response at 5 MB. */
export const READ_BLOCK_ROWS = 20000;
/** The backend refuses more than this many selected rows; we refuse before reading them. */
export const MAX_SELECTED_ROWS = 1000000;

/** Refused selection: a message for the user, never a crash. */
export class SelectionError extends Error {
  /** Build an error with a code the tests and the pane can tell apart. */
  constructor(code, message) {
    super(message);
    this.name = "SelectionError";
    this.code = code;
  }
}

/** Return the column letters of a 0-based column index (0 -> A, 26 -> AA). */
export function columnLetters(index) {
  let letters = "";
  let rest = index + 1;
  while (rest > 0) {
    const digit = (rest - 1) % 26;
    letters = String.fromCharCode(65 + digit) + letters;
    rest = Math.floor((rest - 1) / 26);
  }
  return letters;
}

/** Return the A1 address (no sheet name) of a rectangle given by 0-based indexes. */
export function a1Address({ rowIndex, columnIndex, rowCount, columnCount }) {
  const first = columnLetters(columnIndex) + (rowIndex + 1);
  if (rowCount === 1 && columnCount === 1) {
    return first;
  }
  return first + ":" + columnLetters(columnIndex + columnCount - 1) + (rowIndex + rowCount);
}

/** Return the overlap of two rectangles, or null when they do not meet. */
export function intersect(a, b) {
  const top = Math.max(a.rowIndex, b.rowIndex);
  const left = Math.max(a.columnIndex, b.columnIndex);
  const bottom = Math.min(a.rowIndex + a.rowCount, b.rowIndex + b.rowCount);
  const right = Math.min(a.columnIndex + a.columnCount, b.columnIndex + b.columnCount);
  if (bottom <= top || right <= left) {
    return null;
  }
  return { rowIndex: top, columnIndex: left, rowCount: bottom - top, columnCount: right - left };
}

/** Copy the four index fields of a loaded Excel range into a plain rectangle. */
function rectangleOf(range) {
  return {
    rowIndex: range.rowIndex,
    columnIndex: range.columnIndex,
    rowCount: range.rowCount,
    columnCount: range.columnCount,
  };
}

/**
 * Return the selected areas of the active sheet, intersected with its used range.
 *
 * Answer: {bookName, sheetName, areas: [{rowIndex, columnIndex, rowCount, columnCount}]}.
 * Whole-column selections (A:A) shrink to the used rows; an area that holds
 * nothing is dropped; a selection with no value at all is refused.
 */
export async function readSelectedAreas(context) {
  const workbook = context.workbook;
  workbook.load("name");
  const sheet = workbook.worksheets.getActiveWorksheet();
  sheet.load("name");
  const selected = workbook.getSelectedRanges();
  selected.load("areaCount");
  const used = sheet.getUsedRangeOrNullObject(true);
  used.load("rowIndex,columnIndex,rowCount,columnCount");
  await context.sync();

  const loaded = [];
  for (let index = 0; index < selected.areaCount; index += 1) {
    const area = selected.areas.getItemAt(index);
    area.load("rowIndex,columnIndex,rowCount,columnCount");
    loaded.push(area);
  }
  await context.sync();

  if (used.isNullObject) {
    throw new SelectionError("empty_selection", "The sheet is empty: select the phone numbers to check.");
  }
  const usedRectangle = rectangleOf(used);
  const areas = [];
  for (const area of loaded) {
    const clipped = intersect(rectangleOf(area), usedRectangle);
    if (clipped !== null) {
      areas.push(clipped);
    }
  }
  if (areas.length === 0) {
    throw new SelectionError("empty_selection", "The selection holds no values: select the phone numbers to check.");
  }
  checkShape(areas);
  return { bookName: workbook.name, sheetName: sheet.name, areas };
}

/** Refuse, before any value is read, what the backend would refuse anyway. */
export function checkShape(areas) {
  for (const area of areas) {
    if (area.columnCount > 1) {
      throw new SelectionError(
        "selection_too_wide",
        `Select one column per area: ${a1Address(area)} spans ${area.columnCount} columns.`,
      );
    }
  }
  const rows = areas.reduce((total, area) => total + area.rowCount, 0);
  if (rows > MAX_SELECTED_ROWS) {
    throw new SelectionError(
      "selection_too_large",
      `The selection has ${rows.toLocaleString("en-US")} rows; at most ${MAX_SELECTED_ROWS.toLocaleString("en-US")} can be checked at once.`,
    );
  }
}

/**
 * Return the xlwings payload of ``areas`` on sheet ``sheetName``, read afresh.
 *
 * Values start at A1 as xlwings expects, but only the selected cells are filled:
 * rows above the selection are [], cells left of it are null. Values are read
 * in blocks of READ_BLOCK_ROWS rows, one context.sync() per block.
 */
export async function readPayload(context, { bookName, sheetName, areas }, { region = null } = {}) {
  checkShape(areas);
  const sheet = context.workbook.worksheets.getItem(sheetName);
  const rows = [];
  for (const area of areas) {
    for (let offset = 0; offset < area.rowCount; offset += READ_BLOCK_ROWS) {
      const count = Math.min(READ_BLOCK_ROWS, area.rowCount - offset);
      const block = sheet.getRangeByIndexes(area.rowIndex + offset, area.columnIndex, count, area.columnCount);
      block.load("values");
      await context.sync();
      placeBlock(rows, area.rowIndex + offset, area.columnIndex, block.values);
    }
  }
  const addresses = areas.map(a1Address);
  return {
    client: "Office.js",
    version: XLWINGS_VERSION,
    book: { name: bookName, active_sheet_index: 0, selection: addresses.join(",") },
    names: [],
    sheets: [{ name: sheetName, values: fillRows(rows), pictures: [], tables: [] }],
    fbcheck: { region, areas: addresses },
  };
}

/** Write a block of values into the sparse row list at (rowIndex, columnIndex). */
function placeBlock(rows, rowIndex, columnIndex, values) {
  for (let offset = 0; offset < values.length; offset += 1) {
    const target = rowIndex + offset;
    let row = rows[target];
    if (row === undefined) {
      row = [];
      rows[target] = row;
    }
    const source = values[offset];
    for (let column = 0; column < source.length; column += 1) {
      while (row.length < columnIndex + column) {
        row.push(null);
      }
      row[columnIndex + column] = source[column] === null || source[column] === undefined ? "" : source[column];
    }
  }
}

/** Turn the sparse row list into the dense list xlwings reads: missing rows are []. */
function fillRows(rows) {
  const dense = new Array(rows.length);
  for (let index = 0; index < rows.length; index += 1) {
    const row = rows[index];
    if (row === undefined) {
      dense[index] = [];
    } else {
      // Holes left by a later area in a lower column stay null, never undefined.
      for (let column = 0; column < row.length; column += 1) {
        if (row[column] === undefined) {
          row[column] = null;
        }
      }
      dense[index] = row;
    }
  }
  return dense;
}

/**
 * Refuse, before anything is sent (so before anything is billed), answer columns Excel
 * would not let us write: a protected sheet (Worksheet.protection, ExcelApi 1.2) and
 * merged cells in the answer column (Range.getMergedAreasOrNullObject, ExcelApi 1.13;
 * skipped where the host lacks it). Other write failures can only show up when
 * writing: the check then keeps following the job and offers "Write again".
 */
export async function proveWritable(context, { sheetName, areas }) {
  const sheet = context.workbook.worksheets.getItem(sheetName);
  const protection = sheet.protection;
  protection.load("protected");
  const merged = [];
  for (const area of areas) {
    const column = sheet.getRangeByIndexes(area.rowIndex, area.columnIndex + area.columnCount, area.rowCount, 1);
    if (typeof column.getMergedAreasOrNullObject === "function") {
      const found = column.getMergedAreasOrNullObject();
      found.load("address");
      merged.push({ area, found });
    }
  }
  await context.sync();
  if (protection.protected) {
    throw new SelectionError(
      "sheet_protected",
      `The sheet ${sheetName} is protected, so the answers cannot be written: unprotect it (Review > Unprotect Sheet) and check again. Nothing was billed.`,
    );
  }
  for (const { area, found } of merged) {
    if (!found.isNullObject) {
      const target = { ...area, columnIndex: area.columnIndex + area.columnCount, columnCount: 1 };
      throw new SelectionError(
        "answer_column_merged",
        `The answer column ${a1Address(target)} holds merged cells (${found.address}): unmerge them and check again. Nothing was billed.`,
      );
    }
  }
}
