import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/core/config.ts";
import { createApp } from "../../src/server/app.ts";

function app(env: Record<string, string> = {}) {
  const { config } = loadConfig({ env: { XDG_CONFIG_HOME: "/nonexistent-mlstream-test", ...env } });
  return createApp({ config, version: "9.9.9" });
}

describe("HTTP app", () => {
  test("/healthz answers with the version", async () => {
    const res = await app().handle(new Request("http://localhost/healthz"));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, version: "9.9.9" });
  });

  test("unknown routes get a JSON 404 with error and message", async () => {
    const res = await app().handle(new Request("http://localhost/api/nope"));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not_found", message: "no such route" });
  });

  test("routes move under the configured base path", async () => {
    const prefixed = app({ MLSTREAM_SERVER_BASE_PATH: "/mlstream" });
    expect((await prefixed.handle(new Request("http://localhost/mlstream/healthz"))).status).toBe(200);
    expect((await prefixed.handle(new Request("http://localhost/healthz"))).status).toBe(404);
  });
});
