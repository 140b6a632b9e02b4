// Apply the xlwings actions the backend answers with (book.json()["actions"]),
// and colour the answer columns. Large writes go in blocks under 5 MB, values
// before formats, with one context.sync() per block (docs/excel-platform.md).

import { answerColumnOf } from "./excel-payload.js";

/** At most this many rows per range.values write. */
export const WRITE_BLOCK_ROWS = 20000;
/**
 * Excel on the web caps one request at 5 MB (Microsoft, "Resource limits and performance
 * optimization for Office Add-ins", Excel add-ins,
 * https://learn.microsoft.com/office/dev/add-ins/concepts/resource-limits-and-performance-optimization#excel-add-ins);
 * keep each block well below.
 */
export const WRITE_BLOCK_BYTES = 4 * 1024 * 1024;

/** The actions we apply; anything else is refused with a clear message. */
const VALUE_ACTIONS = new Set(["setValues", "clearContents"]);
const FORMAT_ACTIONS = new Set(["setRangeColor", "setNumberFormat", "setAutofit"]);

/** Fill and font colours per answer, applied by conditional formatting. */
export const ANSWER_COLOURS = [
  { text: "yes", fill: "#C6EFCE", font: "#006100" },
  { text: "no", fill: "#EDEDED", font: "#595959" },
  { text: "ban", fill: "#FFC7CE", font: "#9C0006" },
  { text: "invalid", fill: "#FFE0B2", font: "#8A4B00" },
  { text: "error", fill: "#FFE0B2", font: "#8A4B00" },
  { text: "cancelled", fill: "#F3F2F1", font: "#605E5C" },
];

/** Return the UTF-8 size of ``values`` as JSON, which is what Office sends. */
export function jsonBytes(values) {
  return new TextEncoder().encode(JSON.stringify(values)).length;
}

/**
 * Split ``values`` (rows) into consecutive blocks of at most WRITE_BLOCK_ROWS
 * rows and WRITE_BLOCK_BYTES bytes each. Answer: [{offset, values}].
 */
export function splitIntoBlocks(values, { maxRows = WRITE_BLOCK_ROWS, maxBytes = WRITE_BLOCK_BYTES } = {}) {
  const blocks = [];
  let offset = 0;
  while (offset < values.length) {
    let count = Math.min(maxRows, values.length - offset);
    let slice = values.slice(offset, offset + count);
    // Wide or long cells: halve until the block fits.
    while (count > 1 && jsonBytes(slice) >= maxBytes) {
      count = Math.ceil(count / 2);
      slice = values.slice(offset, offset + count);
    }
    blocks.push({ offset, values: slice });
    offset += count;
  }
  return blocks;
}

/** Return the worksheet an action's sheet_position names, via the payload's sheet list. */
function sheetOf(context, action, sheetNames) {
  const name = sheetNames[action.sheet_position];
  if (name === undefined) {
    throw new Error(`The backend wrote to sheet #${action.sheet_position}, which the selection does not include.`);
  }
  return context.workbook.worksheets.getItem(name);
}

/** Return the action's target range (0-based start_row/start_column, row_count x column_count). */
function rangeOf(context, action, sheetNames) {
  return sheetOf(context, action, sheetNames).getRangeByIndexes(
    action.start_row,
    action.start_column,
    action.row_count,
    action.column_count,
  );
}

/** Write one setValues action in blocks, syncing after each. Returns the number of blocks. */
async function setValues(context, action, sheetNames) {
  const sheet = sheetOf(context, action, sheetNames);
  const blocks = splitIntoBlocks(action.values);
  for (const block of blocks) {
    const width = block.values.length ? block.values[0].length : action.column_count;
    const range = sheet.getRangeByIndexes(action.start_row + block.offset, action.start_column, block.values.length, width);
    range.values = block.values;
    await context.sync();
  }
  return blocks.length;
}

