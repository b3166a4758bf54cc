import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeConfig, envNameOf, loadConfig } from "../../src/core/config.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { tempDir } from "../support/cli.ts";

const noFileEnv = (extra: Record<string, string> = {}) => ({ XDG_CONFIG_HOME: "/nonexistent-mlstream-test", ...extra });

describe("loadConfig", () => {
  test("defaults apply when nothing is set", () => {
    const { config, sources } = loadConfig({ env: noFileEnv() });
    expect(config.server.host).toBe("127.0.0.1");
    expect(config.server.port).toBe(8080);
    expect(config.log.level).toBe("info");
    expect(sources.get("server.port")).toBe("default");
  });

  test("flag beats env beats file beats default", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.toml");
      writeFileSync(file, `[server]\nport = 9000\nhost = "127.0.0.2"\nbase_path = "/ml"\n[log]\nlevel = "warn"\n`);
      const loaded = loadConfig({
        configFile: file,
        env: noFileEnv({ MLSTREAM_SERVER_PORT: "9001", MLSTREAM_SERVER_HOST: "127.0.0.3" }),
        flags: { "server.port": "9002" },
      });
      expect(loaded.config.server.port).toBe(9002);
      expect(loaded.sources.get("server.port")).toBe("flag");
      expect(loaded.config.server.host).toBe("127.0.0.3");
      expect(loaded.sources.get("server.host")).toBe("env");
      expect(loaded.config.server.base_path).toBe("/ml");
      expect(loaded.config.log.level).toBe("warn");
      expect(loaded.sources.get("log.level")).toBe("file");
      expect(loaded.file).toBe(file);
    } finally {
      dir.cleanup();
    }
  });

  test("JSON config files are read too", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.json");
      writeFileSync(file, JSON.stringify({ server: { port: 8181 } }));
      expect(loadConfig({ configFile: file, env: noFileEnv() }).config.server.port).toBe(8181);
    } finally {
      dir.cleanup();
    }
  });

  test("the default config file under XDG_CONFIG_HOME is found", () => {
    const dir = tempDir();
    try {
      Bun.spawnSync(["mkdir", "-p", join(dir.path, "mlstream")]);
      writeFileSync(join(dir.path, "mlstream", "config.toml"), `data_dir = "${dir.path}/data"\n`);
      const loaded = loadConfig({ env: { XDG_CONFIG_HOME: dir.path } });
      expect(loaded.config.data_dir).toBe(`${dir.path}/data`);
    } finally {
      dir.cleanup();
    }
  });

  test("a bad port names the key, the value and where it came from", () => {
    expect(() => loadConfig({ env: noFileEnv({ MLSTREAM_SERVER_PORT: "99999" }) })).toThrow(
      'config: server.port = "99999" (from MLSTREAM_SERVER_PORT): expected a port number 0–65535',
    );
    expect(() => loadConfig({ env: noFileEnv(), flags: { "server.port": "http" } })).toThrow(/server\.port = "http" \(from --port\)/);
  });

  test("a wrong type in the file names the key and the file", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.toml");
      writeFileSync(file, `[server]\nport = "eighty"\n`);
      expect(() => loadConfig({ configFile: file, env: noFileEnv() })).toThrow(`config: server.port = "eighty" (in ${file}): expected a port number`);
      writeFileSync(file, `[log]\nlevel = 3\n`);
      expect(() => loadConfig({ configFile: file, env: noFileEnv() })).toThrow(/log\.level = 3 .*expected one of silent, error/);
    } finally {
      dir.cleanup();
    }
  });

  test("unknown keys are rejected in files and environment", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.toml");
      writeFileSync(file, `[server]\nprot = 80\n`);
      expect(() => loadConfig({ configFile: file, env: noFileEnv() })).toThrow(`config: unknown key 'server.prot' in ${file}`);
      expect(() => loadConfig({ env: noFileEnv({ MLSTREAM_SERVR_PORT: "1" }) })).toThrow("unknown environment variable MLSTREAM_SERVR_PORT");
    } finally {
      dir.cleanup();
    }
  });

  test("invalid TOML and a missing explicit file are clear errors", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.toml");
      writeFileSync(file, `[server\nport = 1`);
      expect(() => loadConfig({ configFile: file, env: noFileEnv() })).toThrow(/is not valid TOML/);
      expect(() => loadConfig({ configFile: join(dir.path, "nope.toml"), env: noFileEnv() })).toThrow(/does not exist/);
    } finally {
      dir.cleanup();
    }
  });

  test("MLSTREAM_TOKEN adds an admin token to those from the file, and secrets are masked", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.toml");
      writeFileSync(file, `[auth]\nadmin_tokens = ["file-token-0123456789"]\n`);
      const loaded = loadConfig({ configFile: file, env: noFileEnv({ MLSTREAM_TOKEN: "env-token-0123456789" }) });
      expect(loaded.config.auth.admin_tokens).toEqual(["file-token-0123456789", "env-token-0123456789"]);
      const described = describeConfig(loaded);
      expect(JSON.stringify(described)).not.toContain("token-0123456789");
      expect(described["auth.admin_tokens"]!.value).toEqual(["********", "********"]);
    } finally {
      dir.cleanup();
    }
  });

  test("short tokens are refused without echoing them", () => {
    let message = "";
    try {
      loadConfig({ env: noFileEnv({ MLSTREAM_TOKEN: "short" }) });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain("auth.admin_tokens = (secret)");
    expect(message).not.toContain("short");
  });

  test("base_path must look like a path prefix", () => {
    expect(() => loadConfig({ env: noFileEnv({ MLSTREAM_SERVER_BASE_PATH: "ml/" }) })).toThrow(/server\.base_path/);
    expect(loadConfig({ env: noFileEnv({ MLSTREAM_SERVER_BASE_PATH: "/a/b" }) }).config.server.base_path).toBe("/a/b");
  });

  test("environment names derive from keys", () => {
    expect(envNameOf("server.base_path")).toBe("MLSTREAM_SERVER_BASE_PATH");
    expect(envNameOf("data_dir")).toBe("MLSTREAM_DATA_DIR");
  });
});

test("the default data dir follows XDG_DATA_HOME", () => {
  expect(loadConfig({ env: noFileEnv({ XDG_DATA_HOME: "/srv/data" }) }).config.data_dir).toBe("/srv/data/mlstream");
  expect(loadConfig({ env: noFileEnv({ HOME: "/home/u" }) }).config.data_dir).toMatch(/\/\.local\/share\/mlstream$/);
});
