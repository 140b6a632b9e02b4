// An in-memory workbook behind office-addin-mock objects: load/sync semantics
// for every proxy (a property read before load() + sync() is an error string),
// writes land in the grid only at context.sync(), and each sync is logged.
// Cells are kept per column (sparse), so a sheet with 1,000,000 rows in column Z
// costs one array, not 26 per row. Formulas, spill ranges, unlocked cells and
// merged areas can be declared to test how the add-in reads the answer column.

import { OfficeMockObject } from "office-addin-mock";

const EXCEL_ROWS = 1048576;
/** What a mixed range holds in the mock until loaded (Office.js says null). */
const MIXED = "(mixed)";

/** Return the JSON size in bytes of ``values``. */
export function jsonBytes(values) {
  return Buffer.byteLength(JSON.stringify(values));
}

/** A workbook with sheets of sparse cells, a selection and an Excel.run. */
export class FakeWorkbook {
  /**
   * ``sheets``: {name: [[row values]...] from A1, or {columns: {index: [values from row 0]}}};
   * ``selection``: [{rowIndex, columnIndex, rowCount, columnCount}].
   */
  constructor({ name = "Book1.xlsx", sheets = { Sheet1: [] }, active = "Sheet1", selection = [] } = {}) {
    this.name = name;
    this.grids = new Map(Object.entries(sheets).map(([sheet, content]) => [sheet, toColumns(content)]));
    this.active = active;
    this.selection = selection;
    this.proxies = [];
    this.syncs = 0;
    this.writes = [];
    this.log = [];
    this.conditionalFormats = [];
    this.failOn = null;
    // Cell edit mode (real Excel only): a batch without delayForCellEdit fails meanwhile.
    this.editing = false;
    this.editEnded = null;
    // Syncs that still fail with GeneralException when they carry a write.
    this.failWrites = 0;
    // Protected sheets (by name) and merged areas [{sheet, rowIndex, columnIndex, rowCount, columnCount}].
    this.protectedSheets = new Set();
    this.merged = [];
    // Unlocked areas [{sheet, rowIndex, columnIndex, rowCount, columnCount}]: writable when protected.
    this.unlocked = [];
    // Formulas by "sheet!row,column" (the cell's value stays in the grid); spill ranges as areas.
    this.formulas = new Map();
    this.spills = [];
    // Every range proxy created for values or formulas: {sheet, area}.
    this.ranges = [];
    this.context = this.makeContext();
    this.run = async (callback) => callback(this.context);
    // Office's Excel namespace: Excel.run(callback) or Excel.run(options, callback).
    this.excel = {
      run: async (options, callback) => {
        const batch = typeof options === "function" ? options : callback;
        const delay = typeof options === "object" && options !== null && options.delayForCellEdit === true;
        if (this.editing) {
          if (!delay) {
            throw Object.assign(new Error("The operation is not allowed while a cell is being edited."), {
              code: "InvalidOperation",
            });
          }
          await new Promise((resolve) => {
            this.editEnded = resolve;
          });
        }
        return batch(this.context);
      },
    };
  }

  /** The user enters cell edit mode. */
  startEditing() {
    this.editing = true;
  }

  /** The user leaves cell edit mode: delayed batches run now. */
  stopEditing() {
    this.editing = false;
    if (this.editEnded) {
      this.editEnded();
      this.editEnded = null;
    }
  }

  /** Return a cell's value ("" when empty). */
  cell(sheet, row, column) {
    const line = this.grids.get(sheet).get(column);
    const value = line ? line[row] : undefined;
    return value === undefined || value === null ? "" : value;
  }

  /** Set a cell's value. */
  set(sheet, row, column, value) {
    const grid = this.grids.get(sheet);
    if (!grid.has(column)) {
      grid.set(column, []);
    }
    grid.get(column)[row] = value;
  }

