/**
 * API request bodies: JSON only, bounded in size and nesting before JSON.parse sees them. The
 * audit's 50 MB of `[[[[` took 3.9 GB and froze the event loop (and every WebSocket viewer with
 * it) for 3.8 s; a body here is at most `server.max_body_kb`, and its depth is counted in one pass
 * over the bytes (no allocation) before anything is built.
 */
import { HttpError } from "./http-error.ts";

/** Deeper than any body of ours (they are flat objects); far below what could hurt the parser. */
export const MAX_JSON_DEPTH = 16;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The deepest nesting of arrays/objects in `bytes`, stopping as soon as it passes `limit`. */
export function jsonDepth(bytes: Uint8Array, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return deepest;
}

/**
 * Reads and parses a JSON request body. The gate has already refused a declared length over
 * the limit; a chunked body is counted here as it arrives and refused once it passes it.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const bytes = await readBounded(request, maxBytes);
  if (bytes.length === 0) return undefined;
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new HttpError(400, "body_too_deep", `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "bad_body", "the request body is not valid JSON");
  }
}

async function readBounded(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, "body_too_large", `the request body is over the limit of ${maxBytes} bytes (server.max_body_kb)`);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
