/**
 * Publishing into Janus, against Debian's Janus started by the test on loopback and our `serve`
 * with the sim host: the streamer makes a mountpoint and sends it media; a WebRTC viewer of Janus
 * (real Chromium, signalled through Janus's own API) decodes frames; a Janus killed and started
 * again gets its mountpoint back; stopping the streamer removes it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { JanusStreamingHandle } from "../../src/peer/janus-api.ts";
import type { JanusEgressHealth } from "../../src/streamer/janus-egress.ts";
import { tempDir } from "../support/cli.ts";
import { startJanus, type RunningJanus } from "../support/janus.ts";
import { createLiveStreamer, startServer, untilAsync, type RunningServer } from "../support/server.ts";
import { launchChromium } from "../web/support.ts";

const dir = tempDir("mlstream-janus-");
let janus: RunningJanus;
let sim: SimHost;
let server: RunningServer;
let browser: Browser;

const health = async (id: string): Promise<JanusEgressHealth | undefined> =>
  ((await (await fetch(`${server.url}/api/streamers/${id}`)).json()) as { egress: { janus: JanusEgressHealth } | null }).egress?.janus;

/** Janus's own view of its mountpoints (asked through its API, as an operator would). */
async function mountpoints(): Promise<{ id: number; description: string }[]> {
  const handle = await JanusStreamingHandle.open(janus.url);
  try {
    return ((await handle.request({ request: "list" })).list as { id: number; description: string }[]) ?? [];
  } finally {
    await handle.destroy();
  }
}

/**
 * Watches a mountpoint from Chromium: Janus's signalling (session, attach, watch, its offer, our
 * answer, start) goes through its HTTP API from here; the page only holds the RTCPeerConnection.
 * Resolves with the frames the page decoded after `watchMs` and the time to its first frame.
 */
async function watchInChromium(mountpoint: number, watchMs: number): Promise<{ framesDecoded: number; firstFrameMs: number }> {
  const post = async (path: string, body: Record<string, unknown>) =>
    (await (await fetch(`${janus.url}${path}`, { method: "POST", body: JSON.stringify({ ...body, transaction: crypto.randomUUID() }) })).json()) as {
      janus: string;
      data?: { id: number };
      jsep?: { type: string; sdp: string };
      plugindata?: { data: Record<string, unknown> };
    };
  const session = (await post("", { janus: "create" })).data!.id;
  const handle = (await post(`/${session}`, { janus: "attach", plugin: "janus.plugin.streaming" })).data!.id;
  await post(`/${session}/${handle}`, { janus: "message", body: { request: "watch", id: mountpoint } });
  // The offer comes as an event on the session's long poll.
  let offer: { type: string; sdp: string } | undefined;
  for (let i = 0; i < 20 && !offer; i++) {
    const event = (await (await fetch(`${janus.url}/${session}?maxev=1`)).json()) as { jsep?: { type: string; sdp: string } };
    offer = event.jsep;
  }
  if (!offer) throw new Error("Janus sent no offer");
  const page = await browser.newPage();
  try {
    const started = performance.now();
    const answer = await page.evaluate(async (sdp) => {
      const pc = new RTCPeerConnection();
      (window as unknown as { pc: RTCPeerConnection }).pc = pc;
      const video = document.createElement("video");
      video.muted = true;
      document.body.append(video);
      pc.ontrack = (event) => {
        if (event.track.kind === "video") {
          video.srcObject = new MediaStream([event.track]);
          void video.play();
        }
      };
      await pc.setRemoteDescription({ type: "offer", sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      // Non-trickle: the answer carries every candidate.
      if (pc.iceGatheringState !== "complete") await new Promise<void>((resolve) => pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve()));
      return pc.localDescription!.sdp;
    }, offer.sdp);
    await post(`/${session}/${handle}`, { janus: "message", body: { request: "start" }, jsep: { type: "answer", sdp: answer } });
    const decoded = () =>
      page.evaluate(async () => {
        const stats = await (window as unknown as { pc: RTCPeerConnection }).pc.getStats();
        let frames = 0;
        stats.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded ?? 0;
        });
        return frames;
      });
    let firstFrameMs = -1;
    const end = performance.now() + watchMs;
    while (performance.now() < end) {
      if (firstFrameMs < 0 && (await decoded()) > 0) firstFrameMs = performance.now() - started;
      await Bun.sleep(50);
    }
    return { framesDecoded: await decoded(), firstFrameMs };
  } finally {
    await page.close();
    await post(`/${session}`, { janus: "destroy" }).catch(() => undefined);
  }
}

