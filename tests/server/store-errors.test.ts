/**
 * Store failures through a real `serve` whose data dir lives on a small tmpfs: a full disk makes
 * DELETE answer 507 after the streamer is stopped (never 500 with the streamer still running),
 * keeps it listed and stored until a DELETE succeeds, and a create answers 507 without starting
 * anything; a database locked by another process answers 503. Needs root (mount); skipped otherwise.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { STORE_FILE } from "../../src/core/store.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { apiOf, isAlive } from "../support/api.ts";
import { tempDir } from "../support/cli.ts";
import { startServer, until, untilAsync, type RunningServer } from "../support/server.ts";

const dir = tempDir("mlstream-store-errors-");
const mountPoint = join(dir.path, "tiny");
mkdirSync(mountPoint);
const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]).status === 0;
const dataDir = join(mountPoint, "data");
const filler = join(mountPoint, "filler");
let sim: SimHost;
let server: RunningServer;
let hostId = "";

const { api, post, json } = apiOf(() => server.url);

/** Writes zeros until the file system says ENOSPC. */
function fillDisk(): void {
  const fd = openSync(filler, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}

beforeAll(async () => {
  if (!mounted) return;
  sim = new SimHost({ pin: "1357" });
  const { httpPort } = await sim.start();
  server = await startServer(dataDir);
  hostId = (await json(await post("/api/hosts", { address: `127.0.0.1:${httpPort}` }))).id as string;
  await (await post(`/api/hosts/${hostId}/pair`, { pin: "1357" })).text();
});

afterAll(async () => {
  await server?.stop();
  await sim?.close();
  if (mounted) spawnSync("umount", [mountPoint]);
  dir.cleanup();
});

describe.skipIf(!mounted)("store errors (data dir on a 4 MiB tmpfs)", () => {
  test("disk full: DELETE stops the streamer, then answers 507 saying so; it stays listed and stored until a DELETE succeeds", async () => {
    expect((await post("/api/streamers", { id: "s1", host: hostId, app: "Desktop" })).status).toBe(201);
    await untilAsync(async () => (await json(await api("/api/streamers/s1"))).status === "live", 20_000, "live");
    const pid = (await json(await api("/api/streamers/s1"))).pid as number;
    fillDisk();

    const started = performance.now();
    const refused = await api("/api/streamers/s1", { method: "DELETE" });
    const elapsed = performance.now() - started;
    const body = await json(refused);
    console.log(`DELETE on a full disk: ${refused.status} after ${elapsed.toFixed(0)} ms: ${JSON.stringify(body)}`);
    expect(refused.status).toBe(507);
    expect(body.error).toBe("store_full");
    expect(String(body.message)).toStartWith("streamer 's1' is stopped, but could not remove streamer 's1' from the store: the disk is full (SQLITE_FULL");
    // Stopped for real: the host session is free and the child is gone.
    await until(() => !isAlive(pid), 10_000, "streamer process to exit");
    expect(await json(await api("/api/streamers/s1"))).toMatchObject({ status: "stopped" });

    // Nothing starts when it cannot be stored.
    const create = await post("/api/streamers", { id: "s2", host: hostId, app: "Desktop" });
    expect(create.status).toBe(507);
    expect(await json(create)).toMatchObject({ error: "store_full", message: expect.stringContaining("could not save streamer 's2'") });
    expect((await api("/api/streamers/s2")).status).toBe(404);

    // Reads still work on a full disk.
    expect((await api(`/api/hosts/${hostId}`)).status).toBe(200);

    rmSync(filler);
    expect((await api("/api/streamers/s1", { method: "DELETE" })).status).toBe(204);
    expect((await api("/api/streamers/s1")).status).toBe(404);
  });

  test("database locked by another process: a create answers 503 store_unavailable after the busy timeout, and starts nothing", async () => {
    // Another process (this test) holds the write lock longer than serve's 5 s busy timeout.
    const other = new Database(join(dataDir, STORE_FILE));
    other.run("BEGIN EXCLUSIVE");
    try {
      const started = performance.now();
      const res = await post("/api/streamers", { id: "s3", host: hostId, app: "Desktop" });
      const body = await json(res);
      console.log(`create on a locked database: ${res.status} after ${(performance.now() - started).toFixed(0)} ms: ${JSON.stringify(body)}`);
      expect(res.status).toBe(503);
      expect(body).toMatchObject({ error: "store_unavailable", message: expect.stringContaining("could not save streamer 's3': the database is locked by another process (SQLITE_BUSY") });
      expect((await api("/api/streamers/s3")).status).toBe(404);
    } finally {
      other.run("ROLLBACK");
      other.close();
    }
  });

  test("after a restart the store and the API agree: the deleted streamer does not come back", async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
    server = await startServer(dataDir);
    expect((await (await api("/api/streamers")).json()) as unknown[]).toEqual([]);
  });
});
