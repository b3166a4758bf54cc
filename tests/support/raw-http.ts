/**
 * Test support: HTTP/1.x requests written byte by byte on a loopback TCP socket, for what
 * `fetch` will not send — no Host, several Hosts, a one-letter Host, an absolute-form target,
 * a path with `..` or `%2F` left as typed, a WebSocket upgrade with a foreign Origin.
 */
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends `head` (request line and headers, without the blank line) and an optional body. */
export function rawRequest(port: number, head: string, body = "", timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? "0");
      if (status === 0) reject(new Error(`no HTTP answer to ${JSON.stringify(head.split("\r\n")[0])}: ${JSON.stringify(text.slice(0, 80))}`));
      else resolve({ status, headers: split < 0 ? text : text.slice(0, split), body: split < 0 ? "" : text.slice(split + 4) });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on("connect", () => socket.write(`${head}\r\n\r\n${body}`));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // Done at the end of one response: an upgrade (101) or a kept-alive connection never closes by itself.
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return;
      if (text.startsWith("HTTP/1.1 101")) return finish();
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (length !== undefined && text.length - split - 4 >= Number(length)) finish();
    });
    socket.on("close", finish);
    socket.on("error", () => finish());
  });
}

/** The headers of a WebSocket upgrade request. */
export function upgradeHeaders(): string[] {
  return ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="];
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(lanes);
  return results;
}