beforeAll(async () => {
  janus = await startJanus();
  sim = new SimHost({ pin: "4321" });
  const { httpPort } = await sim.start();
  server = await startServer(join(dir.path, "data"), {}, ["--janus-url", janus.url]);
  await createLiveStreamer(server, httpPort, "4321", "s1");
  // Chromium offers its loopback address (not an mDNS name Janus cannot resolve), so both ends stay on 127/8.
  browser = await launchChromium(["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await sim?.close();
  await janus?.stop();
  dir.cleanup();
});

describe("publishing into Janus", () => {
  test("a live streamer makes a mountpoint, Janus receives its video, and a Chromium viewer of Janus decodes it", async () => {
    await untilAsync(async () => (await health("s1"))?.state === "up", 10_000, "the mountpoint up");
    const first = (await health("s1"))!;
    expect(first.mountpoint).toBeGreaterThan(0);
    expect((await mountpoints()).map((m) => m.description)).toContain("mlstream streamer s1");
    await untilAsync(async () => {
      const h = await health("s1");
      return h !== undefined && h.video_age_ms >= 0 && h.video_age_ms < 500 && h.packets_sent > 100;
    }, 10_000, "Janus receiving video");

    const watched = await watchInChromium(first.mountpoint!, 3000);
    console.log(`Chromium through Janus: ${watched.framesDecoded} frames decoded in 3 s, first after ${watched.firstFrameMs.toFixed(0)} ms`);
    expect(watched.framesDecoded).toBeGreaterThan(60);
  }, 40_000);

  test("Janus killed and started again: the mountpoint comes back and media flows again", async () => {
    const before = (await health("s1"))!;
    await janus.kill();
    await untilAsync(async () => (await health("s1"))?.state === "down", 10_000, "the mountpoint reported down");
    expect((await health("s1"))!.error).toContain("unreachable");
    const restarted = performance.now();
    await janus.restart();
    await untilAsync(async () => (await health("s1"))?.state === "up", 10_000, "the mountpoint up again");
    const after = (await health("s1"))!;
    console.log(`Janus restart: mountpoint ${before.mountpoint} → ${after.mountpoint} again after ${(performance.now() - restarted).toFixed(0)} ms`);
    expect(after.recreated).toBe(before.recreated + 1);
    expect((await mountpoints()).map((m) => m.id)).toContain(after.mountpoint!);
    await untilAsync(async () => {
      const h = await health("s1");
      return h !== undefined && h.video_age_ms >= 0 && h.video_age_ms < 500;
    }, 10_000, "video again");
    expect((await watchInChromium(after.mountpoint!, 2000)).framesDecoded).toBeGreaterThan(30);
  }, 40_000);

  test("an AV1 streamer publishes AV1 (our AV1 RTP packets) and a Chromium viewer of Janus decodes it", async () => {
    const av1Sim = new SimHost({ flavor: "wolf", pin: "8642" });
    const { httpPort } = await av1Sim.start();
    const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    try {
      const host = (await (await post("/api/hosts", { address: `127.0.0.1:${httpPort}` })).json()) as { id: string };
      await (await post(`/api/hosts/${host.id}/pair`, { pin: "8642" })).text();
      expect((await post("/api/streamers", { id: "s-av1", host: host.id, app: "Desktop", codec: "av1" })).status).toBe(201);
      await untilAsync(async () => (await health("s-av1"))?.state === "up", 20_000, "the AV1 mountpoint up");
      await untilAsync(async () => ((await health("s-av1"))?.packets_sent ?? 0) > 100, 10_000, "Janus receiving AV1");
      const watched = await watchInChromium((await health("s-av1"))!.mountpoint!, 3000);
      console.log(`Chromium through Janus, AV1: ${watched.framesDecoded} frames decoded in 3 s, first after ${watched.firstFrameMs.toFixed(0)} ms`);
      expect(watched.framesDecoded).toBeGreaterThan(60);
    } finally {
      await fetch(`${server.url}/api/streamers/s-av1`, { method: "DELETE" });
      await av1Sim.close();
    }
  }, 60_000);

  test("bad egress bodies are refused with 422, not bent into shape", async () => {
    const post = (body: unknown) => fetch(`${server.url}/api/streamers`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    for (const egress of [{ janus: { url: "file:///etc/passwd" } }, { janus: { url: 5 } }, { janus: "yes" }, { janus: true }, "janus"]) {
      const response = await post({ id: "s2", host: "any", app: "Desktop", egress });
      expect(`${JSON.stringify(egress)} → ${response.status}`).toBe(`${JSON.stringify(egress)} → 422`);
    }
  });

  test("stopping the streamer removes its mountpoint from Janus", async () => {
    const { mountpoint } = (await health("s1"))!;
    expect((await fetch(`${server.url}/api/streamers/s1`, { method: "DELETE" })).status).toBe(204);
    expect((await mountpoints()).map((m) => m.id)).not.toContain(mountpoint!);
  });
});
