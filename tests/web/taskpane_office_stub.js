// Office and Excel stand-ins for the browser test of the task pane: an
// in-memory sheet with a selection, Excel.run with load/sync (values are read
// at sync, writes land at sync), Office.onReady and Office.actions.associate.
// The test fills window.__FBCHECK_TEST_SHEET__ = {name, rows, selection}
// before this script runs; window.__fbcheckSheet lets it read the result.
(() => {
  const given = window.__FBCHECK_TEST_SHEET__ || { name: "Sheet1", rows: [], selection: [] };
  const cells = new Map();
  const key = (row, column) => row + "," + column;
  given.rows.forEach((row, rowIndex) =>
    row.forEach((value, columnIndex) => {
      if (value !== "" && value !== null) cells.set(key(rowIndex, columnIndex), value);
    }),
  );
  const sheet = {
    cell: (row, column) => (cells.has(key(row, column)) ? cells.get(key(row, column)) : ""),
    column(column, first, count) {
      return Array.from({ length: count }, (_, offset) => this.cell(first + offset, column));
    },
    set(row, column, value) {
      cells.set(key(row, column), value);
    },
    select(selection) {
      given.selection = selection;
    },
    conditionalFormats: [],
    syncs: 0,
    actions: {},
    customFunctions: {},
  };
  window.__fbcheckSheet = sheet;

  let toLoad = [];
  let toWrite = [];

  function rangeAt(rowIndex, columnIndex, rowCount, columnCount) {
    let loaded = null;
    let pending = null;
    const range = {
      rowIndex, columnIndex, rowCount, columnCount,
      load(properties) {
        // Only cells cost anything; index properties are always readable here.
        if (/values|formulas/.test(String(properties))) toLoad.push(range);
        return range;
      },
      get values() {
        if (loaded === null) throw new Error("PropertyNotLoaded: call load('values') and sync() first");
        return loaded;
      },
      // The stub holds no formulas: Range.formulas gives each cell's value.
      get formulas() {
        if (loaded === null) throw new Error("PropertyNotLoaded: call load('formulas') and sync() first");
        return loaded;
      },
      set values(values) { pending = values; toWrite.push(range); },
      format: { fill: { clear() {} }, autofitColumns() {}, autofitRows() {}, protection: { locked: true, load() {} } },
      getUsedRangeOrNullObject() {
        for (const position of cells.keys()) {
          const [row, column] = position.split(",").map(Number);
          if (column >= columnIndex && column < columnIndex + columnCount && row >= rowIndex && row < rowIndex + rowCount && cells.get(position) !== "") {
            return { isNullObject: false, load() {} };
          }
        }
        return { isNullObject: true, load() {} };
      },
      conditionalFormats: {
        clearAll() {
          sheet.conditionalFormats = sheet.conditionalFormats.filter(
            (rule) => !(rule.rowIndex === rowIndex && rule.columnIndex === columnIndex));
        },
        add(type) {
          const rule = { type, rowIndex, columnIndex, rowCount, cellValue: { format: { fill: {}, font: {} }, rule: null } };
          sheet.conditionalFormats.push(rule);
          return rule;
        },
      },
      getMergedAreasOrNullObject() { return { isNullObject: true, address: "", load() {} }; },
      clear() { pending = Array.from({ length: rowCount }, () => new Array(columnCount).fill("")); toWrite.push(range); },
      snapshot() {
        loaded = Array.from({ length: rowCount }, (_, row) =>
          Array.from({ length: columnCount }, (_, column) => sheet.cell(rowIndex + row, columnIndex + column)));
      },
      flush() {
        pending.forEach((row, offset) => row.forEach((value, column) => {
          cells.set(key(rowIndex + offset, columnIndex + column), value);
        }));
        pending = null;
      },
    };
    return range;
  }

  function usedRange() {
    let top = Infinity, bottom = -1, left = Infinity, right = -1;
    for (const [position, value] of cells) {
      if (value === "") continue;
      const [row, column] = position.split(",").map(Number);
      top = Math.min(top, row); bottom = Math.max(bottom, row);
      left = Math.min(left, column); right = Math.max(right, column);
    }
    if (bottom < 0) return { isNullObject: true, load() {} };
    const range = rangeAt(top, left, bottom - top + 1, right - left + 1);
    range.isNullObject = false;
    return range;
  }

  const worksheet = {
    name: given.name,
    load() {},
    protection: { protected: Boolean(given.protected), load() {} },
    getRangeByIndexes: rangeAt,
    getUsedRangeOrNullObject: usedRange,
  };
  const context = {
    workbook: {
      name: "Numbers.xlsx",
      load() {},
      worksheets: {
        getActiveWorksheet: () => worksheet,
        getItem(name) {
          if (name !== given.name) throw Object.assign(new Error("The sheet " + name + " does not exist."), { code: "ItemNotFound" });
          return worksheet;
        },
      },
      getSelectedRanges() {
        return {
          areaCount: given.selection.length,
          load() {},
          areas: { getItemAt: (index) => { const area = given.selection[index]; return rangeAt(area.rowIndex, area.columnIndex, area.rowCount, area.columnCount); } },
        };
      },
    },
    async sync() {
      await Promise.resolve();
      toLoad.forEach((range) => range.snapshot());
      toWrite.forEach((range) => range.flush());
      toLoad = [];
      toWrite = [];
      sheet.syncs += 1;
    },
  };

  // Excel.run(callback) or Excel.run(options, callback); the options are kept for the test.
  sheet.runOptions = [];
  window.Excel = {
    run: async (options, callback) => {
      const batch = typeof options === "function" ? options : callback;
      sheet.runOptions.push(typeof options === "function" ? null : options);
      return batch(context);
    },
  };
  window.Office = {
    onReady(callback) {
      const info = { host: "Excel", platform: "OfficeOnline" };
      setTimeout(() => callback && callback(info), 0);
      return Promise.resolve(info);
    },
    actions: { associate: (name, handler) => { sheet.actions[name] = handler; } },
    addin: { showAsTaskpane: async () => {} },
    context: { document: {} },
  };
  class CustomFunctionsError {
    constructor(code, message) { this.code = code; this.message = message; }
  }
  window.CustomFunctions = {
    Error: CustomFunctionsError,
    ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A" },
    associate: (name, handler) => { sheet.customFunctions[name] = handler; },
  };
})();
