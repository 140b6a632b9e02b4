// Send a selection (excel-payload.js readPayload) to the backend in requests of at
// most 5 MB: one request when it fits, else an upload session of chunks
// (docs/addin-api.md, "Uploads"). Excel on the web caps one request or response at
// 5 MB (Microsoft, "Resource limits and performance optimization for Office Add-ins",
// Excel add-ins: "Excel on the web has a payload size limit for requests and responses
// of 5MB", https://learn.microsoft.com/office/dev/add-ins/concepts/resource-limits-and-performance-optimization#excel-add-ins);
// the pane keeps every request to its backend under the same bound.

/** No request body of the pane is larger than this (5 MB, decimal: the stricter reading). */
export const MAX_REQUEST_BYTES = 5 * 1000 * 1000;
/** Rows are packed into chunks of at most this many bytes, leaving room for the envelope. */
export const CHUNK_BYTES = 4 * 1000 * 1000;
/** Bytes of a chunk's or a request's fields besides the cells: a generous bound. */
const ENVELOPE_BYTES = 64 * 1024;
/** Tries of one chunk when the backend does not answer (a chunk is idempotent by index). */
export const CHUNK_TRIES = 3;

/** Return the UTF-8 length of ``text`` without encoding it. */
export function utf8Length(text) {
  let bytes = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x80) {
      bytes += 1;
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair: one 4-byte character.
      bytes += 4;
      index += 1;
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

/** Return the JSON size in bytes of one cell, with its comma. */
function cellBytes(cell) {
  return utf8Length(JSON.stringify(cell)) + 1;
}

/**
 * Split the areas of ``selection`` into chunks {area, offset, values, target} of at most
 * ``maxBytes`` of cells each (a row is never split; one row is far below the bound).
 */
export function splitIntoChunks(selection, { maxBytes = CHUNK_BYTES } = {}) {
  const chunks = [];
  selection.areas.forEach((area, position) => {
    let offset = 0;
    while (offset < area.values.length) {
      let end = offset;
      let bytes = 0;
      while (end < area.values.length) {
        const row = cellBytes(area.values[end]) + cellBytes(area.target[end]);
        if (end > offset && bytes + row > maxBytes) {
          break;
        }
        bytes += row;
        end += 1;
      }
      chunks.push({
        area: position,
        offset,
        values: area.values.slice(offset, end),
        target: area.target.slice(offset, end),
      });
      offset = end;
    }
  });
  return chunks;
}

/** Return the size in bytes the selection's cells take in JSON (counted up to ``limit``). */
function cellsBytes(selection, limit) {
  let bytes = 0;
  for (const area of selection.areas) {
    for (let index = 0; index < area.values.length; index += 1) {
      bytes += cellBytes(area.values[index]) + cellBytes(area.target[index]);
      if (bytes > limit) {
        return bytes;
      }
    }
  }
  return bytes;
}

/**
 * POST ``selection`` with ``fields`` (overwrite, start) to ``path`` and return the answer:
 * in the body when it fits in one request, else by an upload session whose chunks are
 * sent one by one and named by ``upload_id``. ``onProgress(sent, total)`` hears each chunk;
 * ``chunkBytes`` (tests) packs smaller chunks.
 */
export async function sendSelection(
  backend,
  path,
  selection,
  fields = {},
  { onProgress = () => {}, sleep = null, chunkBytes = CHUNK_BYTES } = {},
) {
  if (cellsBytes(selection, chunkBytes) + ENVELOPE_BYTES <= chunkBytes) {
    return backend.post(path, { ...selection, ...fields });
  }
  const chunks = splitIntoChunks(selection, { maxBytes: chunkBytes });
  const opened = await backend.post("/xlwings/uploads", {
    sheet: selection.sheet,
    region: selection.region,
    areas: selection.areas.map(({ address, target_column }) => ({ address, target_column })),
    chunks: chunks.length,
  });
  const base = `/xlwings/uploads/${encodeURIComponent(opened.upload_id)}`;
  const putAll = async () => {
    for (let index = 0; index < chunks.length; index += 1) {
      await putChunk(backend, `${base}/chunks/${index}`, chunks[index], sleep);
      onProgress(index + 1, chunks.length);
    }
  };
  await putAll();
  try {
    return await backend.post(path, { upload_id: opened.upload_id, ...fields });
  } catch (error) {
    if (error.code !== "upload_incomplete") {
      throw error;
    }
    // A chunk was lost on the way: chunks are idempotent by index, so send them all again.
    await putAll();
    return backend.post(path, { upload_id: opened.upload_id, ...fields });
  }
}

/** PUT one chunk, trying again while the backend does not answer at all. */
async function putChunk(backend, path, chunk, sleep) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await backend.put(path, chunk);
    } catch (error) {
      if (error.status !== 0 || attempt >= CHUNK_TRIES) {
        throw error;
      }
      if (sleep) {
        await sleep(500 * attempt);
      }
    }
  }
}
