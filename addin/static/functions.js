// Custom functions entry (loaded by taskpane.html: the shared runtime runs the
// task pane, the ribbon command and =FBCHECK in one page). Registers FBCHECK,
// described in functions.json as a streaming function returning a matrix.
//
// This module runs only once its imports have loaded; early-registration.js, a
// classic script right after office.js, has called CustomFunctions.delayInitialization()
// so that Excel waits for the associate call below instead of answering #VALUE!
// (OfficeDev/office-js#4769).

import { createBackend } from "./backend-client.js";
import { LookupBatcher } from "./lookup-batcher.js";

/** The one queue behind every =FBCHECK cell (null outside Excel); the pane reads it too. */
export const batcher =
  typeof CustomFunctions === "undefined"
    ? null
    : new LookupBatcher({ backend: createBackend(), customFunctions: CustomFunctions });

if (batcher !== null) {
  // =FBCHECK(numbers, [region], [refresh]): Excel passes every declared parameter
  // (undefined when left out) and the streaming invocation last.
  CustomFunctions.associate("FBCHECK", (...args) => {
    const invocation = args.pop();
    const [numbers, region, refresh] = args;
    batcher.call(numbers, region, invocation, { refresh: refresh === true });
  });
}
