/**
 * The WebSocket fallback where it is needed: a page on a plain-HTTP name other than localhost
 * (`http://stream.test:<port>`, mapped to 127.0.0.1 by Chromium's host resolver) is not a secure
 * context, so it has no WebCodecs. Against the sim host through `mlstream serve` (with tokens, as
 * a server reached by a name must have):
 * (a) on the WebSocket transport the page decodes over Media Source Extensions (fMP4), says so in
 *     the stats overlay, and shows the picture; its fps and glass-to-glass latency are printed
 *     beside the WebCodecs path's (the same page on http://127.0.0.1, a secure context);
 * (b) with MediaSource removed too, the page says why nothing plays and what to do, and decodes
 *     nothing;
 * (c) `serve --tls-cert/--tls-key` (a self-signed certificate made here): the API answers over
 *     https, the page on https://stream.test joins over wss and decodes with WebCodecs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import type { Browser, Page } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { api, expectPicture, launchChromium, setUpStreamer, startServe, until, wsCounters, type Serve } from "./support.ts";

const ADMIN = "admin-secret-insecure-origin";
const VIEWER = "viewer-secret-insecure-origin";
const NAME = "stream.test";
const STREAMER = "insecure";
let sim: SimHost;
let serve: Serve;
let browser: Browser;
let simHttpPort = 0;

beforeAll(async () => {
  sim = new SimHost({ pin: "2468" });
  const { httpPort } = await sim.start();
  simHttpPort = httpPort;
  serve = await startServe({ env: { MLSTREAM_TOKEN: ADMIN, MLSTREAM_AUTH_VIEWER_TOKENS: VIEWER, MLSTREAM_SERVER_ALLOWED_HOSTS: NAME } });
  await setUpStreamer(serve.url, httpPort, "2468", STREAMER, ADMIN);
  browser = await launchChromium([`--host-resolver-rules=MAP ${NAME} 127.0.0.1`]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
}, 30_000);

async function openPage(url: string, init?: () => void): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 960, height: 540 }, ignoreHTTPSErrors: true });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(url, { waitUntil: "domcontentloaded" });
  return page;
}
const pageErrors = (page: Page) => (page as Page & { errors: string[] }).errors;

const viewerUrl = (origin: string) => `${origin}/view/${STREAMER}?transport=websocket&access_token=${VIEWER}`;
const decoded = async (page: Page) => (await wsCounters(page))?.framesDecoded ?? 0;

interface Measured {
  fps: number;
  latency: { n: number; p50: number; p95: number; max: number };
}

/** Frames decoded per second, and capture (the gateway) → decoded/presented in the page, over `seconds`. */
async function measure(page: Page, seconds: number): Promise<Measured> {
  await page.evaluate(() => {
    const samples: number[] = [];
    (window as unknown as { latencies: number[] }).latencies = samples;
    window.mlstreamPlayer!.wsMedia!.onFrameDecoded = (frame) => samples.push(frame.decodedAtMs - frame.captureTimeMs);
  });
  const before = await decoded(page);
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  const fps = ((await decoded(page)) - before) / ((performance.now() - t0) / 1000);
  const latencies = (await page.evaluate(() => (window as unknown as { latencies: number[] }).latencies)).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { fps, latency: { n: latencies.length, p50: at(0.5), p95: at(0.95), max: latencies.at(-1) ?? Number.NaN } };
}


const row = (label: string, m: Measured) =>
  `${label.padEnd(38)} ${m.fps.toFixed(1).padStart(5)} fps   latency p50 ${m.latency.p50.toFixed(1)} ms, p95 ${m.latency.p95.toFixed(1)} ms, max ${m.latency.max.toFixed(1)} ms (${m.latency.n} frames)`;

