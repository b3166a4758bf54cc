/**
 * Test support, run as its own process (`bun tests/support/body-attacker.ts PORT`): sends the
 * audit's stalling bodies to a server — 50 MB of `[[[[` with a declared length and chunked, and
 * 1 MB of nesting under the size limit — and prints what came back as one JSON line. A separate
 * process, so that building and writing 300 MB does not stall the test's own viewers.
 */
import { inParallel, rawRequest } from "./raw-http.ts";

const port = Number(process.argv[2]);
const HUGE = 50_000_000;
const body = "[".repeat(HUGE);

async function postHuge(chunked: boolean): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const head = [
    "POST /api/streamers HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    "Content-Type: application/json",
    chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${HUGE}`,
    "Connection: close",
  ].join("\r\n");
  const response = await rawRequest(port, head, chunked ? `${HUGE.toString(16)}\r\n${body}\r\n0\r\n\r\n` : body, 20_000);
  return { status: response.status, ms: performance.now() - started };
}

const huge = await inParallel([false, true, false, true, false, true], 6, postHuge);
const deepBody = "[".repeat(1_000_000);
const deep = await inParallel([0, 1, 2, 3, 4, 5, 6, 7], 8, async () => {
  const response = await fetch(`http://127.0.0.1:${port}/api/streamers`, { method: "POST", headers: { "content-type": "application/json" }, body: deepBody });
  return { status: response.status, error: ((await response.json()) as { error: string }).error };
});
process.stdout.write(`${JSON.stringify({ huge, deep })}\n`);
