/**
 * The WebSocket media transport in real Chromium (docs/ws-media.md), against the sim host through
 * `mlstream serve`:
 * (a) with WebRTC made impossible (Chromium may send no UDP), a page on the default `auto` falls
 *     back and decodes frames with WebCodecs onto its canvas — by the server's timer, and by the
 *     page's own request when its ICE fails first;
 * (b) one streamer serves a WebRTC page and a WebSocket page at once, both decode, and keys from
 *     the WebSocket page reach the host's input log;
 * (c) a WebSocket page throttled to far below the stream's bitrate falls behind (the server skips
 *     it to keyframes) while the WebRTC page keeps ≥ 50 of the 60 fps;
 * (d) behind nginx (Debian's, a path prefix, WebSocket upgrade only; only the proxy's port is used
 *     by the page) a page with WebRTC impossible plays over the WebSocket transport.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { NGINX, startNginx, type Nginx } from "./nginx.ts";
import { anyFramesDecoded, api, expectPicture, framesDecoded, launchChromium, NO_WEBRTC_ARGS, playerStats, setUpStreamer, startServe, until, wsCounters, type Serve } from "./support.ts";

const STREAMER = "ws-web";
const FALLBACK_MS = 4000;
let sim: SimHost;
let serve: Serve;
let browser: Browser;
let noRtcBrowser: Browser;
let viewerUrl = "";
let simHttpPort = 0;

beforeAll(async () => {
  sim = new SimHost({ pin: "1357" });
  const { httpPort } = await sim.start();
  simHttpPort = httpPort;
  serve = await startServe({ env: { MLSTREAM_VIEWERS_FALLBACK_AFTER_MS: String(FALLBACK_MS), MLSTREAM_VIEWERS_WS_MAX_BUFFERED_KB: "512" } });
  await setUpStreamer(serve.url, httpPort, "1357", STREAMER);
  viewerUrl = new URL(`view/${STREAMER}`, serve.url).href;
  [browser, noRtcBrowser] = await Promise.all([launchChromium(), launchChromium(NO_WEBRTC_ARGS)]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await noRtcBrowser?.close();
  await serve?.stop();
  await sim?.close();
}, 30_000);

async function openPage(on: Browser, url: string, init?: () => void): Promise<Page> {
  const context = await on.newContext({ viewport: { width: 960, height: 540 } });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") console.error(`[page] ${message.text()}`);
  });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  return page;
}

const decodedWs = async (page: Page) => (await wsCounters(page))?.framesDecoded ?? 0;
const hostKeys = (keyCode: number) => sim.inputLog.filter((e) => e.packet.kind === "keyboard" && e.packet.keyCode === keyCode).map((e) => e.packet);

interface ViewerView {
  id: string;
  transport?: string;
  stats: { fellBehind?: number; framesSkipped?: number; framesSent?: number };
}
const viewers = async () => (await api<{ viewers: ViewerView[] }>(serve.url, "GET", `api/streamers/${STREAMER}`)).viewers;


async function leave(page: Page): Promise<void> {
  await page.context().close();
}

describe("WebSocket media transport in Chromium", () => {
  test("(a) WebRTC impossible: the page falls back by the server's timer and decodes frames over the WebSocket", async () => {
    const started = Date.now();
    const page = await openPage(noRtcBrowser, viewerUrl);
    try {
      await until(async () => (await decodedWs(page)) > 60, 30_000, "frames decoded over the WebSocket");
      const fellBackAfter = Date.now() - started;
      const before = await decodedWs(page);
      await until(async () => (await decodedWs(page)) > before + 60, 10_000, "decoding to go on");
      const counters = (await wsCounters(page))!;
      expect(counters).toMatchObject({ transport: "websocket", width: 1280, height: 720, decodeErrors: 0 });
      expect(counters.codec).toMatch(/^avc1\./);
      expect(counters.keyFramesDecoded).toBeGreaterThanOrEqual(1);
      // WebRTC never connected, so the page is on the WebSocket transport by the fallback timer.
      expect(fellBackAfter).toBeGreaterThanOrEqual(FALLBACK_MS - 500);
      expect(serve.stderr()).toContain(`WebRTC did not connect within ${FALLBACK_MS} ms`);
      expect(await page.evaluate(() => window.mlstreamPlayer!.peerConnection)).toBeUndefined();
      await expectPicture(page, "ws-fallback.png");

      // The overlay names the transport and the numbers come from the WebSocket's counters.
      await until(async () => ((await page.locator(".stats").textContent()) ?? "").includes("Mbps"), 5000, "the overlay");
      const overlay = (await page.locator(".stats").textContent())!;
      expect(overlay).toContain("transport  WebSocket");
      for (const field of ["fps", "bitrate", "rtt", "decode", "dropped"]) expect(overlay).toContain(field);
      const stats = (await playerStats(page))!;
      expect(stats.fps).toBeGreaterThan(40);
      await until(async () => (await page.evaluate(() => window.mlstreamPlayer!.stats?.rttMs)) !== undefined, 5000, "an RTT from ping/pong");

      // The first click starts the audio (an AudioContext and the jitter-buffer worklet).
      await page.mouse.click(480, 270);
      await until(() => page.evaluate(() => window.mlstreamPlayer!.wsMedia!.audio.counters.decoded > 20), 10_000, "audio decoded after the click");
      expect(await page.locator(".unmute").count()).toBe(0);
    } finally {
      await leave(page);
    }
  }, 60_000);

  test("(a) the page's own ICE fails: it asks for the WebSocket transport before the server's timer", async () => {
    // The page's RTCPeerConnection reports "failed" soon after answering, as a browser whose
    // ICE checks all failed does (without waiting the ~30 s real ICE takes to give up).
    const page = await openPage(noRtcBrowser, viewerUrl, () => {
      const Native = RTCPeerConnection;
      class Failing extends Native {
        constructor(config?: RTCConfiguration) {
          super(config);
          setTimeout(() => {
            Object.defineProperty(this, "connectionState", { value: "failed", configurable: true });
            this.onconnectionstatechange?.(new Event("connectionstatechange"));
          }, 300);
        }
      }
      window.RTCPeerConnection = Failing;
    });
    try {
      const started = Date.now();
      await until(async () => (await decodedWs(page)) > 30, 20_000, "frames decoded over the WebSocket");
      expect(Date.now() - started).toBeLessThan(FALLBACK_MS);
      expect(serve.stderr()).toContain("moves to the WebSocket transport (asked by the viewer)");
    } finally {
      await leave(page);
    }
  }, 40_000);

  test("(b) one streamer serves a WebRTC page and a WebSocket page at once; keys from the WebSocket page reach the host", async () => {
    const rtc = await openPage(browser, `${viewerUrl}?transport=webrtc`);
    const ws = await openPage(browser, `${viewerUrl}?transport=websocket`);
    try {
      await until(async () => (await framesDecoded(rtc)) > 60 && (await decodedWs(ws)) > 60, 30_000, "both pages to decode");
      const list = await viewers();
      expect(list).toHaveLength(2);
      expect(list.filter((v) => v.transport === "websocket")).toHaveLength(1);
      expect((await playerStats(rtc))!.connection).toBe("connected");
      expect(await ws.evaluate(() => window.mlstreamPlayer!.transport)).toBe("websocket");
      await expectPicture(rtc, "ws-both-webrtc.png");
      await expectPicture(ws, "ws-both-websocket.png");

      await until(async () => (await playerStats(ws))?.inputEnabled === true, 10_000, "input on the WebSocket page");
      sim.media!.clearInputLog();
      await ws.locator(".player").focus();
      await ws.keyboard.press("KeyW");
      await until(() => hostKeys(0x57).length === 2, 10_000, "W down and up on the host");
      expect(hostKeys(0x57)).toEqual([
        { kind: "keyboard", action: "down", keyCode: 0x57, modifiers: 0, flags: 0 },
        { kind: "keyboard", action: "up", keyCode: 0x57, modifiers: 0, flags: 0 },
      ]);
      // A click on the picture lands where it is seen: the middle of the picture is (640, 360).
      // (Chromium shows the decoded frames in the <video> through a track generator; other browsers on a canvas.)
      const surface = await ws.evaluate(() => window.mlstreamPlayer!.wsMedia!.surface);
      expect(surface).toBe("video");
      const box = (await ws.locator(surface).boundingBox())!;
      await ws.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await until(() => sim.inputLog.some((e) => e.packet.kind === "mouseButton"), 10_000, "the click on the host");
      const moves = sim.inputLog.map((e) => e.packet).filter((p) => p.kind === "mouseMoveAbsolute");
      expect(moves.some((m) => m.kind === "mouseMoveAbsolute" && Math.abs(m.x - 640) <= 2 && Math.abs(m.y - 360) <= 2 && m.referenceWidth === 1280)).toBe(true);
    } finally {
      await leave(rtc);
      await leave(ws);
    }
  }, 60_000);

  test("(c) a throttled WebSocket page falls behind without hurting the WebRTC page's frame rate", async () => {
    const rtc = await openPage(browser, `${viewerUrl}?transport=webrtc`);
    const ws = await openPage(browser, `${viewerUrl}?transport=websocket`);
    try {
      await until(async () => (await framesDecoded(rtc)) > 30 && (await decodedWs(ws)) > 30, 30_000, "both pages to decode");
      // 4 Mbps stream; the WebSocket page's link gets 600 kbit/s and 40 ms.
      const cdp = await ws.context().newCDPSession(ws);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 40, downloadThroughput: 75_000, uploadThroughput: 75_000 });
      const wsBefore = (await wsCounters(ws))!;
      const rtcStart = await framesDecoded(rtc);
      const t0 = performance.now();
      await until(async () => (await viewers()).some((v) => v.transport === "websocket" && (v.stats.fellBehind ?? 0) > 0), 30_000, "the throttled viewer to fall behind");
      await Bun.sleep(3000);
      const seconds = (performance.now() - t0) / 1000;
      const rtcFps = ((await framesDecoded(rtc)) - rtcStart) / seconds;
      const wsAfter = (await wsCounters(ws))!;
      const wsFps = (wsAfter.framesDecoded - wsBefore.framesDecoded) / seconds;
      const throttled = (await viewers()).find((v) => v.transport === "websocket")!;
      console.error(`(c) over ${seconds.toFixed(1)} s: WebRTC page ${rtcFps.toFixed(1)} fps, throttled WebSocket page ${wsFps.toFixed(1)} fps; server: ${JSON.stringify(throttled.stats)}`);
      // The healthy page keeps (nearly) the full 60 fps while the other is skipped to keyframes.
      expect(rtcFps).toBeGreaterThanOrEqual(50);
      expect(throttled.stats.fellBehind).toBeGreaterThan(0);
      expect(throttled.stats.framesSkipped).toBeGreaterThan(0);
      expect(wsFps).toBeLessThan(40);
      await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    } finally {
      await leave(rtc);
      await leave(ws);
    }
  }, 60_000);

  describe.skipIf(!NGINX)("behind nginx", () => {
    let proxied: Serve;
    let nginx: Nginx;
    beforeAll(async () => {
      // The sim host serves one session at a time: the first server's streamer makes way.
      await api(serve.url, "DELETE", `api/streamers/${STREAMER}`);
      proxied = await startServe({ args: ["--base-path", "/mlstream"], env: { MLSTREAM_VIEWERS_FALLBACK_AFTER_MS: "2000" } });
      nginx = await startNginx(proxied.port, "/mlstream");
    }, 30_000);
    afterAll(async () => {
      await nginx?.stop();
      await proxied?.stop();
    }, 30_000);

    test("(d) through nginx under /mlstream, WebRTC impossible, the page plays over the WebSocket transport", async () => {
      const root = `http://127.0.0.1:${nginx.port}/mlstream/`;
      await setUpStreamer(root, simHttpPort, "1357", "behind-proxy");
      // Every request and socket of the page, to check that it only ever used the proxy's port.
      const context = await noRtcBrowser.newContext({ viewport: { width: 960, height: 540 } });
      const page = await context.newPage();
      const urls: string[] = [];
      page.on("request", (request) => urls.push(request.url()));
      page.on("websocket", (socket) => urls.push(socket.url()));
      try {
        await page.goto(`${root}view/behind-proxy`, { waitUntil: "domcontentloaded" });
        await until(async () => (await decodedWs(page)) > 60, 30_000, "frames decoded through the proxy");
        expect((await wsCounters(page))!).toMatchObject({ transport: "websocket", width: 1280, height: 720 });
        await expectPicture(page, "ws-nginx.png");
        expect(urls.some((url) => url.startsWith(`ws://127.0.0.1:${nginx.port}/mlstream/api/streamers/behind-proxy/peer`))).toBe(true);
        for (const url of urls) expect(url.startsWith(`http://127.0.0.1:${nginx.port}/`) || url.startsWith(`ws://127.0.0.1:${nginx.port}/`)).toBe(true);
      } finally {
        await context.close();
      }
      // nginx logs the peer socket's upgrade (101) when the socket ends.
      await until(() => /GET \/mlstream\/api\/streamers\/behind-proxy\/peer\?[^"]*transport=auto[^"]*" 101/.test(nginx.accessLog()), 10_000, "the proxied upgrade in nginx's log");
      await api(root, "DELETE", "api/streamers/behind-proxy").catch(() => {});
    }, 60_000);
  });
});
