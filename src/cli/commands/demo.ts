/**
 * The one-command demo behind `mlstream serve --demo` (and `npm start`): a simulated host in this
 * process on free loopback ports, added and paired through the same HostService the API uses, and
 * a streamer on its test app made by the same supervisor — so what the newcomer sees is the real
 * path, with only the host simulated.
 */
import { randomInt } from "node:crypto";
import { SHARED_IDENTITY_ID } from "../../core/store.ts";
import type { HostService } from "../../hosts/host-service.ts";
import { SimHost } from "../../sim-host/sim-host.ts";
import { normalizeStreamerRequest } from "../../server/streamer-request.ts";
import type { StreamerSupervisor, StreamerView } from "../../server/streamer-supervisor.ts";
import type { Progress } from "../progress.ts";

export const DEMO_STREAMER_ID = "demo";
/** The sim host's app with a moving picture; the first app when it is missing. */
const DEMO_APP = "Test Pattern";

export interface Demo {
  sim: SimHost;
  streamer: StreamerView;
  close(): Promise<void>;
}

/** Starts the sim host, pairs it, starts the demo streamer and waits until it is live. */
export async function startDemo(services: { hosts: HostService; supervisor: StreamerSupervisor }, progress: Progress, options: { liveTimeoutMs?: number } = {}): Promise<Demo> {
  const { hosts, supervisor } = services;
  const pin = String(randomInt(0, 10_000)).padStart(4, "0");
  // A demo left behind in a kept data dir (--data-dir) points at a sim host that is gone.
  await supervisor.remove(DEMO_STREAMER_ID, false).catch(() => {});
  progress.update("starting the simulated host");
  const sim = new SimHost({ httpPort: 0, httpsPort: 0, bindAddress: "127.0.0.1", pin, hostname: "mlstream-demo" });
  const ports = await sim.start();
  let hostId: string | undefined;
  const close = async () => {
    // The simulated host goes with us: nothing to quit on it.
    await supervisor.remove(DEMO_STREAMER_ID, false).catch(() => {});
    if (hostId) {
      try {
        hosts.remove(hostId);
      } catch {
        // gone already
      }
    }
    await sim.close();
  };
  try {
    progress.update("adding the simulated host");
    const { host } = await hosts.add(`127.0.0.1:${ports.httpPort}`);
    hostId = host.id;
    progress.update(`pairing with ${host.name} (PIN ${pin})`);
    await hosts.pair(host.id, { pin, identityId: SHARED_IDENTITY_ID });
    const apps = await hosts.apps(host.id);
    const app = apps.find((a) => a.title === DEMO_APP) ?? apps[0];
    if (!app) throw new Error("the simulated host lists no apps");
    const request = normalizeStreamerRequest({ host: host.id, app: app.id }, { idleTimeoutS: 0 });
    progress.update(`launching ${app.title}`);
    supervisor.create(DEMO_STREAMER_ID, {
      hostId: host.id,
      appId: app.id,
      appTitle: app.title,
      identityId: request.identityId,
      settings: request.settings,
      idleTimeoutS: 0,
    });
    const deadline = Date.now() + (options.liveTimeoutMs ?? 30_000);
    for (;;) {
      const view = supervisor.get(DEMO_STREAMER_ID);
      if (view.status === "live") return { sim, streamer: view, close };
      if (view.status === "failed" || view.status === "stopped") throw new Error(`the demo streamer ${view.status}${view.detail ? `: ${view.detail}` : ""}`);
      if (Date.now() > deadline) throw new Error(`the demo streamer is still ${view.status} after ${(options.liveTimeoutMs ?? 30_000) / 1000} s${view.detail ? ` (${view.detail})` : ""}`);
      await Bun.sleep(100);
    }
  } catch (error) {
    await close();
    throw error;
  }
}
