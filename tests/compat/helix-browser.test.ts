/**
 * A Helix viewer in real Chromium against `serve --compat moonlight-web` and the sim host, written
 * from docs/helix.md: a page speaking Helix's message protocol and data channels
 * (helix-viewer-page.html) reaches the sidecar through a stand-in of Helix's proxy
 * (helix-stand-in.ts), while a second viewer watches the same streamer on our own player. Both
 * decode; the Helix viewer's keyboard, mouse and gamepad input reaches the host byte-exact; the
 * host's rumble comes back on its `controllers` channel; `join` kicks it (single mode); teardown
 * never stops a streamer someone watches. Single mode first, then multi. Prints the figures.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { ControllerType, serializeInputPacket, unpluggedGamepadState, type InputPacket } from "../../src/moonlight/input/input.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { framesDecoded, launchChromium, startServe, until, type Serve } from "../web/support.ts";
import { writeHelixConfig } from "./helix-fixture.ts";
import { startHelixStandIn, type HelixStandIn } from "./helix-stand-in.ts";

const PIN = "5813";
const CREDENTIALS = "helix-browser-test-credentials";
const OWN_TOKEN = "our-own-admin-token-for-the-player";
const bearer = { authorization: `Bearer ${CREDENTIALS}` };

let sim: SimHost;
let serve: Serve;
let helix: HelixStandIn;
let browser: Browser;
let dir: { path: string; cleanup(): void };
let appId = 0;
/** Figures per mode, printed at the end for the lead to quote. */
const figures: Record<string, { ttffMs: number; connectionCompleteMs: number; sent: number; delivered: number }> = {};

beforeAll(async () => {
  sim = new SimHost({ pin: PIN });
  const { httpPort } = await sim.start();
  appId = sim.apps.find((a) => a.title === "Desktop")!.id;
  dir = tempDir("mlstream-helix-browser-");
  const helixDir = writeHelixConfig(dir.path, httpPort);
  serve = await startServe({
    args: ["--compat", "moonlight-web"],
    env: { MOONLIGHT_CREDENTIALS: CREDENTIALS, MOONLIGHT_INTERNAL_PAIRING_PIN: PIN, MLSTREAM_COMPAT_HELIX_DIR: helixDir, MLSTREAM_TOKEN: OWN_TOKEN },
  });
  helix = startHelixStandIn({ sidecarUrl: serve.url, credentials: CREDENTIALS });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  helix?.stop();
  await serve?.stop();
  await sim?.close();
  dir?.cleanup();
  if (Object.keys(figures).length > 0) {
    console.log("\nHelix-protocol viewer (Chromium), per mode:");
    console.log("mode    | time to first frame | ConnectionComplete | input delivered / sent");
    for (const [mode, f] of Object.entries(figures)) {
      console.log(`${mode.padEnd(7)} | ${`${f.ttffMs.toFixed(0)} ms`.padEnd(19)} | ${`${f.connectionCompleteMs.toFixed(0)} ms`.padEnd(18)} | ${f.delivered} / ${f.sent}`);
    }
  }
}, 30_000);

async function newPage(url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 960, height: 540 } });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`[page] ${message.text()}`);
  });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  return page;
}

type HelixState = { peer: unknown; messages: unknown[]; closed: { code: number } | null; startedAt: number; firstFrameAt: number; connectionCompleteAt: number; inputEnabled: boolean; rumble: number[][] };

const helixState = (page: Page) => page.evaluate(() => (window as unknown as { helix: { state: HelixState } }).helix.state);
const helixFrames = (page: Page) => page.evaluate(() => (window as unknown as { helix: { framesDecoded(): Promise<number> } }).helix.framesDecoded());

