// Excel's custom-functions runtime as OfficeDev/office-js#4769 describes it, on top
// of taskpane_office_stub.js (run after it): Excel may invoke a function as soon as
// the page loads. Without CustomFunctions.delayInitialization() a call that comes
// before CustomFunctions.associate answers #VALUE!; after it, the call waits for
// associate. window.__excel.invoke(name, args) plays Excel calling a cell and
// returns the index of its invocation in window.__excel.invocations.
(() => {
  const runtime = window.CustomFunctions;
  const associate = runtime.associate;
  const handlers = {};
  const waiting = [];
  let delayed = false;
  runtime.delayInitialization = () => {
    delayed = true;
  };
  runtime.associate = (name, handler) => {
    associate(name, handler);
    handlers[name] = handler;
    for (const call of waiting.splice(0)) {
      if (call.name === name) handler(...call.args, call.invocation);
      else waiting.push(call);
    }
  };
  const excel = {
    invocations: [],
    get delayed() { return delayed; },
    get waiting() { return waiting.length; },
    invoke(name, args) {
      const invocation = { results: [], setResult(value) { this.results.push(value); } };
      excel.invocations.push(invocation);
      if (handlers[name]) handlers[name](...args, invocation);
      else if (delayed) waiting.push({ name, args, invocation });
      else invocation.setResult(new runtime.Error("#VALUE!", name + " is not registered yet"));
      return excel.invocations.length - 1;
    },
    last(index) {
      const results = excel.invocations[index].results;
      return results.length ? results[results.length - 1] : null;
    },
  };
  window.__excel = excel;
})();
