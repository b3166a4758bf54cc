/**
 * Helix's backend against `serve --compat moonlight-web` with the sim host, written from
 * docs/helix.md: pairing by the shared PIN, the kickoff (keepalive without a header), sessions and
 * admin status, and the attacker's side of the in-band access level.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { writeHelixConfig } from "./helix-fixture.ts";
import { startServer, until, untilAsync, type RunningServer } from "../support/server.ts";

const PIN = "4321";
const CREDENTIALS = "helix-sidecar-credentials";
/** Our own admin token beside Helix's credentials: requests with it get our API's shapes. */
const OWN_TOKEN = "our-own-admin-token-0123456789";
let sim: SimHost;
let server: RunningServer;
let dir: { path: string; cleanup(): void };

beforeAll(async () => {
  sim = new SimHost({ pin: PIN });
  const { httpPort } = await sim.start();
  dir = tempDir("mlstream-helix-");
  // As Helix writes them (docs/helix.md §3), host 0 pointing at the sim host.
  const helixDir = writeHelixConfig(dir.path, httpPort, { bind_address: "0.0.0.0:8080", webrtc_port_range: { min: 40000, max: 40100 } });
  server = await startServer(join(dir.path, "data"), { MOONLIGHT_CREDENTIALS: CREDENTIALS, MOONLIGHT_INTERNAL_PAIRING_PIN: PIN, MLSTREAM_COMPAT_HELIX_DIR: helixDir, MLSTREAM_TOKEN: OWN_TOKEN }, ["--compat", "moonlight-web"]);
});

afterAll(async () => {
  await server?.stop();
  await sim?.close();
  dir?.cleanup();
});

const bearer = { authorization: `Bearer ${CREDENTIALS}` };
const ownBearer = { authorization: `Bearer ${OWN_TOKEN}` };

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
  const streamers = (await (await fetch(`${server.url}/api/streamers`, { headers: ownBearer })).json()) as { id: string; identity: string; status: string }[];
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

// ---- multi mode (docs/helix.md §2) ----

/** Helix's `CreateStreamerRequest` as its backend sends it (docs/helix.md §2.1). */
const helixCreateBody = (streamerId: string, appId: number, extra: Record<string, unknown> = {}) => ({
  streamer_id: streamerId, client_unique_id: `helix-${streamerId}`, host_id: 0, app_id: appId, bitrate: 20000, packet_size: 1024, fps: 30,
  width: 1280, height: 720, video_sample_queue_size: 10, play_audio_local: false, audio_sample_queue_size: 10, video_supported_formats: 1,
  video_colorspace: "Rec709", video_color_range_full: false, ...extra,
});

const helixPost = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/api/streamers`, { method: "POST", headers: { ...bearer, "content-type": "application/json", host: "moonlight-web:8080", ...headers }, body: JSON.stringify(body) });

/** Helix's proxy opening a viewer's peer socket: its bearer on the upgrade, Host moonlight-web, no Origin. */
function helixPeer(peerId: string, headers: Record<string, string> = bearer) {
  const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/streamers/${peerId}/peer`, { headers: { host: "moonlight-web:8080", ...headers } } as unknown as string[]);
  const messages: unknown[] = [];
  ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  return { ws, messages, closed };
}

test("multi: POST /api/streamers with Helix's body answers 200 + StreamerInfo (again 200, other settings 409); GET answers {streamers:[…]}; our own token still gets our shapes", async () => {
  const appId = await desktopAppId();
  const created = await helixPost(helixCreateBody("agent-ses_m1", appId));
  expect(created.status).toBe(200);
  const info = (await created.json()) as Record<string, unknown>;
  expect(info).toMatchObject({ streamer_id: "agent-ses_m1", status: "active", connected_peers: 0, width: 1280, height: 720, fps: 30, peers: [] });
  expect(typeof info.created_at).toBe("string");
  // Helix retries are harmless; other settings under the same id are a conflict, as the fork.
  expect((await helixPost(helixCreateBody("agent-ses_m1", appId))).status).toBe(200);
  const conflict = await helixPost(helixCreateBody("agent-ses_m1", appId, { width: 1920, height: 1080 }));
  expect(conflict.status).toBe(409);
  expect(await conflict.json()).toMatchObject({ error: "streamer_conflict" });
  expect((await helixPost(helixCreateBody("agent-ses_m2", appId, { host_id: 5 }))).status).toBe(404);

  const list = (await (await fetch(`${server.url}/api/streamers`, { headers: { ...bearer, host: "moonlight-web:8080" } })).json()) as { streamers: { streamer_id: string; moonlight_connected: boolean }[] };
  expect(list.streamers.map((s) => s.streamer_id)).toContain("agent-ses_m1");
  const one = (await (await fetch(`${server.url}/api/streamers/agent-ses_m1`, { headers: bearer })).json()) as { streamer_id: string };
  expect(one.streamer_id).toBe("agent-ses_m1");
  // The client identity was paired with the shared PIN first, and the streamer runs under it.
  const ours = (await (await fetch(`${server.url}/api/streamers`, { headers: ownBearer })).json()) as { id: string; identity: string }[];
  expect(Array.isArray(ours)).toBe(true);
  expect(ours.find((s) => s.id === "agent-ses_m1")!.identity).toBe("mlw-helix-agent-ses_m1");
  const ownCreate = await fetch(`${server.url}/api/streamers`, { method: "POST", headers: { ...ownBearer, "content-type": "application/json" }, body: JSON.stringify({ id: "own-m1", host: "0", app: appId, identity: "mlw-helix-agent-ses_m1", width: 1280, height: 720, fps: 30 }) });
  expect([201, 409]).toContain(ownCreate.status);
  await fetch(`${server.url}/api/streamers/agent-ses_m1`, { method: "DELETE", headers: ownBearer });
}, 40_000);

