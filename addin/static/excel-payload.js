// Read the Excel selection with Office.js: each selected area's values and the
// current cells of its answer column, nothing else (docs/addin-api.md,
// "Selection check"). Cells left of the selection are never read or sent.

/**
 * Rows read per getRangeByIndexes(...).load() and context.sync(): Excel on the web caps
 * one request or response at 5 MB ("Excel add-ins" in Microsoft's "Resource limits and
 * performance optimization for Office Add-ins",
 * https://learn.microsoft.com/office/dev/add-ins/concepts/resource-limits-and-performance-optimization#excel-add-ins),
 * so a 1,000,000-row selection is read in blocks, never as one range.
 */
export const READ_BLOCK_ROWS = 20000;
/** The last column of Excel's grid (XFD), 0-based. */
export const LAST_COLUMN_INDEX = 16383;
/** How a cell inside a spill range is sent: its value is not its own (docs/addin-api.md). */
export const SPILL_CELL = { spill: true };
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
      // The answers go into the next column unless the user chooses another.
      areas.push({ ...clipped, targetColumnIndex: clipped.columnIndex + clipped.columnCount });
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

/** Return the 0-based answer column of an area: the one chosen, else the next column. */
export function answerColumnOf(area) {
  return area.targetColumnIndex ?? area.columnIndex + area.columnCount;
}

/**
 * Return true when the host has ExcelApi ``version`` (Office.context.requirements,
 * https://learn.microsoft.com/javascript/api/office/office.requirementsetsupport); false
 * outside Office.
 */
export function hostSupports(version) {
  const requirements = globalThis.Office && Office.context && Office.context.requirements;
  return Boolean(requirements && requirements.isSetSupported && requirements.isSetSupported("ExcelApi", version));
}

/**
 * Return the selection to send: ``{sheet, region, areas: [{address, target_column, values,
 * target}]}``, read afresh in blocks of READ_BLOCK_ROWS rows (one context.sync() per block).
 *
 * ``values`` are the area's cells top to bottom ("" when empty). ``target`` are the answer
 * column's cells as ``formulas`` reads them (a formula's text, else the value: Range.formulas,
 * "If a cell has no formula, its value is returned instead"), and SPILL_CELL for a cell
 * inside a spill range (Range.hasSpill, ExcelApi 1.12, when ``spill``), so the backend can
 * tell the user's data from answers of ours.
 */
export async function readPayload(context, { sheetName, areas }, { region = null, spill = hostSupports("1.12") } = {}) {
  checkShape(areas);
  const sheet = context.workbook.worksheets.getItem(sheetName);
  const sent = [];
  for (const area of areas) {
    const values = [];
    const target = [];
    const column = answerColumnOf(area);
    for (let offset = 0; offset < area.rowCount; offset += READ_BLOCK_ROWS) {
      const count = Math.min(READ_BLOCK_ROWS, area.rowCount - offset);
      const block = sheet.getRangeByIndexes(area.rowIndex + offset, area.columnIndex, count, 1);
      block.load("values");
      await context.sync();
      for (const row of block.values) {
        values.push(row[0] === null || row[0] === undefined ? "" : row[0]);
      }
      for (const cell of await readAnswerCells(context, sheet, area.rowIndex + offset, column, count, { spill })) {
        target.push(cell);
      }
    }
    sent.push({ address: a1Address(area), target_column: columnLetters(column), values, target });
  }
  return { sheet: sheetName, region, areas: sent };
}

/**
 * Return ``count`` cells of column ``columnIndex`` from ``rowIndex`` as the backend's rule
 * reads them: formulas (text) or values, SPILL_CELL inside a spill range.
 */
export async function readAnswerCells(context, sheet, rowIndex, columnIndex, count, { spill = false } = {}) {
  const range = sheet.getRangeByIndexes(rowIndex, columnIndex, count, 1);
  range.load(spill ? "formulas,hasSpill" : "formulas");
  await context.sync();
  const cells = range.formulas.map((row) => (row[0] === null || row[0] === undefined ? "" : row[0]));
  if (spill && range.hasSpill !== false) {
    for (const offset of await spilledRows(context, sheet, rowIndex, columnIndex, count, range.hasSpill)) {
      cells[offset] = SPILL_CELL;
    }
  }
  return cells;
}

/**
 * Return the offsets of the spilled cells in a column block whose hasSpill was ``first``:
 * true is all of them, null is a mix, found by halving (one sync per level; a spill range
 * is one rectangle, so few parts stay mixed).
 */
async function spilledRows(context, sheet, rowIndex, columnIndex, count, first) {
  const spilled = [];
  let parts = [{ offset: 0, count, hasSpill: first }];
  while (parts.length) {
    const mixed = [];
    for (const part of parts) {
      if (part.hasSpill === true) {
        for (let offset = part.offset; offset < part.offset + part.count; offset += 1) {
          spilled.push(offset);
        }
      } else if (part.hasSpill === null && part.count === 1) {
        spilled.push(part.offset);
      } else if (part.hasSpill === null) {
        const half = Math.ceil(part.count / 2);
        mixed.push({ offset: part.offset, count: half }, { offset: part.offset + half, count: part.count - half });
      }
    }
    for (const part of mixed) {
      part.range = sheet.getRangeByIndexes(rowIndex + part.offset, columnIndex, part.count, 1);
      part.range.load("hasSpill");
    }
    if (mixed.length) {
      await context.sync();
    }
    parts = mixed.map((part) => ({ offset: part.offset, count: part.count, hasSpill: part.range.hasSpill }));
  }
  return spilled;
}