/** Opens the Helix page and starts it as Helix's frontend would (`single`: AuthenticateAndInit first; `peer`: nothing). */
async function openHelixViewer(options: { mode: "single" | "peer"; path: string; init?: Record<string, unknown> }): Promise<Page> {
  const page = await newPage(helix.pageUrl);
  await page.evaluate((start) => (window as unknown as { helix: { start(o: unknown): void } }).helix.start(start), { mode: options.mode, wsUrl: helix.wsUrl(options.path), init: options.init });
  return page;
}

/** Our own player on a streamer, with our own token. */
const openOurPlayer = (streamerId: string) => newPage(new URL(`view/${streamerId}?access_token=${OWN_TOKEN}`, serve.url).href);

const browserInit = (sessionId: string, mode: "create" | "join") => ({
  credentials: "the-browser-does-not-know-them", session_id: sessionId, mode, client_unique_id: `helix-${sessionId}`, host_id: 0, app_id: appId,
  bitrate: 8000, packet_size: 1024, fps: 60, width: 1280, height: 720, video_sample_queue_size: 10, play_audio_local: false,
  audio_sample_queue_size: 10, video_supported_formats: 1, video_colorspace: "Rec709", video_color_range_full: true,
});

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
/** Bytes of everything the host received: each packet serialized as it is on the wire (parseInputPacket's inverse). */
const hostPacketsHex = () => sim.inputLog.map((event) => hex(serializeInputPacket(event.packet)));

/**
 * Sends Helix's input messages one at a time and checks that each arrives at the host as exactly
 * the GameStream packet docs/helix.md §1.3 names (its wire bytes). Rumble from the host comes
 * back on `controllers`. Returns delivered / sent.
 */
async function driveInput(page: Page, key: number, offset: number): Promise<{ sent: number; delivered: number }> {
  /** [what, window.helix method, its arguments, the packet the host must receive]. */
  type Step = [string, string, (number | string | boolean)[], InputPacket];
  const steps: Step[] = [
    ["key down", "key", [1, 1, key], { kind: "keyboard", action: "down", keyCode: key, modifiers: 1, flags: 0 }],
    ["key up", "key", [0, 0, key], { kind: "keyboard", action: "up", keyCode: key, modifiers: 0, flags: 0 }],
    ["text", "text", [`hé${offset}`], { kind: "utf8Text", text: `hé${offset}` }],
    ["mouse relative", "mouseRelative", [7 + offset, -3], { kind: "mouseMoveRelative", deltaX: 7 + offset, deltaY: -3 }],
    ["mouse absolute", "mouseAbsolute", [640 + offset, 360, 1280, 720], { kind: "mouseMoveAbsolute", x: 640 + offset, y: 360, referenceWidth: 1280, referenceHeight: 720 }],
    ["button down", "mouseButton", [1, 3], { kind: "mouseButton", action: "down", button: 3 }],
    ["button up", "mouseButton", [0, 3], { kind: "mouseButton", action: "up", button: 3 }],
    ["wheel", "wheelHighRes", [0, 240 + offset], { kind: "scroll", amount: 240 + offset }],
    ["pad arrival", "padArrive", [0, 0xffff, 0x0003], { kind: "controllerArrival", controllerNumber: 0, controllerType: ControllerType.unknown, supportedButtonFlags: 0xffff, capabilities: 0x0003 }],
    [
      "pad state",
      "padState", [0, 0x1000 + offset, 10, 200, 1000, -1000, 5, -5],
      { kind: "gamepadState", controllerNumber: 0, activeGamepadMask: 1, buttonFlags: 0x1000 + offset, leftTrigger: 10, rightTrigger: 200, leftStickX: 1000, leftStickY: -1000, rightStickX: 5, rightStickY: -5 },
    ],
  ];
  let delivered = 0;
  const run = async ([name, method, args, expected]: Step): Promise<void> => {
    const wanted = hex(serializeInputPacket(expected));
    const before = hostPacketsHex().filter((h) => h === wanted).length;
    await page.evaluate(([m, a]) => (window as unknown as { helix: Record<string, (...args: unknown[]) => void> }).helix[m as string]!(...(a as unknown[])), [method, args] as const);
    try {
      await until(() => hostPacketsHex().filter((h) => h === wanted).length > before, 5000, `${name} at the host`);
      delivered++;
    } catch {
      console.error(`not delivered: ${name} (${wanted})`);
    }
  };
  for (const step of steps) await run(step);

  // Rumble for host slot 0 (this viewer's pad 0) comes back on its `controllers` channel.
  sim.media!.sendRumble(0, 0x8000 + offset, 0x4000);
  await until(async () => (await helixState(page)).rumble.length > 0, 5000, "rumble on the controllers channel");
  expect((await helixState(page)).rumble.at(-1)).toEqual([0, 0, (0x8000 + offset) >> 8, (0x8000 + offset) & 0xff, 0x40, 0x00]);

  await run(["pad removal", "padRemove", [0], unpluggedGamepadState(0, 0)]);
  return { sent: steps.length + 1, delivered };
}

