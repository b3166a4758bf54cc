/**
 * One host session per host and client identity, through a real `serve` and the sim host: a second
 * streamer that would share one is refused with 409 naming the holder (never a pair that kicks each
 * other off the host), another identity gets its own, a repeat of the same create stays idempotent,
 * and a store that already holds such a pair (from before this check) restores only one of them.
 * GET /api/hosts/{id} says what the host says about each pairing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Store } from "../../src/core/store.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { apiOf } from "../support/api.ts";
import { tempDir } from "../support/cli.ts";
import { startServer, untilAsync, type RunningServer } from "../support/server.ts";

const dir = tempDir("mlstream-sessions-");
const dataDir = join(dir.path, "data");
let sim: SimHost;
let server: RunningServer;
let hostId = "";

const { api, post, json } = apiOf(() => server.url);

async function pair(identity?: string): Promise<void> {
  const lines = (await (await post(`/api/hosts/${hostId}/pair`, { pin: "2468", ...(identity ? { identity } : {}) })).text()).trim().split("\n");
  expect(JSON.parse(lines.at(-1)!)).toHaveProperty("paired");
}

beforeAll(async () => {
  sim = new SimHost({ pin: "2468" });
  const { httpPort } = await sim.start();
  server = await startServer(dataDir);
  hostId = (await json(await post("/api/hosts", { address: `127.0.0.1:${httpPort}` }))).id as string;
  await pair();
});

afterAll(async () => {
  await server?.stop();
  await sim.close();
  dir.cleanup();
});

describe("one host session per host and identity", () => {
  test("a second streamer on the same host and identity gets 409 host_session_taken naming the holder; the same create again is 200", async () => {
    const body = { id: "first", host: hostId, app: "Desktop" };
    expect((await post("/api/streamers", body)).status).toBe(201);
    const started = performance.now();
    const taken = await post("/api/streamers", { id: "second", host: hostId, app: "Desktop" });
    const elapsed = performance.now() - started;
    expect(taken.status).toBe(409);
    const answer = await json(taken);
    console.log(`409 after ${elapsed.toFixed(0)} ms: ${JSON.stringify(answer)}`);
    expect(answer).toEqual({
      error: "host_session_taken",
      message: `host '${hostId}' already has a session for client identity 'shared', held by streamer 'first': give this streamer its own identity ('identity' or 'client_unique_id', paired with the host) or stop streamer 'first' first`,
    });
    // The orchestrators' flat body names the identity by client_unique_id: same answer.
    const flat = await post("/api/streamers", { streamer_id: "third", host_id: hostId, app_id: "Desktop", client_unique_id: "shared" });
    expect(flat.status).toBe(409);
    expect((await api("/api/streamers/second")).status).toBe(404);
    expect((await post("/api/streamers", body)).status).toBe(200);
    await untilAsync(async () => (await json(await api("/api/streamers/first"))).status === "live", 20_000, "first live");
    expect((await json(await api("/api/streamers/first"))).restarts).toBe(0);
  });

  test("another identity, paired, gets its own host session", async () => {
    await pair("other");
    const res = await post("/api/streamers", { id: "second", host: hostId, app: "Desktop", identity: "other" });
    expect(res.status).toBe(201);
    const list = (await (await api("/api/streamers")).json()) as { id: string }[];
    expect(list.map((s) => s.id).sort()).toEqual(["first", "second"]);
  });

  test("after a restart, a stored pair sharing one session restores only the older; the other is failed, saying why", async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
    // As an older mlstream could have stored them: a copy of 'first' under another id, made later.
    const store = Store.open(dataDir);
    const original = store.getStreamer("first")!;
    store.putStreamer({ ...original, id: "twin", createdAt: original.createdAt + 1 });
    store.close();
    server = await startServer(dataDir);
    await untilAsync(async () => (await json(await api("/api/streamers/twin"))).status === "failed", 10_000, "twin failed");
    expect(String((await json(await api("/api/streamers/twin"))).detail)).toContain("held by streamer 'first'");
    await untilAsync(async () => (await json(await api("/api/streamers/first"))).status === "live", 20_000, "first live again");
    // The failed one is still there to be seen and deleted.
    expect((await api("/api/streamers/twin", { method: "DELETE" })).status).toBe(204);
  });

  test("GET /api/hosts/{id} says what the host says: a client removed on the host is not paired", async () => {
    expect(await json(await api(`/api/hosts/${hostId}`))).toMatchObject({ paired: true, paired_identities: ["shared", "other"] });
    // As if the host's operator removed the client paired last ('other') in the host's UI.
    sim.unpairClient(sim.pairedClients.at(-1)!.uniqueId);
    const host = await json(await api(`/api/hosts/${hostId}`));
    expect(host).toMatchObject({ paired: true, paired_identities: ["shared"], unpaired_by_host: ["other"] });
  });
});