/** Return true when an answer cell may be written, by the backend's rule and ``freeTexts``. */
export function isFreeCell(cell, freeTexts) {
  return cell === null || cell === undefined || cell === "" || (typeof cell === "string" && freeTexts.includes(cell));
}

/** Return true when two areas share a row. */
function shareRows(a, b) {
  return a.rowIndex < b.rowIndex + b.rowCount && b.rowIndex < a.rowIndex + a.rowCount;
}

/**
 * Return, for each area listed in ``which`` (indexes), the first column right of its
 * answer column whose cells in the area's rows are all empty or ours (``freeTexts``, from
 * the backend's conflict answer), or null when there is none up to XFD; other areas get
 * undefined. Columns of other areas and their answer columns are skipped; a column with
 * no value in those rows (Range.getUsedRangeOrNullObject) is free without reading it.
 */
export async function findFreeColumns(context, { sheetName, areas }, freeTexts, which, { spill = hostSupports("1.12") } = {}) {
  const sheet = context.workbook.worksheets.getItem(sheetName);
  const chosen = areas.map(() => undefined);
  for (const index of which) {
    const area = areas[index];
    const taken = new Set();
    areas.forEach((other, position) => {
      if (position !== index && shareRows(other, area)) {
        taken.add(other.columnIndex);
        taken.add(chosen[position] ?? answerColumnOf(other));
      }
    });
    chosen[index] = null;
    for (let candidate = answerColumnOf(area) + 1; candidate <= LAST_COLUMN_INDEX; candidate += 1) {
      if (!taken.has(candidate) && (await columnIsFree(context, sheet, area, candidate, freeTexts, spill))) {
        chosen[index] = candidate;
        break;
      }
    }
  }
  return chosen;
}

/** Return true when column ``column`` holds only empty cells or ours in ``area``'s rows. */
async function columnIsFree(context, sheet, area, column, freeTexts, spill) {
  const whole = sheet.getRangeByIndexes(area.rowIndex, column, area.rowCount, 1);
  if (typeof whole.getUsedRangeOrNullObject === "function") {
    const used = whole.getUsedRangeOrNullObject(false);
    used.load("rowCount");
    await context.sync();
    if (used.isNullObject) {
      return true;
    }
  }
  for (let offset = 0; offset < area.rowCount; offset += READ_BLOCK_ROWS) {
    const count = Math.min(READ_BLOCK_ROWS, area.rowCount - offset);
    const cells = await readAnswerCells(context, sheet, area.rowIndex + offset, column, count, { spill });
    if (!cells.every((cell) => isFreeCell(cell, freeTexts))) {
      return false;
    }
  }
  return true;
}

/**
 * Refuse, before anything is sent (so before anything is billed), answer columns Excel
 * would not let us write: locked cells on a protected sheet (Worksheet.protection and
 * RangeFormat.protection.locked, ExcelApi 1.2: on a protected sheet only unlocked cells can
 * be changed, https://learn.microsoft.com/javascript/api/excel/excel.formatprotection) and
 * merged cells in the answer column (Range.getMergedAreasOrNullObject, ExcelApi 1.13;
 * skipped where the host lacks it). The placeholders are then written before the job
 * starts (selection-check.js), which proves the rest; a later write failure keeps
 * following the job and offers "Write again".
 */
export async function proveWritable(context, { sheetName, areas }) {
  const sheet = context.workbook.worksheets.getItem(sheetName);
  const protection = sheet.protection;
  protection.load("protected");
  const columns = [];
  for (const area of areas) {
    const range = sheet.getRangeByIndexes(area.rowIndex, answerColumnOf(area), area.rowCount, 1);
    const lock = range.format.protection;
    lock.load("locked");
    let merged = null;
    if (typeof range.getMergedAreasOrNullObject === "function") {
      merged = range.getMergedAreasOrNullObject();
      merged.load("address");
    }
    const target = { rowIndex: area.rowIndex, rowCount: area.rowCount, columnIndex: answerColumnOf(area), columnCount: 1 };
    columns.push({ target, lock, merged });
  }
  await context.sync();
  for (const { target, lock, merged } of columns) {
    // locked is null when the range mixes locked and unlocked cells.
    if (protection.protected && lock.locked !== false) {
      throw new SelectionError(
        "sheet_protected",
        `The sheet ${sheetName} is protected and the answer column ${a1Address(target)} is locked, so the answers cannot be written: unprotect the sheet (Review > Unprotect Sheet) and check again. Nothing was billed.`,
      );
    }
    if (merged !== null && !merged.isNullObject) {
      throw new SelectionError(
        "answer_column_merged",
        `The answer column ${a1Address(target)} holds merged cells (${merged.address}): unmerge them and check again. Nothing was billed.`,
      );
    }
  }
}
