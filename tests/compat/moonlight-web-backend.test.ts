/**
 * Helix's backend against `serve --compat moonlight-web` with the sim host, written from
 * docs/helix.md: pairing by the shared PIN, the kickoff (keepalive without a header), sessions and
 * admin status, and the attacker's side of the in-band access level.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { startServer, until, type RunningServer } from "../support/server.ts";

const PIN = "4321";
const CREDENTIALS = "helix-sidecar-credentials";
let sim: SimHost;
let server: RunningServer;
let dir: { path: string; cleanup(): void };

beforeAll(async () => {
  sim = new SimHost({ pin: PIN });
  const { httpPort } = await sim.start();
  dir = tempDir("mlstream-helix-");
  const helixDir = join(dir.path, "helix");
  mkdirSync(helixDir);
  // As Helix writes them (docs/helix.md §3), host 0 pointing at the sim host.
  writeFileSync(join(helixDir, "config.json"), JSON.stringify({ bind_address: "0.0.0.0:8080", credentials: "{{MOONLIGHT_CREDENTIALS}}", webrtc_ice_servers: [], webrtc_port_range: { min: 40000, max: 40100 }, webrtc_network_types: ["udp4", "udp6"] }));
  writeFileSync(join(helixDir, "data.json"), JSON.stringify({ hosts: [{ address: "127.0.0.1", http_port: httpPort, unique_id: null, cache: { name: "Helix (sim)", mac: "00:11:22:33:44:55" } }] }));
  server = await startServer(join(dir.path, "data"), { MOONLIGHT_CREDENTIALS: CREDENTIALS, MOONLIGHT_INTERNAL_PAIRING_PIN: PIN, MLSTREAM_COMPAT_HELIX_DIR: helixDir }, ["--compat", "moonlight-web"]);
});

afterAll(async () => {
  await server?.stop();
  await sim?.close();
  dir?.cleanup();
});

const bearer = { authorization: `Bearer ${CREDENTIALS}` };

function kickoff(sessionId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/host/stream`, { headers: { host: "moonlight-web:8080", ...headers } } as unknown as string[]);
  const messages: unknown[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)));
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("refused"));
  });
  const init = {
    AuthenticateAndInit: {
      credentials: CREDENTIALS, session_id: sessionId, mode: "keepalive", client_unique_id: `helix-agent-${sessionId}`, host_id: 0, app_id: 0,
      bitrate: 20000, packet_size: 1024, fps: 30, width: 1280, height: 720, video_sample_queue_size: 10, play_audio_local: false,
      audio_sample_queue_size: 10, video_supported_formats: 1, video_colorspace: "Rec709", video_color_range_full: false, ...extra,
    },
  };
  return { ws, messages, closed, opened, init };
}

async function desktopAppId(): Promise<number> {
  return sim.apps.find((a) => a.title === "Desktop")!.id;
}

test("POST /api/pair {host_id:0}: streamed ndjson, the first JSON value carries the shared PIN, then Paired; 304 once paired", async () => {
  const response = await fetch(`${server.url}/api/pair`, { method: "POST", headers: { ...bearer, "content-type": "application/json", host: "moonlight-web:8080" }, body: JSON.stringify({ host_id: 0 }) });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/x-ndjson");
  const text = await response.text();
  const [first, second] = text.split("\n").map((line) => JSON.parse(line));
  expect(first).toEqual({ Pin: PIN });
  expect(second.Paired.host_id).toBe(0);
  expect(second.Paired.paired).toBe("Paired");
  const again = await fetch(`${server.url}/api/pair`, { method: "POST", headers: { ...bearer, "content-type": "application/json" }, body: JSON.stringify({ host_id: 0 }) });
  expect(again.status).toBe(304);
  const unknown = await fetch(`${server.url}/api/pair`, { method: "POST", headers: { ...bearer, "content-type": "application/json" }, body: JSON.stringify({ host_id: 7 }) });
  expect(unknown.status).toBe(404);
});

test("kickoff: keepalive without any header starts a headless streamer under the client's own identity; closing it stops the unwatched session", async () => {
  const k = kickoff("agent-ses_k1-kickoff", { app_id: await desktopAppId() });
  await k.opened;
  k.ws.send(JSON.stringify(k.init));
  await until(() => k.messages.some((m) => JSON.stringify(m).includes("Launch Streamer") && JSON.stringify(m).includes("StageComplete")), 20_000, "launch");
  expect(k.messages[0]).toEqual({ UpdateApp: { app: { app_id: await desktopAppId(), title: "Desktop", is_hdr_supported: false } } });
  const sessions = async () => (await (await fetch(`${server.url}/api/sessions`, { headers: bearer })).json()) as { sessions: { session_id: string; client_unique_id: string; mode: string; has_websocket: boolean; streamer_alive: boolean; streamer_pid: number | null }[] };
  const listed = (await sessions()).sessions.find((s) => s.session_id === "agent-ses_k1-kickoff")!;
  expect(listed).toMatchObject({ client_unique_id: "helix-agent-agent-ses_k1-kickoff", mode: "keepalive", has_websocket: true, streamer_alive: true });
  expect(listed.streamer_pid).toBeGreaterThan(0);
  const streamers = (await (await fetch(`${server.url}/api/streamers`, { headers: bearer })).json()) as { id: string; identity: string; status: string }[];
  const ours = streamers.find((s) => s.id === "mlw-agent-ses_k1-kickoff")!;
  expect(ours.identity).toBe("mlw-helix-agent-agent-ses_k1-kickoff");
  const status = (await (await fetch(`${server.url}/api/admin/status`, { headers: bearer })).json()) as { total_sessions: number; clients: { client_unique_id: string }[]; active_websockets: number };
  expect(status.total_sessions).toBeGreaterThanOrEqual(1);
  expect(status.clients.map((c) => c.client_unique_id)).toContain("mlw-helix-agent-agent-ses_k1-kickoff");
  // A second keepalive for the same session is closed at once, as the fork does.
  const twin = kickoff("agent-ses_k1-kickoff", { app_id: await desktopAppId() });
  await twin.opened;
  twin.ws.send(JSON.stringify(twin.init));
  expect((await twin.closed).code).toBe(1000);
  k.ws.close(1000, "kickoff complete");
  const end = Date.now() + 10_000;
  while (Date.now() < end && (await sessions()).sessions.some((s) => s.session_id === "agent-ses_k1-kickoff")) await Bun.sleep(100);
  expect((await sessions()).sessions.some((s) => s.session_id === "agent-ses_k1-kickoff")).toBe(false);
}, 40_000);

test("join on a missing session answers SessionNotFound; create on an existing one AlreadyStreaming; unknown host HostNotFound; unknown app AppNotFound", async () => {
  const join = kickoff("nobody-here", { mode: "join" });
  await join.opened;
  join.ws.send(JSON.stringify(join.init));
  await join.closed;
  expect(join.messages).toEqual(["SessionNotFound"]);
  const host = kickoff("bad-host", { host_id: 9, mode: "create" });
  await host.opened;
  host.ws.send(JSON.stringify(host.init));
  await host.closed;
  expect(host.messages).toEqual(["HostNotFound"]);
  const app = kickoff("bad-app", { app_id: 999999, mode: "keepalive" });
  await app.opened;
  app.ws.send(JSON.stringify(app.init));
  await app.closed;
  expect(app.messages.at(-1)).toBe("AppNotFound");
}, 30_000);

// The attacker's side of the in-band level (docs/helix.md §0).
test("attacker: no or wrong credentials in AuthenticateAndInit → StageFailed Authentication and close 1008, nothing started", async () => {
  for (const credentials of [null, "wrong-credentials-wrong", ""]) {
    const k = kickoff(`attack-${String(credentials)}`, { credentials });
    await k.opened;
    k.ws.send(JSON.stringify(k.init));
    const closed = await k.closed;
    expect(closed.code).toBe(1008);
    expect(k.messages).toEqual([{ StageFailed: { stage: "Authentication", error_code: -1 } }]);
  }
  const sessions = (await (await fetch(`${server.url}/api/sessions`, { headers: bearer })).json()) as { sessions: { session_id: string }[] };
  expect(sessions.sessions.some((s) => s.session_id.startsWith("attack-"))).toBe(false);
});

test("attacker: a first message that is not AuthenticateAndInit, a binary one, or none within the deadline is closed 1008", async () => {
  const signaling = kickoff("x");
  await signaling.opened;
  signaling.ws.send(JSON.stringify({ Signaling: { Description: { ty: "offer", sdp: "v=0" } } }));
  expect((await signaling.closed).code).toBe(1008);
  const binary = kickoff("y");
  await binary.opened;
  binary.ws.send(new Uint8Array([1, 2, 3]));
  expect((await binary.closed).code).toBe(1008);
  const silent = kickoff("z");
  await silent.opened;
  const started = Date.now();
  expect((await silent.closed).code).toBe(1008);
  expect(Date.now() - started).toBeGreaterThan(4000);
}, 15_000);

test("attacker: foreign Origin, wrong Host, wrong bearer are refused before the upgrade; an oversized message closes the socket", async () => {
  const refused = async (headers: Record<string, string>) => {
    const response = await fetch(`${server.url}/api/host/stream`, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", host: "moonlight-web:8080", ...headers } });
    return response.status;
  };
  expect(await refused({ origin: "https://evil.example" })).toBe(403);
  expect(await refused({ host: "evil.example:8080" })).toBe(421);
  expect(await refused({ authorization: "Bearer wrong-credentials-wrong" })).toBe(401);
  // No token at all on an ordinary API route stays 401.
  expect((await fetch(`${server.url}/api/sessions`)).status).toBe(401);
  const big = kickoff("big");
  await big.opened;
  big.ws.send(JSON.stringify({ AuthenticateAndInit: { pad: "x".repeat(100_000) } }));
  expect((await big.closed).code).toBe(1009);
});
