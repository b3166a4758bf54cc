/**
 * The newcomer's path: `mlstream serve --demo` (what `npm start` runs) prints a viewer URL, and
 * `mlstream join` on that URL gets frames.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, cliCommand, REPO_ROOT, runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
afterAll(() => home.cleanup());
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };

async function readUntil(stream: ReadableStream<Uint8Array>, done: (text: string) => boolean): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!done(text)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text;
}

describe("mlstream serve --demo", () => {
  test("npm start runs the demo", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
    expect(pkg.scripts.start).toBe("bun src/cli/main.ts serve --demo");
  });

  test("prints the viewer URL on stdout and a friendly line on stderr; join on the URL gets frames; SIGTERM stops it", async () => {
    const proc = Bun.spawn(cliCommand(["serve", "--demo", "--port", "0"]), { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
    try {
      const stdout = await readUntil(proc.stdout, (t) => t.includes("\n"));
      const viewerUrl = stdout.trim();
      expect(viewerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/view\/demo$/);
      const stderr = await readUntil(proc.stderr, (t) => t.includes("mlstream join demo"));
      expect(stderr).toContain("demo: Test Pattern from a simulated host");
      expect(stderr).toContain(`open ${viewerUrl} in a browser`);

      const joined = await runCli(["join", viewerUrl, "--duration", "2", "--json"], { env, timeoutMs: 60_000 });
      expect(joined.code).toBe(0);
      const summary = JSON.parse(joined.stdout);
      expect(summary.frames).toBeGreaterThan(30);
      expect(summary.stream).toMatchObject({ width: 1280, height: 720, codec: "h264" });

      const server = viewerUrl.replace(/\/view\/demo$/, "");
      const list = JSON.parse((await runCli(["ls", "--server", server, "--json"], { env })).stdout);
      expect(list).toEqual([expect.objectContaining({ id: "demo", status: "live", viewer_url: viewerUrl })]);

      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
    }
  });

  test("--json prints one line with the server and viewer URLs, and nothing else on stdout", async () => {
    const proc = Bun.spawn(cliCommand(["serve", "--demo", "--port", "0", "--json"]), { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
    try {
      const line = (await readUntil(proc.stdout, (t) => t.includes("\n"))).trim();
      const info = JSON.parse(line);
      expect(info).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), port: expect.any(Number), viewer_url: `${info.url}view/demo`, streamer: "demo" });
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(await readUntil(proc.stdout, () => false)).toBe("");
      // Quiet progress: no spinner or ✔ line in --json mode.
      expect(await readUntil(proc.stderr, () => false)).not.toContain("✔");
    } finally {
      proc.kill("SIGKILL");
    }
  });
});
