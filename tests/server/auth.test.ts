/**
 * The auth matrix: every route × (no token, wrong token, viewer token, view-only token, admin
 * token) against a real `mlstream serve` with tokens configured.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../support/cli.ts";
import { startServer, until, type RunningServer } from "../support/server.ts";

const ADMIN = "admin-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";
const VIEW_ONLY = "viewonly-token-0123456789abcdef";

const dir = tempDir("mlstream-auth-");
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(join(dir.path, "data"), {
    MLSTREAM_TOKEN: ADMIN,
    MLSTREAM_AUTH_VIEWER_TOKENS: VIEWER,
    MLSTREAM_AUTH_VIEW_ONLY_TOKENS: VIEW_ONLY,
  });
});

afterAll(async () => {
  await server.stop();
  dir.cleanup();
});

const ROUTES: [method: string, path: string][] = [
  ["GET", "/api/version"],
  ["GET", "/metrics"],
  ["GET", "/openapi/json"],
  ["GET", "/openapi.json"],
  ["GET", "/api/hosts"],
  ["POST", "/api/hosts"],
  ["GET", "/api/hosts/h1"],
  ["DELETE", "/api/hosts/h1"],
  ["POST", "/api/hosts/h1/refresh"],
  ["POST", "/api/hosts/h1/pair"],
  ["DELETE", "/api/hosts/h1/pair"],
  ["GET", "/api/hosts/h1/apps"],
  ["GET", "/api/hosts/h1/apps/1/boxart"],
  ["POST", "/api/streamers"],
  ["GET", "/api/streamers"],
  ["GET", "/api/streamers/s1"],
  ["DELETE", "/api/streamers/s1"],
  ["GET", "/api/streamers/s1/peers"],
  ["DELETE", "/api/streamers/s1/peers/p1"],
];

const TOKENS: [label: string, header: Record<string, string>][] = [
  ["no token", {}],
  ["wrong token", { authorization: "Bearer not-a-real-token-000000" }],
  ["viewer token", { authorization: `Bearer ${VIEWER}` }],
  ["view-only token", { authorization: `Bearer ${VIEW_ONLY}` }],
  ["admin token", { authorization: `Bearer ${ADMIN}` }],
];

function expected(label: string): (status: number) => boolean {
  switch (label) {
    case "no token":
    case "wrong token":
      return (s) => s === 401;
    case "viewer token":
    case "view-only token":
      return (s) => s === 403;
    default:
      return (s) => s !== 401 && s !== 403 && s < 500;
  }
}

describe("auth matrix", () => {
  test("/healthz is open to everyone", async () => {
    for (const [, headers] of TOKENS) expect((await fetch(`${server.url}/healthz`, { headers })).status).toBe(200);
  });

  test("the web UI's page and assets load without a token (they hold no data)", async () => {
    for (const path of ["/", "/view/s1", "/assets/app.js", "/assets/style.css"]) {
      expect(`${path} ${(await fetch(`${server.url}${path}`)).status}`).toBe(`${path} 200`);
    }
  });

  for (const [label, headers] of TOKENS) {
    test(`every REST route with ${label}`, async () => {
      const failures: string[] = [];
      for (const [method, path] of ROUTES) {
        const res = await fetch(`${server.url}${path}`, {
          method,
          headers: { ...headers, "content-type": "application/json" },
          ...(method === "POST" ? { body: "{}" } : {}),
        });
        if (!expected(label)(res.status)) failures.push(`${method} ${path} → ${res.status}`);
        if (res.status === 401 || res.status === 403) {
          const body = (await res.json()) as { error: string };
          expect(["unauthorized", "forbidden"]).toContain(body.error);
        }
      }
      expect(failures).toEqual([]);
    });
  }

  test("a token in ?access_token= works for REST too, and the comparison is exact", async () => {
    expect((await fetch(`${server.url}/api/hosts?access_token=${ADMIN}`)).status).toBe(200);
    expect((await fetch(`${server.url}/api/hosts?access_token=${ADMIN}x`)).status).toBe(401);
    expect((await fetch(`${server.url}/api/hosts?access_token=${ADMIN.slice(0, -1)}`)).status).toBe(401);
  });

  for (const [label, token, allowed] of [
    ["no token", "", false],
    ["wrong token", "nope-nope-nope-nope", false],
    ["viewer token", VIEWER, true],
    ["view-only token", VIEW_ONLY, true],
    ["admin token", ADMIN, true],
  ] as const) {
    test(`the peer WebSocket with ${label} ${allowed ? "upgrades" : "is refused"}`, async () => {
      const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/streamers/s1/peer${token ? `?access_token=${token}` : ""}`);
      const messages: { type: string; error?: string }[] = [];
      let closed: number | undefined;
      let opened = false;
      ws.onopen = () => (opened = true);
      ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)));
      ws.onclose = (e) => (closed = e.code);
      await until(() => closed !== undefined, 5000, "socket to close");
      expect(opened).toBe(allowed);
      // Allowed in, then told that streamer s1 does not exist.
      if (allowed) expect(messages[0]).toMatchObject({ type: "error", error: "streamer_not_found" });
    });
  }
});
