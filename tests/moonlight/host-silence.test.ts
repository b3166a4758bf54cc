/**
 * A host that goes silent (the sim host, a real process, SIGSTOPped mid-stream) is reported as
 * `reconnecting` within 3 s, not after the control stream's 10 s timeout; and once the host is back
 * the streamer is live again, whether it resumed in place or reconnected.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClientIdentity } from "../../src/moonlight/http/identity.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { MoonlightSession } from "../../src/moonlight/session.ts";
import { Streamer } from "../../src/streamer/streamer.ts";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT } from "../support/cli.ts";
import { until } from "../support/server.ts";

let sim: ReturnType<typeof Bun.spawn>;
let streamer: Streamer;

beforeAll(async () => {
  sim = Bun.spawn(cliCommand(["sim-host", "--port", "0", "--pin", "2468", "--json"]), { cwd: REPO_ROOT, env: cleanEnv(), stdout: "pipe", stderr: "ignore" });
  const ports = JSON.parse(await firstLine(sim.stdout as ReadableStream<Uint8Array>, () => "sim-host exited before printing its ports")) as { http_port: number };
  const client = new NvHttpClient({ address: "127.0.0.1", httpPort: ports.http_port, identity: createClientIdentity() });
  await client.pair({ pin: "2468" });
  const appId = (await client.appList())[0]!.id;
  streamer = new Streamer({
    id: "silence",
    createSession: () => new MoonlightSession({ client, appId, settings: { width: 1280, height: 720, fps: 60, bitrateKbps: 5000 } }),
  });
  await streamer.start();
});

afterAll(async () => {
  sim.kill("SIGCONT");
  await streamer?.stop();
  sim.kill("SIGTERM");
  await sim.exited;
});

describe("host loss", () => {
  test("a host that goes silent is reported reconnecting within 3 s, and live again when it is back", async () => {
    expect(streamer.status).toBe("live");
    const statuses: { status: string; detail?: string; at: number }[] = [];
    streamer.on("status", (status, detail) => statuses.push({ status, ...(detail ? { detail } : {}), at: Date.now() }));

    sim.kill("SIGSTOP");
    const silentAt = Date.now();
    await until(() => statuses.some((s) => s.status === "reconnecting"), 15_000, "reconnecting");
    const reportedAfterMs = statuses.find((s) => s.status === "reconnecting")!.at - silentAt;
    console.log(`host silent: reported reconnecting after ${(reportedAfterMs / 1000).toFixed(2)} s`);
    expect(reportedAfterMs).toBeLessThan(3000);

    sim.kill("SIGCONT");
    await until(() => streamer.status === "live", 30_000, "live again");
  });
});