async function waitFirstFrames(page: Page, label: string): Promise<void> {
  try {
    await until(async () => (await helixFrames(page)) > 30, 30_000, `${label} to decode frames`);
  } catch (error) {
    // What the page heard (SDP shortened) and the server's last words, to tell where it stopped.
    const seen = await helixState(page);
    const ice = await page.evaluate(() => {
      const pc = (window as unknown as { helix: { pc?: RTCPeerConnection } }).helix.pc;
      return pc ? { signaling: pc.signalingState, ice: pc.iceConnectionState, remote: pc.remoteDescription?.sdp.split("\r\n").filter((l) => /^(m=|a=fmtp|a=candidate)/.test(l)) } : undefined;
    });
    console.error(`${label}: ${JSON.stringify(ice)}`);
    const heard = JSON.stringify(seen.messages).replace(/v=0[^"]*/g, "<sdp>");
    console.error(`${label}: peer ${JSON.stringify(seen.peer)}; the page heard ${heard.slice(0, 3000)}\nserve: ${serve.stderr().slice(-3000)}`);
    throw error;
  }
}

test("single mode: a Helix-protocol viewer (create) and our player watch one session; its input reaches the host byte-exact, rumble comes back; join kicks it; a closed viewer never stops a watched session", async () => {
  const session = "agent-ses_b1-inst1";
  const first = await openHelixViewer({ mode: "single", path: "/api/host/stream", init: browserInit(session, "create") });
  await waitFirstFrames(first, "the Helix viewer");
  const state = await helixState(first);
  // Our offer came before WebRtcConfig; the page answered it (it never offered itself).
  const kinds = state.messages.map((m) => (typeof m === "string" ? m : Object.keys(m as object)[0]));
  expect(kinds.indexOf("Signaling")).toBeLessThan(kinds.indexOf("WebRtcConfig"));
  expect(kinds).toContain("ConnectionComplete");
  expect(state.inputEnabled).toBe(true);

  const ours = await openOurPlayer(`mlw-${session}`);
  await until(async () => (await framesDecoded(ours)) > 30, 30_000, "our player to decode frames");

  const input = await driveInput(first, 0x41, 0);
  figures.single = { ttffMs: state.firstFrameAt - state.startedAt, connectionCompleteMs: state.connectionCompleteAt - state.startedAt, ...input };
  expect(input.delivered).toBe(input.sent);

  // join: the old Helix viewer is told ClientKicked and closed; the joining one plays; ours plays on.
  const second = await openHelixViewer({ mode: "single", path: "/api/host/stream", init: browserInit(session, "join") });
  await until(async () => (await helixState(first)).closed !== null, 10_000, "the first Helix viewer to be closed");
  expect((await helixState(first)).messages).toContain("ClientKicked");
  await waitFirstFrames(second, "the joining Helix viewer");
  const oursBefore = await framesDecoded(ours);
  await until(async () => (await framesDecoded(ours)) > oursBefore + 30, 10_000, "our player to play on through the join");

  // Teardown: the Helix viewer leaves; the session lives on while our player watches it.
  await second.context().close();
  await first.context().close();
  await Bun.sleep(1500);
  const sessions = async () => ((await (await fetch(new URL("api/sessions", serve.url), { headers: bearer })).json()) as { sessions: { session_id: string; streamer_alive: boolean }[] }).sessions;
  expect((await sessions()).find((s) => s.session_id === session)?.streamer_alive).toBe(true);
  const oursAfter = await framesDecoded(ours);
  await until(async () => (await framesDecoded(ours)) > oursAfter + 30, 10_000, "our player to play on after the Helix viewer left");
  // Nobody left: the session and its streamer stop.
  await ours.context().close();
  await until(async () => !(await sessions()).some((s) => s.session_id === session), 15_000, "the unwatched session to stop");
}, 120_000);

test("multi mode: Helix's backend creates the streamer (200), the frontend's longer peer id joins it over Helix's messages beside our player; input byte-exact, rumble; the peer leaving keeps the streamer, DELETE ends it for our player too", async () => {
  const streamerId = "agent-ses_b2";
  const created = await fetch(new URL("api/streamers", serve.url), {
    method: "POST",
    headers: { ...bearer, host: "moonlight-web:8080", "content-type": "application/json" },
    body: JSON.stringify({ streamer_id: streamerId, client_unique_id: `helix-${streamerId}`, host_id: 0, app_id: appId, bitrate: 8000, packet_size: 1024, fps: 60, width: 1280, height: 720, video_sample_queue_size: 10, play_audio_local: false, audio_sample_queue_size: 10, video_supported_formats: 1, video_colorspace: "Rec709", video_color_range_full: false }),
  });
  expect(created.status).toBe(200);
  expect(((await created.json()) as { streamer_id: string }).streamer_id).toBe(streamerId);

  // Helix's frontend opens `agent-{session}-{instance}` (docs/helix.md §2.3).
  const viewer = await openHelixViewer({ mode: "peer", path: `/api/streamers/${streamerId}-inst7/peer` });
  await waitFirstFrames(viewer, "the Helix peer");
  const state = await helixState(viewer);
  expect(state.inputEnabled).toBe(true);
  const ours = await openOurPlayer(streamerId);
  await until(async () => (await framesDecoded(ours)) > 30, 30_000, "our player to decode frames");

  const input = await driveInput(viewer, 0x42, 100);
  figures.multi = { ttffMs: state.firstFrameAt - state.startedAt, connectionCompleteMs: state.connectionCompleteAt - state.startedAt, ...input };
  expect(input.delivered).toBe(input.sent);

  // Multi mode keeps every peer: a second Helix peer joins without kicking the first.
  const another = await openHelixViewer({ mode: "peer", path: `/api/streamers/${streamerId}-inst8/peer` });
  await waitFirstFrames(another, "the second Helix peer");
  expect((await helixState(viewer)).closed).toBeNull();
  const peers = async () => ((await (await fetch(new URL(`api/streamers/${streamerId}`, serve.url), { headers: bearer })).json()) as { connected_peers: number }).connected_peers;
  await until(async () => (await peers()) === 3, 5000, "three peers listed (two Helix, ours)");

  await viewer.context().close();
  await another.context().close();
  await until(async () => (await peers()) === 1, 10_000, "the Helix peers gone");
  const before = await framesDecoded(ours);
  await until(async () => (await framesDecoded(ours)) > before + 30, 10_000, "our player to play on");
  const removed = await fetch(new URL(`api/streamers/${streamerId}`, serve.url), { method: "DELETE", headers: bearer });
  expect(removed.status).toBe(204);
  await until(async () => (await fetch(new URL(`api/streamers/${streamerId}`, serve.url), { headers: bearer })).status === 404, 10_000, "the streamer gone");
  await ours.context().close();
}, 120_000);
