/**
 * Browser-test plumbing: `mlstream serve` as a real process, Debian's Chromium through
 * playwright-core (never a downloaded browser), the REST calls that set a streamer up, and the
 * checks run on what a page shows.
 */
import { expect } from "bun:test";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT, tempDir } from "../support/cli.ts";

export const ARTIFACTS = join(REPO_ROOT, "test-artifacts", "web");
mkdirSync(ARTIFACTS, { recursive: true });

export const until = async (what: () => boolean | Promise<boolean>, ms: number, label: string) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    await Bun.sleep(50);
  }
};

export interface Serve {
  /** The UI root, ending in "/" (base path included). */
  url: string;
  port: number;
  /** Its config and data dir: pass it to a second `startServe` to restart the same server. */
  home: string;
  stderr: () => string;
  /** SIGTERM (then SIGKILL after 8 s); removes the home unless `keepHome`. */
  stop(options?: { keepHome?: boolean }): Promise<void>;
}

export interface ServeOptions {
  args?: string[];
  port?: number;
  home?: string;
  /** Run this compiled binary (from `cwd`) instead of the source. */
  binary?: string;
  cwd?: string;
  /** Extra environment (config as `MLSTREAM_*` variables). */
  env?: Record<string, string>;
}

/** `mlstream serve` from source in a throwaway home, on a free (or the given) loopback port. */
export async function startServe(options: ServeOptions = {}): Promise<Serve> {
  const home = options.home ?? tempDir("mlstream-web-").path;
  const env = cleanEnv({ XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data"), MLSTREAM_LOG_LEVEL: "info", ...options.env });
  const args = ["serve", "--port", String(options.port ?? 0), "--json", ...(options.args ?? [])];
  const proc = Bun.spawn(cliCommand(args, options.binary), { cwd: options.cwd ?? REPO_ROOT, env, stdout: "pipe", stderr: "pipe" });
  let errors = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) errors = (errors + new TextDecoder().decode(chunk)).slice(-20_000);
  })();
  const line = await firstLine(proc.stdout as ReadableStream<Uint8Array>, () => `serve exited before listening:\n${errors}`);
  const { url, port } = JSON.parse(line) as { url: string; port: number };
  return {
    url,
    port,
    home,
    stderr: () => errors,
    async stop({ keepHome = false } = {}) {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(8000).then(() => undefined)]);
      if (exited === undefined) proc.kill("SIGKILL");
      await proc.exited;
      if (!keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
}

export const CHROMIUM = "/usr/bin/chromium";

/** The browser tests' prerequisite is missing: say which package, not a spawn error. */
export class ChromiumMissingError extends Error {
  override name = "ChromiumMissingError";
  constructor(path: string, why: string) {
    super(`the browser tests need Debian's Chromium at ${path} (${why}): install it with 'npm run setup-test-deps' or 'apt-get install chromium'`);
  }
}

/** Debian's Chromium, headless; playwright gives each launch a fresh profile dir. */
export async function launchChromium(extraArgs: string[] = [], executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) throw new ChromiumMissingError(executablePath, "not found");
  try {
    return await chromium.launch({
      executablePath,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs],
      timeout: 20_000,
    });
  } catch (error) {
    const message = (error as Error).message;
    // A path that exists but does not start (not executable, a broken install) is the same remedy.
    if (/spawn|ENOENT|EACCES/.test(message)) throw new ChromiumMissingError(executablePath, message.split("\n")[0]!);
    throw error;
  }
}