  /** Give a cell a formula whose value is ``value``. */
  setFormula(sheet, row, column, formula, value) {
    this.set(sheet, row, column, value);
    this.formulas.set(`${sheet}!${row},${column}`, formula);
  }

  /** Return what Range.formulas says for a cell: its formula, else its value. */
  formula(sheet, row, column) {
    const formula = this.formulas.get(`${sheet}!${row},${column}`);
    return formula === undefined ? this.cell(sheet, row, column) : formula;
  }

  /** Return one column's values as a flat list for rows [first, first + count). */
  column(sheet, column, first, count) {
    return Array.from({ length: count }, (_, offset) => this.cell(sheet, first + offset, column));
  }

  /** Register a proxy so context.sync() syncs it too. */
  track(proxy) {
    this.proxies.push(proxy);
    return proxy;
  }

  /** Build the context proxy tree. */
  makeContext() {
    const context = new OfficeMockObject({
      workbook: {
        name: this.name,
        worksheets: {
          getActiveWorksheet: () => this.sheetProxy(this.active),
          getItem: (sheet) => {
            if (!this.grids.has(sheet)) {
              throw Object.assign(new Error(`The requested resource doesn't exist: ${sheet}`), { code: "ItemNotFound" });
            }
            return this.sheetProxy(sheet);
          },
        },
        getSelectedRanges: () => {
          if (this.failOn === "getSelectedRanges") {
            throw Object.assign(new Error("The selection cannot be read."), { code: "GeneralException" });
          }
          return this.track(
            new OfficeMockObject({
              areaCount: this.selection.length,
              areas: { getItemAt: (index) => this.rangeProxy(this.active, this.selection[index], false) },
            }),
          );
        },
      },
    });
    const tree = OfficeMockObject.prototype.sync;
    context.sync = async () => {
      await tree.call(context);
      for (const proxy of this.proxies) {
        await proxy.sync();
        // Loaded mixed states read null, as in Office.js.
        if (proxy.hasSpill === MIXED) {
          proxy.hasSpill = null;
        }
        if (proxy.format && proxy.format.protection && proxy.format.protection.locked === MIXED) {
          proxy.format.protection.locked = null;
        }
      }
      // office-addin-mock finishes loads in microtasks; let them run.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.failWrites > 0 && this.hasPendingWrites()) {
        this.failWrites -= 1;
        this.discardWrites();
        throw Object.assign(new Error("The sheet could not be written."), { code: "GeneralException" });
      }
      this.applyWrites();
      this.syncs += 1;
    };
    return context;
  }

  /** Return a worksheet proxy. */
  sheetProxy(sheet) {
    return this.track(
      new OfficeMockObject({
        name: sheet,
        protection: { protected: this.protectedSheets.has(sheet) },
        getRangeByIndexes: (rowIndex, columnIndex, rowCount, columnCount) =>
          this.rangeProxy(sheet, { rowIndex, columnIndex, rowCount, columnCount }, true),
        getUsedRangeOrNullObject: () => this.usedRange(sheet),
      }),
    );
  }

  /** Return the used range proxy (isNullObject is readable without load, as in Office.js). */
  usedRange(sheet, within = null) {
    let top = -1;
    let bottom = -1;
    let left = Infinity;
    let right = -1;
    for (const [column, cells] of this.grids.get(sheet)) {
      if (within && (column < within.columnIndex || column >= within.columnIndex + within.columnCount)) {
        continue;
      }
      const first = within ? within.rowIndex : 0;
      const last = within ? Math.min(cells.length, within.rowIndex + within.rowCount) : cells.length;
      for (let row = first; row < last; row += 1) {
        const value = cells[row];
        if (value !== "" && value !== null && value !== undefined) {
          top = top < 0 || row < top ? row : top;
          bottom = Math.max(bottom, row);
          left = Math.min(left, column);
          right = Math.max(right, column);
        }
      }
    }
    const proxy = this.track(
      new OfficeMockObject({
        rowIndex: Math.max(top, 0),
        columnIndex: left === Infinity ? 0 : left,
        rowCount: bottom - top + 1,
        columnCount: right - left + 1,
      }),
    );
    proxy.isNullObject = top < 0;
    return proxy;
  }

  /** Return true/false when all/none of ``area``'s cells are in ``rects``, null for a mix. */
  coverage(sheet, area, rects) {
    let inside = 0;
    const total = area.rowCount * area.columnCount;
    for (const rect of rects) {
      if (rect.sheet !== undefined && rect.sheet !== sheet) {
        continue;
      }
      const rows = Math.min(area.rowIndex + area.rowCount, rect.rowIndex + rect.rowCount) - Math.max(area.rowIndex, rect.rowIndex);
      const columns =
        Math.min(area.columnIndex + area.columnCount, rect.columnIndex + rect.columnCount) - Math.max(area.columnIndex, rect.columnIndex);
      if (rows > 0 && columns > 0) {
        inside += rows * columns;
      }
    }
    return inside === 0 ? false : inside >= total ? true : null;
  }

  /** Return a range proxy; with ``withValues`` its values are the grid's at creation. */
  rangeProxy(sheet, area, withValues) {
    const data = { ...area, address: `${sheet}!R${area.rowIndex}C${area.columnIndex}` };
    let snapshot = null;
    const fits = area.rowCount <= 20000 && area.rowCount * area.columnCount <= 1000000;
    if (withValues && fits) {
      // Excel on the web refuses a response over 5 MB: reading more than 20,000 rows at once
      // fails here (see the getter below), so the add-in must read in blocks.
      snapshot = Array.from({ length: area.rowCount }, (_, row) =>
        Array.from({ length: area.columnCount }, (_, column) => this.cell(sheet, area.rowIndex + row, area.columnIndex + column)),
      );
      data.values = snapshot;
      data.formulas = Array.from({ length: area.rowCount }, (_, row) =>
        Array.from({ length: area.columnCount }, (_, column) => this.formula(sheet, area.rowIndex + row, area.columnIndex + column)),
      );
      data.hasSpill = this.coverage(sheet, area, this.spills);
      this.ranges.push({ sheet, area });
    }
    // office-addin-mock cannot hold null: a mixed range holds MIXED until a sync loads it.
    if (data.hasSpill === null) {
      data.hasSpill = MIXED;
    }
    data.getUsedRangeOrNullObject = () => this.usedRange(sheet, area);
    data.format = {
      fill: { clear: () => this.log.push({ op: "fill-clear", sheet, area }) },
      autofitColumns: () => {},
      autofitRows: () => {},
      protection: { locked: this.unlockedState(sheet, area) },
    };
    if (data.format.protection.locked === null) {
      data.format.protection.locked = MIXED;
    }
    data.conditionalFormats = {
      clearAll: () => {
        this.conditionalFormats = this.conditionalFormats.filter(
          (rule) => !(rule.sheet === sheet && rule.area.rowIndex === area.rowIndex && rule.area.columnIndex === area.columnIndex),
        );
      },
      add: (type) => {
        const rule = { sheet, area, type, cellValue: { format: { fill: {}, font: {} }, rule: null } };
        this.conditionalFormats.push(rule);
        return rule.cellValue ? rule : rule;
      },
    };
    data.getMergedAreasOrNullObject = () => {
      const hit = this.merged.find(
        (m) =>
          m.sheet === sheet &&
          m.columnIndex < area.columnIndex + area.columnCount &&
          area.columnIndex < m.columnIndex + m.columnCount &&
          m.rowIndex < area.rowIndex + area.rowCount &&
          area.rowIndex < m.rowIndex + m.rowCount,
      );
      const found = this.track(new OfficeMockObject({ address: hit ? `${sheet}!R${hit.rowIndex}C${hit.columnIndex}` : "" }));
      found.isNullObject = !hit;
      return found;
    };
    data.clear = (what) => {
      proxy.pendingClear = what;
    };
    const proxy = this.track(new OfficeMockObject(data));
    if (withValues && !fits) {
      // Loading values of a range over 20,000 rows fails at sync, as Excel on the web does.
      const load = proxy.load.bind(proxy);
      proxy.load = (properties) => {
        if (/values|formulas/.test(String(properties))) {
          throw Object.assign(new Error("The response payload size has exceeded the limit."), { code: "PayloadTooLarge" });
        }
        return load(properties);
      };
    }
    proxy.pendingSnapshot = snapshot;
    proxy.sheetName = sheet;
    proxy.area = area;
    return proxy;
  }

  /** Return Range.format.protection.locked: false when all cells are unlocked, null for a mix. */
  unlockedState(sheet, area) {
    const unlocked = this.coverage(sheet, area, this.unlocked);
    return unlocked === null ? null : !unlocked;
  }

  /** Return true when a range proxy holds values not yet written. */
  hasPendingWrites() {
    return this.proxies.some(
      (proxy) => proxy.area && Array.isArray(proxy.values) && proxy.values !== proxy.pendingSnapshot,
    );
  }

  /** Drop the values assigned since the last sync (the failed batch wrote nothing). */
  discardWrites() {
    for (const proxy of this.proxies) {
      if (proxy.area && Array.isArray(proxy.values) && proxy.values !== proxy.pendingSnapshot) {
        proxy.pendingSnapshot = proxy.values;
      }
    }
  }

  /** Apply what the code assigned to range proxies since the last sync. */
  applyWrites() {
    for (const proxy of this.proxies) {
      if (!proxy.area) {
        continue;
      }
      const { rowIndex, columnIndex } = proxy.area;
      if (Array.isArray(proxy.values) && proxy.values !== proxy.pendingSnapshot) {
        const values = proxy.values;
        values.forEach((row, offset) => {
          row.forEach((value, column) => {
            this.set(proxy.sheetName, rowIndex + offset, columnIndex + column, value);
            // A value written over a formula replaces it; one written into a spill blocks it.
            this.formulas.delete(`${proxy.sheetName}!${rowIndex + offset},${columnIndex + column}`);
          });
        });
        this.writes.push({ sheet: proxy.sheetName, rowIndex, columnIndex, rows: values.length, bytes: jsonBytes(values) });
        this.log.push({ op: "values", sync: this.syncs });
        proxy.pendingSnapshot = values;
      }
      if (proxy.pendingClear) {
        for (let row = 0; row < proxy.area.rowCount; row += 1) {
          for (let column = 0; column < proxy.area.columnCount; column += 1) {
            this.set(proxy.sheetName, rowIndex + row, columnIndex + column, "");
          }
        }
        this.log.push({ op: "clear", sync: this.syncs });
        proxy.pendingClear = null;
      }
      const fill = proxy.format && proxy.format.fill;
      if (fill && typeof fill.color === "string" && !proxy.fillLogged) {
        this.log.push({ op: "fill", color: fill.color, sync: this.syncs });
        proxy.fillLogged = true;
      }
    }
  }
}

/** Return a sheet's cells per column: a Map of column index to values by row. */
function toColumns(content) {
  const columns = new Map();
  if (Array.isArray(content)) {
    content.forEach((row, rowIndex) => {
      (row || []).forEach((value, column) => {
        if (!columns.has(column)) {
          columns.set(column, []);
        }
        columns.get(column)[rowIndex] = value;
      });
    });
  } else {
    for (const [column, values] of Object.entries(content.columns || {})) {
      columns.set(Number(column), values);
    }
  }
  return columns;
}

/** The rows of a whole-column selection of column ``columnIndex``. */
export function wholeColumn(columnIndex) {
  return { rowIndex: 0, columnIndex, rowCount: EXCEL_ROWS, columnCount: 1 };
}
