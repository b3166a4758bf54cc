/**
 * The compiled binary works when copied alone into an empty directory: the native WebRTC addon is
 * embedded, and no .env / bunfig.toml from the working directory is picked up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { buildBinary } from "../../scripts/build.ts";
import { cleanEnv, firstLine, runCli, tempDir } from "../support/cli.ts";

const work = tempDir("mlstream-build-");
const lonely = tempDir("mlstream-lonely-");
const binary = join(lonely.path, "mlstream");

beforeAll(async () => {
  const built = join(work.path, "mlstream");
  await buildBinary(built);
  copyFileSync(built, binary);
  Bun.spawnSync(["chmod", "+x", binary]);
  // Traps: a compiled binary must not autoload these from its working directory.
  writeFileSync(join(lonely.path, ".env"), "MLSTREAM_SERVER_PORT=not-a-port\n");
  writeFileSync(join(lonely.path, "bunfig.toml"), "this is = not valid toml [[[\n");
}, 120_000);

afterAll(() => {
  work.cleanup();
  lonely.cleanup();
});

const env = () => ({ XDG_CONFIG_HOME: join(lonely.path, "cfg"), HOME: lonely.path });

describe("compiled binary, alone in an empty directory", () => {
  test("--version prints the version", async () => {
    const { code, stdout } = await runCli(["--version"], { binary, cwd: lonely.path, env: env() });
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(`mlstream ${pkg.version}`);
  });

  test("--help works", async () => {
    const { code, stdout } = await runCli(["--help"], { binary, cwd: lonely.path, env: env() });
    expect(code).toBe(0);
    expect(stdout).toContain("doctor");
  });

  test("doctor --json is ok with a passing data-channel check", async () => {
    const { code, stdout } = await runCli(["--data-dir", join(lonely.path, "data"), "doctor", "--json"], { binary, cwd: lonely.path, env: env() });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(true);
    expect(report.checks.find((c: { name: string }) => c.name === "webrtc-datachannel")).toMatchObject({ ok: true });
  });

  test("the demo runs from the binary alone (the sim host's media loop and the media receive thread are embedded) and join gets frames", async () => {
    const serve = Bun.spawn([binary, "--data-dir", join(lonely.path, "demo-data"), "serve", "--demo", "--port", "0", "--json"], {
      cwd: lonely.path,
      env: cleanEnv(env()),
      stdout: "pipe",
      stderr: "ignore",
    });
    try {
      const { url } = JSON.parse(await firstLine(serve.stdout as ReadableStream<Uint8Array>, () => "serve --demo exited before printing its URL")) as { url: string };
      const joined = await runCli(["join", "demo", "--server", url, "--duration", "2", "--json"], { binary, cwd: lonely.path, env: env(), timeoutMs: 40_000 });
      expect(joined.code).toBe(0);
      const summary = JSON.parse(joined.stdout);
      expect(summary.frames).toBeGreaterThan(30);
      expect(summary.keyframes).toBeGreaterThan(0);
      // The media receive thread's worker is embedded too (else video falls back to the event loop).
      const streamer = (await (await fetch(`${url}/api/streamers/demo`)).json()) as { stream: { media_receive: string } };
      expect(streamer.stream.media_receive).toBe("thread");
    } finally {
      serve.kill("SIGTERM");
      await serve.exited;
    }
  }, 60_000);

  test("an unknown command exits 2", async () => {
    const { code } = await runCli(["nope"], { binary, cwd: lonely.path, env: env() });
    expect(code).toBe(2);
  });
});
