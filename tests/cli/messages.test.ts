/**
 * What the CLI says when things are not as the user expects, as a user sees it: a sim host and
 * `serve` (under a base path) in their own processes, the CLI in a third.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT, runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };
let sim: ReturnType<typeof Bun.spawn> | undefined;
let serve: ReturnType<typeof Bun.spawn> | undefined;
let serveLog = "";
let origin = "";
let server = "";

function spawnCli(args: string[]) {
  return Bun.spawn(cliCommand(args), { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
}

beforeAll(async () => {
  sim = spawnCli(["sim-host", "--port", "0", "--pin", "1357", "--json"]);
  const ports = JSON.parse(await firstLine(sim.stdout as ReadableStream<Uint8Array>));
  serve = spawnCli(["--data-dir", join(home.path, "server"), "serve", "--port", "0", "--base-path", "/mlstream", "--json"]);
  server = JSON.parse(await firstLine(serve.stdout as ReadableStream<Uint8Array>)).url.replace(/\/$/, "");
  void (async () => {
    for await (const chunk of serve!.stderr as ReadableStream<Uint8Array>) serveLog += new TextDecoder().decode(chunk);
  })();
  origin = new URL(server).origin;
  const json = { "content-type": "application/json" };
  const host = await (await fetch(`${server}/api/hosts`, { method: "POST", headers: json, body: JSON.stringify({ address: `127.0.0.1:${ports.http_port}` }) })).json();
  expect(await (await fetch(`${server}/api/hosts/${host.id}/pair`, { method: "POST", headers: json, body: JSON.stringify({ pin: "1357" }) })).text()).toContain('"paired"');
}, 60_000);

afterAll(async () => {
  for (const proc of [serve, sim]) {
    proc?.kill("SIGTERM");
    await proc?.exited;
  }
  home.cleanup();
});

const cli = (...args: string[]) => runCli(args, { env, timeoutMs: 60_000 });

describe("the CLI explains", () => {
  test("start --help does not call --no-wait's default 'true'", async () => {
    const { code, stdout } = await cli("start", "--help");
    expect(code).toBe(0);
    const line = stdout.split("\n").find((l) => l.includes("--no-wait"))!;
    expect(line).toContain("Return at once");
    expect(line).not.toContain("default");
  });

  test("hosts ls on an empty local store says which store it read, and that a server or the demo keeps its own", async () => {
    const dataDir = join(home.path, "empty");
    const { code, stdout } = await cli("--data-dir", dataDir, "hosts", "ls");
    expect(code).toBe(0);
    expect(stdout).toContain(`no hosts in the local store (${dataDir})`);
    expect(stdout).toContain("serve --demo");
  });

  test("ls --server without the base path says the server answered 404 and suggests the base path", async () => {
    const { code, stderr } = await cli("ls", "--server", origin);
    expect(code).toBe(1);
    expect(stderr).toContain(`the server at ${origin} answered 404 for /api/streamers`);
    expect(stderr).toContain("base path");
    expect(stderr).not.toContain("no such route");
    expect((await cli("ls", "--server", server)).code).toBe(0);
  });

  test("start --app Nope names the apps the host lists", async () => {
    const { code, stderr } = await cli("start", "--app", "Nope", "--server", server);
    expect(code).toBe(1);
    expect(stderr).toContain('no app "Nope" on the host: it lists "Desktop" (881448767), "Test Pattern" (1093255277)');
  });

  test("a host busy with another app: its name, said once, and what to do", async () => {
    expect((await cli("start", "--app", "Test Pattern", "--id", "first", "--server", server)).code).toBe(0);
    // Stopped without --quit: the app keeps running on the host.
    expect((await cli("stop", "first", "--server", server)).code).toBe(0);
    const { code, stderr } = await cli("start", "--app", "Desktop", "--id", "second", "--server", server);
    expect(code).toBe(1);
    expect(stderr).toContain(`streamer 'second' failed: the host is running another app, "Test Pattern" (id 1093255277): quit it on the host`);
    expect(stderr).not.toContain("failed: failed");
  });

  test("a WebSocket viewer leaving is logged, as a WebRTC viewer's is", async () => {
    expect((await cli("start", "--app", "Test Pattern", "--id", "logged", "--server", server)).code).toBe(0);
    const joined = await cli("join", "logged", "--transport", "websocket", "--duration", "1", "--json", "--server", server);
    expect(joined.code).toBe(0);
    const deadline = Date.now() + 5000;
    while (!/logged: viewer \S+ left over WebSocket/.test(serveLog) && Date.now() < deadline) await Bun.sleep(100);
    expect(serveLog).toMatch(/logged: viewer \S+ joined over WebSocket/);
    expect(serveLog).toMatch(/logged: viewer \S+ left over WebSocket \([^)]*\); 0 remain/);
  });
});