/** Apply one format action (queued; the caller syncs). */
function applyFormat(context, action, sheetNames) {
  const range = rangeOf(context, action, sheetNames);
  const args = action.args || [];
  switch (action.func) {
    case "setRangeColor":
      if (args[0]) {
        range.format.fill.color = args[0];
      } else {
        range.format.fill.clear();
      }
      break;
    case "setNumberFormat": {
      const row = new Array(action.column_count).fill(args[0]);
      range.numberFormat = Array.from({ length: action.row_count }, () => row);
      break;
    }
    case "setAutofit":
      if (args[0] === "rows") {
        range.format.autofitRows();
      } else {
        range.format.autofitColumns();
      }
      break;
    default:
      throw new Error(`Unsupported action ${action.func}.`);
  }
}

/**
 * Apply xlwings ``actions`` inside an Excel.run ``context``.
 *
 * ``sheetNames`` maps each action's sheet_position to a sheet name (the
 * payload's sheet list). Values go first (setValues, clearContents), then formats.
 * Answer: {actions: n, blocks: n} for the status line and the tests.
 */
export async function applyActions(context, actions, sheetNames) {
  for (const action of actions) {
    if (!VALUE_ACTIONS.has(action.func) && !FORMAT_ACTIONS.has(action.func)) {
      throw new Error(`The backend sent an action this add-in does not know: ${action.func}.`);
    }
  }
  let blocks = 0;
  for (const action of actions.filter((item) => VALUE_ACTIONS.has(item.func))) {
    if (action.func === "setValues") {
      blocks += await setValues(context, action, sheetNames);
    } else {
      rangeOf(context, action, sheetNames).clear("Contents");
      await context.sync();
      blocks += 1;
    }
  }
  const formats = actions.filter((item) => FORMAT_ACTIONS.has(item.func));
  for (const action of formats) {
    applyFormat(context, action, sheetNames);
  }
  if (formats.length) {
    await context.sync();
  }
  return { actions: actions.length, blocks };
}

/**
 * Colour the answer column of each area: yes green, no grey, ban red,
 * invalid and error orange, cancelled light grey. Conditional formats follow later writes by
 * themselves, so pending cells turn colour when their answer arrives.
 */
export async function colourAnswerColumns(context, sheetName, areas) {
  const sheet = context.workbook.worksheets.getItem(sheetName);
  for (const area of areas) {
    const column = sheet.getRangeByIndexes(area.rowIndex, answerColumnOf(area), area.rowCount, 1);
    // Replace, not pile up, the rules of an earlier check of the same rows.
    column.conditionalFormats.clearAll();
    for (const colour of ANSWER_COLOURS) {
      const format = column.conditionalFormats.add("CellValue");
      format.cellValue.format.fill.color = colour.fill;
      format.cellValue.format.font.color = colour.font;
      format.cellValue.rule = { formula1: `="${colour.text}"`, operator: "EqualTo" };
    }
  }
  await context.sync();
}

/**
 * Replace placeholder answers (e.g. "pending", "unconfirmed") in the answer
 * column of each area, block by block; other cells keep their value.
 * Answer: how many cells changed.
 */
export async function replacePlaceholders(context, sheetName, areas, placeholders, replacement) {
  const sheet = context.workbook.worksheets.getItem(sheetName);
  let replaced = 0;
  for (const area of areas) {
    for (let offset = 0; offset < area.rowCount; offset += WRITE_BLOCK_ROWS) {
      const count = Math.min(WRITE_BLOCK_ROWS, area.rowCount - offset);
      const column = sheet.getRangeByIndexes(area.rowIndex + offset, answerColumnOf(area), count, 1);
      column.load("values");
      await context.sync();
      let changed = false;
      const values = column.values.map((row) => {
        if (placeholders.includes(row[0])) {
          changed = true;
          replaced += 1;
          return [replacement];
        }
        return [row[0]];
      });
      if (changed) {
        column.values = values;
        await context.sync();
      }
    }
  }
  return replaced;
}