describe("the WebSocket fallback on an insecure origin", () => {
  test("(a) http://stream.test: no WebCodecs, the page plays over MSE (fMP4) and says so; fps and latency beside WebCodecs", async () => {
    const insecure = await openPage(viewerUrl(`http://${NAME}:${serve.port}`));
    try {
      expect(await insecure.evaluate(() => ({ secure: isSecureContext, webCodecs: typeof VideoDecoder, mse: typeof MediaSource }))).toEqual({ secure: false, webCodecs: "undefined", mse: "function" });
      await until(async () => (await decoded(insecure)) > 60, 30_000, "frames decoded over MSE");
      const counters = (await wsCounters(insecure))!;
      expect(counters).toMatchObject({ transport: "websocket", decoder: "MSE (fMP4)", width: 1280, height: 720 });
      // Seen once in CI (1 run in ~7): one SourceBuffer error at the start, the page restarting its
      // MediaSource at the next keyframe and playing on. Tolerated here (the page recovered, which
      // is asserted); more than one means MSE playback is broken. Not yet understood.
      if (counters.decodeErrors > 0) console.error(`MSE: ${counters.decodeErrors} decode error(s) before ${counters.framesDecoded} frames decoded`);
      expect(counters.decodeErrors).toBeLessThanOrEqual(1);
      expect(counters.codec).toMatch(/^avc1\./);
      expect(await insecure.evaluate(() => [document.querySelector("video")!.videoWidth, document.querySelector("video")!.videoHeight])).toEqual([1280, 720]);
      await until(async () => ((await insecure.locator(".stats").textContent()) ?? "").includes("Mbps"), 5000, "the overlay");
      expect(await insecure.locator(".stats").textContent()).toContain("decoder    MSE (fMP4)");
      await expectPicture(insecure, "ws-insecure-mse.png");
      expect(pageErrors(insecure)).toEqual([]);
      const mse = await measure(insecure, 8);
      await insecure.context().close();

      // The WebCodecs path, same stream and machine: 127.0.0.1 is a secure context.
      const secure = await openPage(viewerUrl(serve.url.replace(/\/$/, "")));
      await until(async () => (await decoded(secure)) > 60, 30_000, "frames decoded with WebCodecs");
      expect((await wsCounters(secure))!.decoder).toBe("WebCodecs");
      const webCodecs = await measure(secure, 8);
      await secure.context().close();

      console.error(`\nWebSocket transport, 1280x720@60 sim stream, capture at the gateway → frame in the page:`);
      console.error(row("MSE (fMP4), http://stream.test (presented)", mse));
      console.error(row("WebCodecs, http://127.0.0.1 (decoded)", webCodecs));
      // It plays (the figures above are the measurement; this machine may be shared).
      expect(mse.fps).toBeGreaterThan(25);
      expect(mse.latency.n).toBeGreaterThan(100);
      // Near-live, not seconds behind: playback is held at the buffered end.
      expect(mse.latency.p50).toBeLessThan(500);
    } finally {
      await insecure.context().close().catch(() => {});
    }
  }, 90_000);

  test("(b) neither WebCodecs nor MSE: the page says why nothing plays and what to do", async () => {
    const page = await openPage(viewerUrl(`http://${NAME}:${serve.port}`), () => {
      delete (window as { MediaSource?: unknown }).MediaSource;
    });
    try {
      await until(async () => ((await page.locator(".stage").textContent()) ?? "").includes("HTTPS"), 20_000, "the message");
      const stage = (await page.locator(".stage").textContent())!;
      expect(stage).toContain("Open the viewer over HTTPS");
      expect(stage).toContain("allow WebRTC");
      await until(async () => ((await wsCounters(page))?.framesReceived ?? 0) > 30, 10_000, "frames to arrive");
      expect((await wsCounters(page))!).toMatchObject({ decoder: "none", framesDecoded: 0 });
      expect(pageErrors(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  }, 40_000);

  describe("serve --tls-cert/--tls-key", () => {
    let tls: Serve;
    let ca = "";
    let dir: ReturnType<typeof tempDir> | undefined;
    beforeAll(async () => {
      dir = tempDir("mlstream-tls-");
      const { certPem, keyPem } = selfSigned(NAME);
      ca = certPem;
      writeFileSync(join(dir.path, "cert.pem"), certPem);
      writeFileSync(join(dir.path, "key.pem"), keyPem, { mode: 0o600 });
      await api(serve.url, "DELETE", `api/streamers/${STREAMER}`, undefined, ADMIN);
      tls = await startServe({
        args: ["--tls-cert", join(dir.path, "cert.pem"), "--tls-key", join(dir.path, "key.pem")],
        env: { MLSTREAM_TOKEN: ADMIN, MLSTREAM_AUTH_VIEWER_TOKENS: VIEWER, MLSTREAM_SERVER_ALLOWED_HOSTS: NAME },
      });
    }, 30_000);
    afterAll(async () => {
      await tls?.stop();
      dir?.cleanup();
    }, 30_000);

    test("(c) the API answers over https, the page on https://stream.test joins over wss and decodes with WebCodecs", async () => {
      expect(tls.url).toStartWith("https://127.0.0.1:");
      const authed = (path: string, init: RequestInit = {}) =>
        fetch(new URL(path, tls.url), { ...init, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...init.headers }, tls: { ca } } as RequestInit);
      // Verified against the certificate made here (no verification switched off).
      const host = (await (await authed("api/hosts", { method: "POST", body: JSON.stringify({ address: `127.0.0.1:${simHttpPort}` }) })).json()) as { id: string };
      const paired = await authed(`api/hosts/${host.id}/pair`, { method: "POST", body: JSON.stringify({ pin: "2468" }) });
      const lines = (await paired.text()).trim().split("\n").map((line) => JSON.parse(line) as { paired?: unknown });
      expect([paired.status, lines.some((line) => Boolean(line.paired))]).toEqual([200, true]);
      expect((await authed("api/streamers", { method: "POST", body: JSON.stringify({ id: "tls", host: host.id, app: "Desktop", width: 1280, height: 720, fps: 60, bitrate_kbps: 4000 }) })).status).toBeLessThan(300);
      await until(async () => ((await (await authed("api/streamers/tls")).json()) as { status: string }).status === "live", 30_000, "the streamer to go live");
      // Without the token, over TLS as over plain HTTP: refused.
      expect((await fetch(new URL("api/streamers", tls.url), { tls: { ca } } as RequestInit)).status).toBe(401);
      // A name not in allowed_hosts (DNS rebinding), and a foreign page's Origin: refused over TLS too.
      expect((await authed("api/streamers", { headers: { host: "evil.example" } })).status).toBe(421);
      expect((await authed("api/streamers/tls", { method: "DELETE", headers: { origin: "https://evil.example" } })).status).toBe(403);

      const sockets: string[] = [];
      const context = await browser.newContext({ viewport: { width: 960, height: 540 }, ignoreHTTPSErrors: true });
      const page = await context.newPage();
      page.on("websocket", (socket) => sockets.push(socket.url()));
      try {
        await page.goto(`https://${NAME}:${tls.port}/view/tls?transport=websocket&access_token=${VIEWER}`, { waitUntil: "domcontentloaded" });
        expect(await page.evaluate(() => isSecureContext)).toBe(true);
        await until(async () => (await decoded(page)) > 60, 30_000, "frames decoded over wss");
        expect((await wsCounters(page))!).toMatchObject({ decoder: "WebCodecs", width: 1280, height: 720 });
        expect(sockets.some((url) => url.startsWith(`wss://${NAME}:${tls.port}/api/streamers/tls/peer`))).toBe(true);
        await expectPicture(page, "ws-https.png");
      } finally {
        await context.close();
      }
    }, 60_000);
  });
});

/** A self-signed certificate for `name` and 127.0.0.1 (forge; an EC key would do as well). */
function selfSigned(name: string): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const subject = [{ shortName: "CN", value: name }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: name }, { type: 7, ip: "127.0.0.1" }] },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}
