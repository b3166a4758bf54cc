/**
 * The by-hand flow of the control plane, as a user types it: a sim host in one process, the CLI
 * against it from another, sharing nothing but loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT, runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };
let sim: ReturnType<typeof Bun.spawn>;
let endpoint = "";

beforeAll(async () => {
  sim = Bun.spawn(cliCommand(["sim-host", "--port", "0", "--pin", "4321", "--json"]), { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "ignore" });
  const ports = JSON.parse(await firstLine(sim.stdout as ReadableStream<Uint8Array>, () => "sim-host exited before printing its ports"));
  expect(ports.https_port).toBeGreaterThan(0);
  endpoint = `127.0.0.1:${ports.http_port}`;
});

afterAll(async () => {
  sim.kill("SIGTERM");
  await sim.exited;
  home.cleanup();
});

const cli = (...args: string[]) => runCli(args, { env });

describe("hosts, pair, apps against the sim host", () => {
  test("add, list, pair with the right PIN, list apps as JSON", async () => {
    const added = await cli("hosts", "add", endpoint, "--json");
    expect(added.code).toBe(0);
    const host = JSON.parse(added.stdout);
    expect(host.name).toBe("mlstream-sim");

    const before = JSON.parse((await cli("hosts", "ls", "--json")).stdout);
    expect(before).toHaveLength(1);
    expect(before[0]).toMatchObject({ id: host.id, paired: false, online: true, state: "free" });

    const unpairedApps = await cli("apps", endpoint);
    expect(unpairedApps.code).toBe(1);
    expect(unpairedApps.stderr).toContain("is not paired");

    const paired = await cli("pair", endpoint, "--pin", "4321");
    expect(paired.code).toBe(0);
    expect(paired.stderr).toContain("PIN 4321");
    expect(paired.stderr).toContain("paired with mlstream-sim");

    const apps = await cli("apps", "127.0.0.1", "--json");
    expect(apps.code).toBe(0);
    const list = JSON.parse(apps.stdout);
    expect(list.length).toBeGreaterThanOrEqual(2);
    for (const app of list) expect(Object.keys(app).sort()).toEqual(["id", "title"]);
    expect(list.map((a: { title: string }) => a.title)).toContain("Desktop");

    const after = JSON.parse((await cli("hosts", "ls", "--json")).stdout);
    expect(after[0].paired).toBe(true);
  });

  test("a wrong PIN fails with exit code 1 and says so", async () => {
    const wrong = await cli("pair", endpoint, "--pin", "0000", "--identity", "other");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("PIN");
    expect(wrong.stderr).toMatch(/does not match/);
  });

  test("pair --json prints the PIN and the result as JSON lines on stdout", async () => {
    const result = await cli("pair", endpoint, "--pin", "4321", "--identity", "streamer-2", "--json");
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(lines[0]).toEqual({ pin: "4321" });
    expect(lines[1].paired).toBeString();
  });

  test("an unknown host, a missing argument and an unknown action are reported", async () => {
    const unknown = await cli("apps", "nowhere");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no host 'nowhere'");
    expect((await cli("hosts", "add")).code).toBe(2);
    expect((await cli("hosts", "frob")).code).toBe(2);
    expect((await cli("pair", endpoint, "--pin", "12a4")).code).toBe(2);
  });

  test("an unreachable host cannot be added", async () => {
    const result = await cli("hosts", "add", "127.0.0.1:9");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unreachable|refused/i);
  });

  test("unpair, then apps needs pairing again; rm removes the host", async () => {
    expect((await cli("unpair", endpoint)).code).toBe(0);
    expect((await cli("apps", endpoint)).stderr).toContain("is not paired");
    expect((await cli("hosts", "rm", endpoint)).code).toBe(0);
    expect(JSON.parse((await cli("hosts", "ls", "--json")).stdout)).toEqual([]);
  });
});
