import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EXIT_ADDRESS_IN_USE, EXIT_DATA_DIR_LOCKED } from "../../src/cli/exit-codes.ts";
import { PID_FILE } from "../../src/core/data-dir-lock.ts";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT, runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
afterAll(() => home.cleanup());
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };

/** A serve in its own data dir; resolves with its first stdout line (the JSON with url and port). */
async function spawnServe(dataDir: string, args: string[] = []) {
  const proc = Bun.spawn(cliCommand(["--data-dir", dataDir, "serve", "--json", ...args]), { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
  const line = await firstLine(proc.stdout);
  return { proc, line };
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

  test("a second serve on a port in use fails at once with exit code 3 and one line, and the first keeps serving", async () => {
    const first = await spawnServe(join(home.path, "port-a"), ["--port", "0"]);
    try {
      const { url, port } = JSON.parse(first.line);
      const started = performance.now();
      const second = await runCli(["--data-dir", join(home.path, "port-b"), "serve", "--port", String(port)], { env, timeoutMs: 10_000 });
      const elapsed = performance.now() - started;
      expect(second.code).toBe(EXIT_ADDRESS_IN_USE);
      expect(second.stderr.trim()).toBe(`mlstream: 127.0.0.1:${port} is already in use (another mlstream serve?); stop it or pick another --port`);
      console.log(`second serve on the same port: exit ${second.code} after ${elapsed.toFixed(0)} ms`);
      // Every connection still reaches the first (with reusePort some went to the second).
      for (let i = 0; i < 5; i++) expect((await fetch(`${url}healthz`)).status).toBe(200);
    } finally {
      first.proc.kill("SIGKILL");
      await first.proc.exited;
    }
  });

  test("a second serve on the same data dir fails with exit code 4 naming the first; the lock goes with a killed serve", async () => {
    const dataDir = join(home.path, "locked");
    const first = await spawnServe(dataDir, ["--port", "0"]);
    let third: Awaited<ReturnType<typeof spawnServe>> | undefined;
    try {
      const started = performance.now();
      const second = await runCli(["--data-dir", dataDir, "serve", "--port", "0"], { env, timeoutMs: 10_000 });
      const elapsed = performance.now() - started;
      expect(second.code).toBe(EXIT_DATA_DIR_LOCKED);
      expect(second.stderr.trim()).toBe(`mlstream: data dir ${dataDir} is in use by another mlstream serve (pid ${first.proc.pid}); stop it or use another --data-dir`);
      console.log(`second serve on the same data dir: exit ${second.code} after ${elapsed.toFixed(0)} ms`);
      // A crashed serve leaves no stale lock: the kernel drops it with the process.
      first.proc.kill("SIGKILL");
      await first.proc.exited;
      third = await spawnServe(dataDir, ["--port", "0"]);
      expect(JSON.parse(third.line).port).toBeGreaterThan(0);
      third.proc.kill("SIGTERM");
      expect(await third.proc.exited).toBe(0);
      // A clean exit releases the lock and removes the pid file.
      expect(existsSync(join(dataDir, PID_FILE))).toBe(false);
    } finally {
      first.proc.kill("SIGKILL");
      third?.proc.kill("SIGKILL");
    }
  });

  test("--host ::1 and --host [::1] print the URL with one pair of brackets", async () => {
    for (const host of ["::1", "[::1]"]) {
      const served = await spawnServe(join(home.path, "ipv6"), ["--host", host, "--port", "0"]);
      try {
        const { url, port } = JSON.parse(served.line);
        expect(url).toBe(`http://[::1]:${port}/`);
        expect((await fetch(`${url}healthz`)).status).toBe(200);
      } finally {
        served.proc.kill("SIGKILL");
        await served.proc.exited;
      }
    }
  });
});
