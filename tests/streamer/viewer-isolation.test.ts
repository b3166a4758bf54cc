/**
 * One viewer that keeps losing its picture, beside two clean ones, through a real Streamer, the sim
 * host and node-datachannel receivers over loopback (no root needed; the real bad link is
 * bad-link.test.ts). The lossy viewer sends a PLI every 50 ms for 3 s: the host gets a handful of
 * requests, not one per 100 ms; the lossy viewer skips delta frames it cannot decode; the clean
 * viewers keep their frame rate; the viewer list and the viewer itself say why its picture is poor.
 * (The receivers share this process with the sender, so under load a "clean" one loses a packet
 * now and then too and asks for a keyframe itself: they are held to their frame rate only.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createClientIdentity } from "../../src/moonlight/http/identity.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { MoonlightSession } from "../../src/moonlight/session.ts";
import type { ServerSignal } from "../../src/peer/signaling.ts";
import { WebRtcReceiver } from "../../src/peer/webrtc-receiver.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { Streamer } from "../../src/streamer/streamer.ts";
import { until } from "../support/server.ts";

const INTERVAL_MS = 1000;
let host: SimHost;
let streamer: Streamer;
const receivers: WebRtcReceiver[] = [];

function join(): { id: string; receiver: WebRtcReceiver; signals: ServerSignal[]; frames: { keyframe: boolean; at: number }[] } {
  let handle: ReturnType<Streamer["addViewer"]>;
  const receiver = new WebRtcReceiver({ bindAddress: "127.0.0.1", signal: (m) => queueMicrotask(() => handle.handleSignal(m)) });
  receivers.push(receiver);
  const signals: ServerSignal[] = [];
  handle = streamer.addViewer({
    signal: (m) => {
      signals.push(m);
      queueMicrotask(() => receiver.handleSignal(m));
    },
  });
  const frames: { keyframe: boolean; at: number }[] = [];
  receiver.on("frame", (f) => frames.push({ keyframe: f.keyframe, at: performance.now() }));
  return { id: handle.id, receiver, signals, frames };
}

beforeAll(async () => {
  host = new SimHost({ pin: "2020", flavor: "sunshine" });
  const { httpPort } = await host.start();
  const client = new NvHttpClient({ address: "127.0.0.1", httpPort, identity: createClientIdentity() });
  await client.pair({ pin: "2020" });
  const appId = (await client.appList())[0]!.id;
  streamer = new Streamer({
    id: "isolation",
    ice: { bindAddress: "127.0.0.1" },
    viewerKeyframeIntervalMs: INTERVAL_MS,
    createSession: () => new MoonlightSession({ client, appId, settings: { width: 1280, height: 720, fps: 60, bitrateKbps: 5000 } }),
  });
  await streamer.start();
});

afterAll(async () => {
  for (const receiver of receivers) receiver.close();
  await streamer.stop({ quitApp: true });
  await host.close();
});

test("a viewer that keeps losing its picture raises no one's keyframe rate and is told why its picture is poor", async () => {
  const clean = [join(), join()];
  const lossy = join();
  await until(() => [...clean, lossy].every((v) => v.frames.length > 30), 20_000, "every viewer playing").catch((error) => {
    throw new Error(`${(error as Error).message}: frames ${[...clean, lossy].map((v) => v.frames.length)}; ${JSON.stringify(streamer.snapshot().viewers.map((r) => ({ state: r.state, link: r.link, stats: r.stats })))}; ${JSON.stringify(streamer.snapshot().counters)}`);
  });

  const idrsBefore = host.media!.stats.video.idrRequests;
  const cleanBefore = clean.map((v) => v.frames.length);
  const lossyKeyframesBefore = lossy.frames.filter((f) => f.keyframe).length;
  const started = performance.now();
  const plis = setInterval(() => lossy.receiver.requestKeyframe(), 50);
  await Bun.sleep(3000);
  clearInterval(plis);
  const seconds = (performance.now() - started) / 1000;

  // ~60 PLIs in 3 s; with a 1 s interval at most 3–4 of them reach the host, plus a clean viewer's
  // own occasional loss (before: one request per 100 ms, ~30).
  const idrRequests = host.media!.stats.video.idrRequests - idrsBefore;
  expect(idrRequests).toBeLessThanOrEqual(12);
  // The clean viewers keep (nearly) the full 60 fps.
  for (const [i, viewer] of clean.entries()) expect((viewer.frames.length - cleanBefore[i]!) / seconds).toBeGreaterThan(45);
  // The lossy viewer still gets pictures: each keyframe that went out after its requests.
  expect(lossy.frames.filter((f) => f.keyframe).length).toBeGreaterThan(lossyKeyframesBefore);

  const rows = streamer.snapshot().viewers;
  const lossyRow = rows.find((r) => r.id === lossy.id)!;
  // It was not sent the delta frames it could not decode.
  expect((lossyRow.stats as { framesSkipped: number }).framesSkipped).toBeGreaterThan(0);
  expect(lossyRow.link).toMatchObject({ quality: "lossy" });
  expect(lossyRow.link?.keyframes?.deferred).toBeGreaterThan(0);
  // Why: its lost pictures — or, when this loaded process also made its receiver drop packets
  // (seen once in CI: "it loses packets (96 % in a report)"), the packets it lost, which the
  // verdict names first. Either tells the viewer why its picture is poor.
  expect(lossyRow.link?.reason).toMatch(/lost its picture|loses packets/);
  // The lossy viewer itself was told.
  expect(lossy.signals).toContainEqual(expect.objectContaining({ type: "link", quality: "lossy" }));
  console.log(`viewer isolation: ${idrRequests} host IDR requests in ${seconds.toFixed(1)} s; clean fps ${clean.map((v, i) => ((v.frames.length - cleanBefore[i]!) / seconds).toFixed(1))}`);
}, 60_000);
