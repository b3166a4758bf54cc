import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
afterAll(() => home.cleanup());
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };

describe("mlstream CLI", () => {
  test("--version prints the package version on stdout", async () => {
    const { code, stdout } = await runCli(["--version"], { env });
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(`mlstream ${pkg.version}`);
  });

  test("--help lists the commands on stdout and exits 0", async () => {
    const { code, stdout } = await runCli(["--help"], { env });
    expect(code).toBe(0);
    expect(stdout).toContain("doctor");
    expect(stdout).toContain("serve");
    expect(stdout).toContain("--data-dir");
  });

  test("an unknown command exits 2 with a short help on stderr and nothing on stdout", async () => {
    const { code, stdout, stderr } = await runCli(["frobnicate"], { env });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("unknown command 'frobnicate'");
    expect(stderr).toContain("Commands:");
  });

  test("an unknown option exits 2", async () => {
    const { code, stderr } = await runCli(["doctor", "--frob"], { env });
    expect(code).toBe(2);
    expect(stderr).toContain("--frob");
  });

  test("an unknown action of a multi-word command exits 2 naming the known ones", async () => {
    const { code, stderr } = await runCli(["config", "frob"], { env });
    expect(code).toBe(2);
    expect(stderr).toContain("unknown action 'config frob' (known: print)");
  });

  test("config print --json shows effective values with their source, secrets masked", async () => {
    const { code, stdout } = await runCli(["config", "print", "--json", "--log-level", "debug"], {
      env: { ...env, MLSTREAM_SERVER_PORT: "9123", MLSTREAM_TOKEN: "s3cret-token-abcdefgh" },
    });
    expect(code).toBe(0);
    const printed = JSON.parse(stdout);
    expect(printed.values["server.port"]).toEqual({ value: 9123, source: "env" });
    expect(printed.values["log.level"]).toEqual({ value: "debug", source: "flag" });
    expect(printed.values["auth.admin_tokens"].value).toEqual(["********"]);
    expect(stdout).not.toContain("s3cret");
  });

  test("a bad config stops with a one-line error naming the key and value", async () => {
    const file = join(home.path, "bad.toml");
    writeFileSync(file, `[server]\nport = 70000\n`);
    const { code, stdout, stderr } = await runCli(["--config", file, "config", "print"], { env });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("server.port = 70000");

    const badEnv = await runCli(["config", "print"], { env: { ...env, MLSTREAM_LOG_LEVEL: "loud" } });
    expect(badEnv.code).toBe(1);
    expect(badEnv.stderr.trim()).toBe('mlstream: config: log.level = "loud" (from MLSTREAM_LOG_LEVEL): expected one of silent, error, warn, info, debug, trace');

    const unknownKey = join(home.path, "unknown.toml");
    writeFileSync(unknownKey, `colour = "blue"\n`);
    const badKey = await runCli(["--config", unknownKey, "doctor"], { env });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr.trim()).toBe(`mlstream: config: unknown key 'colour' in ${unknownKey}`);
  });
});

describe("mlstream doctor", () => {
  test("--json prints exactly one JSON object with passing WebRTC, UDP and data-dir checks", async () => {
    const data = join(home.path, "doctor-data");
    const { code, stdout } = await runCli(["--data-dir", data, "doctor", "--json"], { env });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c: { name: string }) => [c.name, c]));
    for (const name of ["webrtc-addon", "webrtc-datachannel", "udp", "data-dir", "temp-dir"]) expect(byName[name].ok).toBe(true);
    expect(byName["data-dir"].detail).toContain(data);
    for (const check of report.checks) expect(Object.keys(check)).toEqual(expect.arrayContaining(["name", "ok", "detail"]));
  });

  test("an unwritable data dir fails the report with exit code 1", async () => {
    const { code, stdout } = await runCli(["--data-dir", "/proc/mlstream-cannot-exist", "doctor", "--json"], { env });
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c: { name: string }) => c.name === "data-dir").ok).toBe(false);
  });
});
