/**
 * Reference-frame invalidation against the sim host's sunshine flavour (which advertises
 * refPicInvalidation, as Sunshine with a hardware encoder does, and answers an RFI with an IDR, as
 * Sunshine with an encoder that cannot invalidate does). With settings.referenceFrameInvalidation a
 * loss on the host's link becomes an RFI (0x0301), not an IDR request; without it, an IDR request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { MoonlightSession } from "../../src/moonlight/session.ts";
import type { SimHost } from "../../src/sim-host/sim-host.ts";
import { startPairedSimHost } from "../support/paired-sim-host.ts";
import { seededRandom } from "../support/seeded-random.ts";
import { until } from "../support/server.ts";

let host: SimHost;
let client: NvHttpClient;
let appId: number;

beforeAll(async () => {
  ({ host, client, appId } = await startPairedSimHost({ pin: "1357", flavor: "sunshine" }));
});

afterAll(async () => {
  await host.close();
});

/** Streams 300 frames with whole bursts of video datagrams dropped (more than FEC can rebuild). */
async function lossyRun(referenceFrameInvalidation: boolean) {
  const random = seededRandom(777);
  let burst = 0;
  const before = structuredClone(host.media?.stats.video.idrsSent ?? { start: 0, request: 0, rfi: 0, loop: 0 });
  const session = new MoonlightSession({
    client,
    appId,
    settings: { width: 1280, height: 720, fps: 60, bitrateKbps: 5000, referenceFrameInvalidation },
    dropVideoDatagram: () => {
      if (burst > 0) return burst-- > 0;
      if (random() < 0.01) burst = 8;
      return false;
    },
  });
  let frames = 0;
  session.on("video", () => frames++);
  await session.start();
  await until(() => frames >= 300, 30_000, "300 frames");
  const counters = session.snapshot();
  await session.stop({ quitApp: true });
  const after = host.media!.stats.video.idrsSent;
  return { counters, rfiIdrs: after.rfi - before.rfi, requestIdrs: after.request - before.request };
}

describe("reference-frame invalidation", () => {
  test("with it on, a loss on the host's link asks the host for an RFI, and the stream goes on", async () => {
    const run = await lossyRun(true);
    expect(run.counters.framesLost).toBeGreaterThan(0);
    expect(run.counters.rfiRequests).toBeGreaterThan(0);
    expect(run.rfiIdrs).toBeGreaterThan(0); // the host got them (and, as a software encoder does, answered with IDRs)
  }, 60_000);

  test("with it off (the default), the same loss asks for IDRs and sends no RFI", async () => {
    const run = await lossyRun(false);
    expect(run.counters.framesLost).toBeGreaterThan(0);
    expect(run.counters.rfiRequests).toBe(0);
    expect(run.rfiIdrs).toBe(0);
    expect(run.counters.idrRequests).toBeGreaterThan(0);
  }, 60_000);
});
