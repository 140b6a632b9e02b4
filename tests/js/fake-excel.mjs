// An in-memory workbook behind office-addin-mock objects: load/sync semantics
// for every proxy (a property read before load() + sync() is an error string),
// writes land in the grid only at context.sync(), and each sync is logged.

import { OfficeMockObject } from "office-addin-mock";

const EXCEL_ROWS = 1048576;

/** Return the JSON size in bytes of ``values``. */
export function jsonBytes(values) {
  return Buffer.byteLength(JSON.stringify(values));
}

/** A workbook with sheets of sparse cells, a selection and an Excel.run. */
export class FakeWorkbook {
  /** ``sheets``: {name: [[row values]...]} from A1; ``selection``: [{rowIndex, columnIndex, rowCount, columnCount}]. */
  constructor({ name = "Book1.xlsx", sheets = { Sheet1: [] }, active = "Sheet1", selection = [] } = {}) {
    this.name = name;
    this.grids = new Map(Object.entries(sheets).map(([sheet, rows]) => [sheet, rows.map((row) => [...row])]));
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
    const line = this.grids.get(sheet)[row];
    const value = line ? line[column] : undefined;
    return value === undefined ? "" : value;
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
  usedRange(sheet) {
    const rows = this.grids.get(sheet);
    let top = -1;
    let bottom = -1;
    let left = Infinity;
    let right = -1;
    rows.forEach((row, index) => {
      row.forEach((value, column) => {
        if (value !== "" && value !== null && value !== undefined) {
          top = top < 0 ? index : top;
          bottom = index;
          left = Math.min(left, column);
          right = Math.max(right, column);
        }
      });
    });
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

  /** Return a range proxy; with ``withValues`` its values are the grid's at creation. */
  rangeProxy(sheet, area, withValues) {
    const data = { ...area, address: `${sheet}!R${area.rowIndex}C${area.columnIndex}` };
    let snapshot = null;
    if (withValues) {
      if (area.rowCount > 20000 || area.rowCount * area.columnCount > 1000000) {
        throw Object.assign(new Error("The response payload size has exceeded the limit."), { code: "PayloadTooLarge" });
      }
      snapshot = Array.from({ length: area.rowCount }, (_, row) =>
        Array.from({ length: area.columnCount }, (_, column) => this.cell(sheet, area.rowIndex + row, area.columnIndex + column)),
      );
      data.values = snapshot;
    }
    data.format = { fill: { clear: () => this.log.push({ op: "fill-clear", sheet, area }) }, autofitColumns: () => {}, autofitRows: () => {} };
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
    proxy.pendingSnapshot = snapshot;
    proxy.sheetName = sheet;
    proxy.area = area;
    return proxy;
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
      const grid = this.grids.get(proxy.sheetName);
      if (Array.isArray(proxy.values) && proxy.values !== proxy.pendingSnapshot) {
        const values = proxy.values;
        values.forEach((row, offset) => {
          const line = grid[rowIndex + offset] || (grid[rowIndex + offset] = []);
          row.forEach((value, column) => {
            line[columnIndex + column] = value;
          });
        });
        this.writes.push({ sheet: proxy.sheetName, rowIndex, columnIndex, rows: values.length, bytes: jsonBytes(values) });
        this.log.push({ op: "values", sync: this.syncs });
        proxy.pendingSnapshot = values;
      }
      if (proxy.pendingClear) {
        for (let row = 0; row < proxy.area.rowCount; row += 1) {
          const line = grid[rowIndex + row] || [];
          for (let column = 0; column < proxy.area.columnCount; column += 1) {
            line[columnIndex + column] = "";
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

/** The rows of a whole-column selection of column ``columnIndex``. */
export function wholeColumn(columnIndex) {
  return { rowIndex: 0, columnIndex, rowCount: EXCEL_ROWS, columnCount: 1 };
}
