// Custom functions entry (loaded by taskpane.html: the shared runtime runs the
// task pane, the ribbon command and =FBCHECK in one page). Registers FBCHECK,
// described in functions.json as a streaming function returning a matrix.

import { createBackend } from "./backend-client.js";
import { LookupBatcher } from "./lookup-batcher.js";

if (typeof CustomFunctions !== "undefined") {
  const batcher = new LookupBatcher({ backend: createBackend(), customFunctions: CustomFunctions });
  CustomFunctions.associate("FBCHECK", (numbers, region, invocation) => {
    batcher.call(numbers, region, invocation);
  });
}
