import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv, cliCommand, REPO_ROOT, runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
afterAll(() => home.cleanup());
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.split("\n")[0]!;
}

describe("mlstream serve", () => {
  test("serves /healthz on loopback and stops cleanly on SIGTERM", async () => {
    const proc = Bun.spawn(cliCommand(["serve", "--port", "0", "--json"]), { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
    try {
      const { url, port } = JSON.parse(await firstLine(proc.stdout));
      expect(url).toBe(`http://127.0.0.1:${port}/`);
      const res = await fetch(`${url}healthz`);
      expect(res.status).toBe(200);
      expect((await res.json()).ok).toBe(true);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
    }
  });

  test("refuses a non-loopback address without an admin token", async () => {
    const { code, stderr } = await runCli(["serve", "--host", "0.0.0.0", "--port", "0"], { env });
    expect(code).toBe(1);
    expect(stderr).toContain("refusing to listen on 0.0.0.0 without an admin token");
  });
});