/** JSON over the REST API (with an admin token if given); throws with the body on a non-2xx answer. */
export async function api<T>(root: string, method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const response = await fetch(new URL(path, root), {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Adds the sim host, pairs with its fixed PIN, starts a streamer of its first app; waits until live. */
export async function setUpStreamer(root: string, httpPort: number, pin: string, id: string, token?: string): Promise<{ hostId: string }> {
  const host = await api<{ id: string }>(root, "POST", "api/hosts", { address: `127.0.0.1:${httpPort}` }, token);
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const pairing = await fetch(new URL(`api/hosts/${host.id}/pair`, root), { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify({ pin }) });
  const lines = (await pairing.text()).trim().split("\n").map((line) => JSON.parse(line));
  if (lines[0]?.pin !== pin || !lines[1]?.paired) throw new Error(`pairing failed: ${JSON.stringify(lines)}`);
  await api(root, "POST", "api/streamers", { id, host: host.id, app: "Desktop", width: 1280, height: 720, fps: 60, bitrate_kbps: 4000 }, token);
  await until(async () => (await api<{ status: string }>(root, "GET", `api/streamers/${id}`, undefined, token)).status === "live", 30_000, "the streamer to go live");
  return { hostId: host.id };
}

export interface PageStats {
  /** From the player's last once-a-second sample (0 before the first). */
  framesDecoded: number;
  fps: number;
  width: number;
  height: number;
  inputEnabled: boolean;
  connection: string;
}

/** What the page's player reports (the same getStats() numbers as its overlay). */
export async function playerStats(page: Page): Promise<PageStats | undefined> {
  return page.evaluate(() => {
    const player = window.mlstreamPlayer;
    if (!player) return undefined;
    const stats = player.stats;
    return {
      framesDecoded: stats?.framesDecoded ?? 0,
      fps: stats?.fps ?? 0,
      width: stats?.width ?? 0,
      height: stats?.height ?? 0,
      inputEnabled: player.inputEnabled,
      connection: player.peerConnection?.connectionState ?? "none",
    };
  });
}

/** Frames decoded by the page's current peer connection, read from its getStats() now. */
export async function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = window.mlstreamPlayer?.peerConnection;
    if (!pc) return 0;
    let frames = 0;
    (await pc.getStats()).forEach((report: { type: string; kind?: string; framesDecoded?: number }) => {
      if (report.type === "inbound-rtp" && report.kind === "video") frames = report.framesDecoded ?? 0;
    });
    return frames;
  });
}

/**
 * Mean and standard deviation of the luma of a PNG screenshot, measured by decoding the very
 * bytes saved as the artifact in the page (an <img> drawn onto a canvas).
 */
export async function pngLuma(page: Page, png: Uint8Array): Promise<{ mean: number; stddev: number }> {
  const dataUrl = `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
  return page.evaluate(async (src) => {
    const image = new Image();
    image.src = src;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d")!;
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let sum = 0;
    let squares = 0;
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
      const y = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
      sum += y;
      squares += y * y;
    }
    const mean = sum / n;
    return { mean, stddev: Math.sqrt(Math.max(0, squares / n - mean * mean)) };
  }, dataUrl);
}

/** A screenshot saved as an artifact, and proof it is a picture (the sim's moving pattern), not black. */
export async function expectPicture(page: Page, name: string): Promise<void> {
  const png = await page.screenshot();
  writeFileSync(join(ARTIFACTS, name), png);
  const luma = await pngLuma(page, png);
  expect(luma.mean).toBeGreaterThan(30);
  expect(luma.stddev).toBeGreaterThan(20);
}

/**
 * Chromium flags under which WebRTC cannot pass: no UDP except through a proxy (and there is
 * none), so ICE gathers no candidate and never connects, as on an HTTP-only network.
 */
export const NO_WEBRTC_ARGS = ["--force-webrtc-ip-handling-policy=disable_non_proxied_udp", "--webrtc-ip-handling-policy=disable_non_proxied_udp"];

export interface WsPageCounters {
  transport: string;
  framesReceived: number;
  framesDecoded: number;
  framesDropped: number;
  framesDrawn: number;
  keyFramesDecoded: number;
  decodeErrors: number;
  bytesReceived: number;
  audioPackets: number;
  rttMs: number | undefined;
  width: number;
  height: number;
  codec: string;
  decoder: string;
}

/** The player's own WebSocket-transport counters (live, not the once-a-second sample). */
export async function wsCounters(page: Page): Promise<WsPageCounters | undefined> {
  return page.evaluate(() => {
    const player = window.mlstreamPlayer;
    const counters = player?.wsCounters;
    if (!player || !counters) return undefined;
    return { transport: player.transport, ...counters };
  });
}

/** Frames decoded by the page over whichever transport it uses now. */
export async function anyFramesDecoded(page: Page): Promise<number> {
  const ws = await wsCounters(page);
  return ws && ws.transport === "websocket" ? ws.framesDecoded : framesDecoded(page);
}

/** A free TCP port on 127.0.0.1 (bound once, then released). */
export async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
