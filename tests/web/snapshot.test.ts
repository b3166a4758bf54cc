/**
 * GET /api/streamers/{id}/snapshot: the latest picture of a live sim-host stream, decoded by
 * Debian's ffmpeg, is an image of the stream's size; many polls cost one decode; it is admin-only
 * (an attacker without a token, with a viewer token or a foreign Host gets nothing); a server
 * without ffmpeg answers 501 naming the package; the streamers page shows each stream's thumbnail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { rawRequest } from "../support/raw-http.ts";
import { launchChromium, setUpStreamer, startServe, until, type Serve } from "./support.ts";

const ADMIN = "snapshot-admin-token-0123456789";
const VIEWER = "snapshot-viewer-token-0123456789";
const STREAMER = "snap";
let sim: SimHost;
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  sim = new SimHost({ pin: "8642" });
  const { httpPort } = await sim.start();
  serve = await startServe({ env: { MLSTREAM_AUTH_ADMIN_TOKENS: ADMIN, MLSTREAM_AUTH_VIEWER_TOKENS: VIEWER, MLSTREAM_SERVER_ALLOWED_HOSTS: "mlstream.test" } });
  await setUpStreamer(serve.url, httpPort, "8642", STREAMER, ADMIN);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
}, 30_000);

const snapshot = (query = "", headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` }) =>
  fetch(new URL(`api/streamers/${STREAMER}/snapshot${query}`, serve.url), { headers });

/** Width and height from a PNG's IHDR chunk (signature, length, "IHDR", then two big-endian u32). */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(new TextDecoder().decode(bytes.subarray(12, 16))).toBe("IHDR");
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** ffprobe's reading of an image. */
async function probe(bytes: Uint8Array): Promise<{ codec_name: string; width: number; height: number }> {
  const proc = Bun.spawn(["ffprobe", "-v", "error", "-show_streams", "-of", "json", "-i", "pipe:0"], { stdin: bytes, stdout: "pipe" });
  const out = JSON.parse(await new Response(proc.stdout).text()) as { streams: { codec_name: string; width: number; height: number }[] };
  return out.streams[0]!;
}

describe("snapshot of a live stream", () => {
  test("PNG and JPEG of the stream's size; polls within the cache window share one decode", async () => {
    const started = performance.now();
    const png = await snapshot("?format=png");
    const firstMs = performance.now() - started;
    expect(png.status).toBe(200);
    expect(png.headers.get("content-type")).toBe("image/png");
    const pngBytes = new Uint8Array(await png.arrayBuffer());
    expect(pngSize(pngBytes)).toEqual({ width: 1280, height: 720 });

    const jpegStarted = performance.now();
    const jpeg = await snapshot();
    const jpegMs = performance.now() - jpegStarted;
    expect(jpeg.headers.get("content-type")).toBe("image/jpeg");
    const jpegBytes = new Uint8Array(await jpeg.arrayBuffer());
    expect(await probe(jpegBytes)).toMatchObject({ codec_name: "mjpeg", width: 1280, height: 720 });

    // Ten dashboards polling at once: one decode, the same picture.
    const decodeHeader = jpeg.headers.get("x-decode-ms");
    const polls = await Promise.all(Array.from({ length: 10 }, () => snapshot()));
    for (const poll of polls) {
      expect(poll.status).toBe(200);
      expect(poll.headers.get("x-decode-ms")).toBe(decodeHeader);
      expect(new Uint8Array(await poll.arrayBuffer())).toEqual(jpegBytes);
    }
    // Past the cache window, a new picture of the moving test pattern.
    await Bun.sleep(2500);
    const later = new Uint8Array(await (await snapshot()).arrayBuffer());
    expect(later).not.toEqual(jpegBytes);
    console.log(
      `snapshot: first PNG ${firstMs.toFixed(0)} ms (keyframe wait + decode) ${pngBytes.length} bytes; JPEG ${jpegMs.toFixed(0)} ms (decode ${decodeHeader} ms) ${jpegBytes.length} bytes, frame age ${jpeg.headers.get("x-frame-age-ms")} ms`,
    );
  }, 30_000);

  test("an attacker gets nothing: no token, a viewer token (header or query), a foreign Host; bad input is a clear 4xx", async () => {
    const noToken = await snapshot("", {});
    expect(noToken.status).toBe(401);
    expect(((await noToken.json()) as { error: string }).error).toBe("unauthorized");
    const viewer = await snapshot("", { authorization: `Bearer ${VIEWER}` });
    expect(viewer.status).toBe(403);
    expect(((await viewer.json()) as { error: string }).error).toBe("forbidden");
    expect((await snapshot(`?access_token=${VIEWER}`, {})).status).toBe(403);
    // An admin token in the query works (for <img src>), as on every GET route.
    expect((await snapshot(`?access_token=${ADMIN}`, {})).status).toBe(200);
    const foreign = await rawRequest(serve.port, `GET /api/streamers/${STREAMER}/snapshot HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close`);
    expect(foreign.status).toBe(421);
    expect(foreign.headers).not.toContain("image/");
    const bad = await snapshot("?format=gif");
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: string }).error).toBe("invalid_request");
    const missing = await fetch(new URL("api/streamers/nosuch/snapshot", serve.url), { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toBe("streamer_not_found");
  }, 30_000);

  test("a server without ffmpeg on its PATH answers 501 naming the package", async () => {
    const emptyBin = tempDir("mlstream-no-ffmpeg-");
    const bare = await startServe({ env: { PATH: emptyBin.path } });
    try {
      const response = await fetch(new URL(`api/streamers/${STREAMER}/snapshot`, bare.url));
      expect(response.status).toBe(501);
      const body = (await response.json()) as { error: string; message: string };
      expect(body.error).toBe("ffmpeg_missing");
      expect(body.message).toContain("apt-get install ffmpeg");
    } finally {
      await bare.stop();
      emptyBin.cleanup();
    }
  }, 30_000);

  test("the streamers page shows the stream's live thumbnail, refreshed", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(new URL(`?access_token=${ADMIN}#/streamers`, serve.url).href, { waitUntil: "domcontentloaded" });
    const thumbnail = page.locator(`[data-streamer-id="${STREAMER}"] img.thumbnail`);
    const loaded = () => thumbnail.evaluate((img: HTMLImageElement) => (img.complete && img.naturalWidth > 0 ? `${img.naturalWidth}x${img.naturalHeight} ${img.src}` : ""));
    await until(async () => (await thumbnail.count()) === 1 && (await loaded()) !== "", 15_000, "the thumbnail to load");
    const first = await loaded();
    expect(first.startsWith("1280x720 blob:")).toBe(true);
    expect(await thumbnail.evaluate((img: HTMLImageElement) => img.getBoundingClientRect().width)).toBe(160);
    await until(async () => (await loaded()) !== first && (await loaded()) !== "", 15_000, "the thumbnail to refresh");
    await page.context().close();
  }, 40_000);
});