test("multi: the peer socket with Helix's bearer speaks Helix's messages (our offer, then WebRtcConfig); the frontend's longer peer id joins the backend's streamer; an unknown one is SessionNotFound 4004", async () => {
  const appId = await desktopAppId();
  expect((await helixPost(helixCreateBody("agent-ses_p1", appId))).status).toBe(200);
  // Helix's frontend opens `agent-{session}-{instance}` (docs/helix.md §2.3).
  const peer = helixPeer("agent-ses_p1-k3j9");
  await until(() => peer.messages.some((m) => typeof m === "object" && m !== null && "WebRtcConfig" in m), 20_000, "WebRtcConfig");
  const offerIndex = peer.messages.findIndex((m) => JSON.stringify(m).startsWith('{"Signaling":{"Description":{"ty":"offer"'));
  const configIndex = peer.messages.findIndex((m) => typeof m === "object" && m !== null && "WebRtcConfig" in m);
  expect(offerIndex).toBeGreaterThanOrEqual(0);
  expect(offerIndex).toBeLessThan(configIndex);
  expect((peer.messages[offerIndex] as { Signaling: { Description: { sdp: string } } }).Signaling.Description.sdp).toContain("m=video");
  // No message of our own protocol reaches a Helix client.
  expect(peer.messages.some((m) => typeof m === "object" && m !== null && "type" in m)).toBe(false);
  // The viewer list comes from the streamer's snapshots: it shows the peer within a moment.
  const peersOf = async () => ((await (await fetch(`${server.url}/api/streamers/agent-ses_p1`, { headers: bearer })).json()) as { connected_peers: number }).connected_peers;
  await untilAsync(async () => (await peersOf()) === 1, 5000, "the Helix peer listed");
  peer.ws.close();
  await peer.closed;
  await untilAsync(async () => (await peersOf()) === 0, 5000, "peer gone");

  const unknown = helixPeer("agent-nobody-k3j9");
  expect((await unknown.closed).code).toBe(4004);
  expect(unknown.messages).toEqual(["SessionNotFound"]);
  // A prefix without the `-` boundary is no match.
  const near = helixPeer("agent-ses_p1x");
  expect((await near.closed).code).toBe(4004);
  await fetch(`${server.url}/api/streamers/agent-ses_p1`, { method: "DELETE", headers: ownBearer });
}, 40_000);

test("attacker (multi): POST /api/streamers and the peer socket refuse no token, a wrong token, a wrong Host, a foreign Origin and an oversized body", async () => {
  const body = helixCreateBody("agent-attack", await desktopAppId());
  const post = (headers: Record<string, string>, text = JSON.stringify(body)) =>
    fetch(`${server.url}/api/streamers`, { method: "POST", headers: { "content-type": "application/json", host: "moonlight-web:8080", ...headers }, body: text });
  expect((await post({})).status).toBe(401);
  expect((await post({ authorization: "Bearer wrong-credentials-wrong" })).status).toBe(401);
  expect((await post({ ...bearer, host: "evil.example:8080" })).status).toBe(421);
  expect((await post({ ...bearer, origin: "https://evil.example" })).status).toBe(403);
  expect((await post(bearer, JSON.stringify({ ...body, pad: "x".repeat(2 * 1024 * 1024) }))).status).toBe(413);
  expect((await fetch(`${server.url}/api/streamers`, { headers: { host: "moonlight-web:8080" } })).status).toBe(401);
  const upgrade = async (headers: Record<string, string>) =>
    (await fetch(`${server.url}/api/streamers/agent-attack/peer`, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", host: "moonlight-web:8080", ...headers } })).status;
  expect(await upgrade({})).toBe(401);
  expect(await upgrade({ authorization: "Bearer wrong-credentials-wrong" })).toBe(401);
  expect(await upgrade({ ...bearer, host: "evil.example" })).toBe(421);
  expect(await upgrade({ ...bearer, origin: "https://evil.example" })).toBe(403);
  const listed = (await (await fetch(`${server.url}/api/streamers`, { headers: ownBearer })).json()) as { id: string }[];
  expect(listed.some((s) => s.id === "agent-attack")).toBe(false);
});
