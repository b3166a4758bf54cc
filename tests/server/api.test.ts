/**
 * `mlstream serve` over real HTTP and WebSocket against the sim host: hosts, pairing (NDJSON),
 * apps and box art, a streamer that goes live with no viewer, a viewer over the peer socket,
 * peers, kick, delete; a crashed streamer process restarting; `serve` restarting with its
 * streamers; no orphans when `serve` dies.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { joinOverWebSocket, startServer, until, untilAsync, type RunningServer } from "../support/server.ts";

const dir = tempDir("mlstream-api-");
const dataDir = join(dir.path, "data");
let sim: SimHost;
let server: RunningServer;
let simEndpoint = "";
let hostId = "";

// Fresh ICE servers per viewer from a command (loopback only: nothing listens there).
const ICE_ENV = { MLSTREAM_WEBRTC_ICE_SERVERS_COMMAND: `echo '["stun:127.0.0.1:3478", {"urls":"turn:127.0.0.1:3478","username":"u","credential":"p"}]'` };

const api = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
const post = (path: string, body: unknown) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { [k: string]: unknown };

beforeAll(async () => {
  sim = new SimHost({ pin: "9753" });
  const { httpPort } = await sim.start();
  simEndpoint = `127.0.0.1:${httpPort}`;
  server = await startServer(dataDir, ICE_ENV);
});

afterAll(async () => {
  await server?.stop();
  await sim.close();
  dir.cleanup();
});

describe("REST + WS flow", () => {
  test("add a host, pair it over NDJSON, list apps, fetch box art with an ETag", async () => {
    const added = await post("/api/hosts", { address: simEndpoint });
    expect(added.status).toBe(201);
    const host = await json(added);
    hostId = host.id as string;
    expect(host).toMatchObject({ name: "mlstream-sim", paired: false, online: true, state: "free" });

    const again = await post("/api/hosts", { address: simEndpoint });
    expect(again.status).toBe(409);
    expect(await json(again)).toMatchObject({ error: "conflict" });

    const wrong = await post(`/api/hosts/${hostId}/pair`, { pin: "0000" });
    expect(wrong.headers.get("content-type")).toContain("ndjson");
    const wrongLines = (await wrong.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(wrongLines[0]).toEqual({ pin: "0000" });
    expect(wrongLines[1]).toMatchObject({ error: "wrong_pin" });

    const paired = await post(`/api/hosts/${hostId}/pair`, { pin: "9753" });
    const lines = (await paired.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ pin: "9753" });
    expect(lines[1].paired).toMatchObject({ id: hostId });

    const apps = (await (await api(`/api/hosts/${hostId}/apps`)).json()) as { id: number; title: string }[];
    expect(apps.map((a) => a.title)).toContain("Desktop");
    const art = await api(`/api/hosts/${hostId}/apps/${apps[0]!.id}/boxart`);
    expect(art.status).toBe(200);
    expect(art.headers.get("content-type")).toBe("image/png");
    const etag = art.headers.get("etag")!;
    expect([...new Uint8Array(await art.arrayBuffer()).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect((await api(`/api/hosts/${hostId}/apps/${apps[0]!.id}/boxart`, { headers: { "if-none-match": etag } })).status).toBe(304);

    const one = await json(await api(`/api/hosts/${hostId}`));
    expect(one).toMatchObject({ paired: true, paired_identities: ["shared"] });
  });

  test("bad requests get a JSON 4xx that says why", async () => {
    const badBody = await post("/api/hosts", { adress: "x" });
    expect(badBody.status).toBe(422);
    expect(await json(badBody)).toMatchObject({ error: "invalid_request" });
    const notJson = await api("/api/streamers", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(notJson.status).toBeGreaterThanOrEqual(400);
    expect(notJson.status).toBeLessThan(500);
    expect(Object.keys(await json(notJson)).sort()).toEqual(["error", "message"]);
    const missing = await api("/api/streamers/nope");
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ error: "streamer_not_found", message: "no streamer 'nope'" });
    const noApp = await post("/api/streamers", { host: hostId, app: "No Such App" });
    expect(noApp.status).toBe(404);
    expect(await json(noApp)).toMatchObject({ error: "app_not_found" });
    const badSize = await post("/api/streamers", { host: hostId, app: "Desktop", width: 99999 });
    expect(badSize.status).toBe(422);
    expect(String((await json(badSize)).message)).toContain("width");
  });

  test("a streamer made with the orchestrators' flat body goes live with no viewer; same id and settings returns it, other settings conflict", async () => {
    const body = { streamer_id: "s1", host_id: hostId, app_id: "Desktop", width: 1280, height: 720, fps: 60, bitrate: 8000, video_supported_formats: 1, play_audio_local: false };
    const created = await post("/api/streamers", body);
    expect(created.status).toBe(201);
    expect(await json(created)).toMatchObject({ id: "s1", status: "starting", app: { title: "Desktop" } });
    await untilAsync(async () => (await json(await api("/api/streamers/s1"))).status === "live", 20_000, "live");
    const live = await json(await api("/api/streamers/s1"));
    expect(live).toMatchObject({ host_connected: true, stream: { width: 1280, height: 720, fps: 60, codec: "h264" }, viewers: [] });
    expect(typeof live.created_at).toBe("string");

    const same = await post("/api/streamers", body);
    expect(same.status).toBe(200);
    const different = await post("/api/streamers", { ...body, bitrate: 9000 });
    expect(different.status).toBe(409);
    expect(await json(different)).toMatchObject({ error: "streamer_conflict" });
    const list = (await (await api("/api/streamers")).json()) as { id: string }[];
    expect(list.map((s) => s.id)).toEqual(["s1"]);
  });

  test("a viewer joins over the peer socket, receives frames from a keyframe, shows in peers, and can be kicked", async () => {
    const viewer = await joinOverWebSocket(server.url, "s1");
    try {
      await until(() => viewer.frames.length > 10, 15_000, "frames");
      expect(viewer.signals[0]).toMatchObject({
        type: "hello",
        role: "viewer",
        transport: "webrtc",
        iceServers: [{ urls: "stun:127.0.0.1:3478" }, { urls: "turn:127.0.0.1:3478", username: "u", credential: "p" }],
      });
      expect(viewer.stream).toMatchObject({ width: 1280, height: 720, codec: "h264", input: true });
      expect(viewer.frames[0]!.keyframe).toBe(true);
      await untilAsync(async () => ((await (await api("/api/streamers/s1/peers")).json()) as unknown[]).length === 1, 5000, "peer listed");
      const peers = (await (await api("/api/streamers/s1/peers")).json()) as { id: string; role: string; connected_at: string }[];
      expect(peers[0]).toMatchObject({ role: "viewer" });
      const peerId = (viewer.signals[0] as { peerId: string }).peerId;
      expect(peers[0]!.id).toBe(peerId);
      const kicked = await api(`/api/streamers/s1/peers/${peerId}`, { method: "DELETE" });
      expect(kicked.status).toBe(204);
      await until(() => viewer.closed !== undefined, 5000, "socket closed");
      expect(viewer.closed!.code).toBe(4001);
      expect(viewer.signals.at(-1)).toEqual({ type: "end", reason: "kicked" });
      expect((await api(`/api/streamers/s1/peers/${peerId}`, { method: "DELETE" })).status).toBe(404);
    } finally {
      viewer.close();
    }
  });

  test("a peer socket to an unknown streamer is told so and closed", async () => {
    const viewer = await joinOverWebSocket(server.url, "ghost");
    await until(() => viewer.closed !== undefined, 5000, "closed");
    expect(viewer.closed!.code).toBe(4004);
    expect(viewer.signals[0]).toMatchObject({ type: "error", error: "streamer_not_found" });
  });

  test("kill -9 of the streamer's process: it is restarted, goes live again, and a viewer is offered a fresh connection", async () => {
    const viewer = await joinOverWebSocket(server.url, "s1");
    try {
      await until(() => viewer.frames.length > 5, 15_000, "frames before the crash");
      const before = await json(await api("/api/streamers/s1"));
      const pid = before.pid as number;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, "SIGKILL");
      await untilAsync(async () => {
        const now = await json(await api("/api/streamers/s1"));
        return now.status === "live" && now.pid !== pid && (now.restarts as number) >= 1;
      }, 30_000, "restart");
      const framesBefore = viewer.frames.length;
      await until(() => viewer.receivers.length >= 2 && viewer.frames.length > framesBefore + 5, 20_000, "frames on the new connection");
      expect(viewer.closed).toBeUndefined();
    } finally {
      viewer.close();
    }
  });

  test("metrics and OpenAPI are served", async () => {
    // Counters restart with each streamer process (Prometheus reads that as a counter reset).
    await untilAsync(async () => /mlstream_frames_total\{streamer="s1"\} [1-9]/.test(await (await api("/metrics")).text()), 10_000, "frames counted");
    const metrics = await (await api("/metrics")).text();
    expect(metrics).toContain('mlstream_streamers{status="live"} 1');
    expect(metrics).toContain('mlstream_streamer_restarts_total{streamer="s1"} 1');
    const doc = (await (await api("/openapi/json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/streamers", "/api/hosts/{id}/pair"]));
  });

  test("restarting serve brings its streamers back; SIGKILL of serve leaves no orphan streamer process", async () => {
    const pidBefore = (await json(await api("/api/streamers/s1"))).pid as number;
    expect(await server.stop("SIGTERM")).toBe(0);
    await until(() => !isAlive(pidBefore), 15_000, "child to stop with serve");
    server = await startServer(dataDir, ICE_ENV);
    await untilAsync(async () => (await json(await api("/api/streamers/s1"))).status === "live", 30_000, "restored streamer live");

    const child = (await json(await api("/api/streamers/s1"))).pid as number;
    await server.stop("SIGKILL");
    await until(() => !isAlive(child), 15_000, "orphan to exit");
    server = await startServer(dataDir, ICE_ENV);
    await untilAsync(async () => (await json(await api("/api/streamers/s1"))).status === "live", 30_000, "live after a crash of serve");
  });

  test("DELETE ?quit=1 stops the streamer and quits the app on the host", async () => {
    const res = await api("/api/streamers/s1?quit=1", { method: "DELETE" });
    expect(res.status).toBe(204);
    expect((await api("/api/streamers/s1")).status).toBe(404);
    await until(() => sim.state.runningApp === undefined, 10_000, "app to quit");
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
