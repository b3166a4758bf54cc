/**
 * The player in real Chromium against the sim host, through `mlstream serve` as a user runs it:
 * two pages view one streamer and both decode; page 1's keys, clicks, wheel, paste and gamepad reach
 * the host's input log; closing page 1 releases what it held while page 2 plays on; a view-only page
 * sends nothing; page 2 survives a crash of the streamer's process (a new offer on its socket) and
 * a restart of `serve` (a new socket); a kicked page stays away.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import type { InputPacket } from "../../src/moonlight/input/input.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { api, ARTIFACTS, framesDecoded, launchChromium, playerStats, pngLuma, setUpStreamer, startServe, until, type Serve } from "./support.ts";

const STREAMER = "web-test";
let sim: SimHost;
let serve: Serve;
let browser: Browser;
let viewerUrl = "";
let page1: Page;
let page2: Page;

beforeAll(async () => {
  sim = new SimHost({ pin: "2468" });
  const { httpPort } = await sim.start();
  serve = await startServe();
  await setUpStreamer(serve.url, httpPort, "2468", STREAMER);
  viewerUrl = new URL(`view/${STREAMER}`, serve.url).href;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
}, 30_000);

async function openViewer(url = viewerUrl): Promise<Page> {
  // A context per page: two separate viewers, as two people would be.
  const context = await browser.newContext({ viewport: { width: 960, height: 540 } });
  // Counts signaling sockets, to tell "new offer on the same socket" from "a new socket".
  await context.addInitScript(() => {
    const Native = WebSocket;
    const counted = function (this: unknown, url: string | URL, protocols?: string | string[]) {
      (window as unknown as { sockets: number }).sockets = ((window as unknown as { sockets?: number }).sockets ?? 0) + 1;
      return new Native(url, protocols);
    } as unknown as typeof WebSocket;
    Object.assign(counted, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
    counted.prototype = Native.prototype;
    window.WebSocket = counted;
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") console.error(`[page] ${message.text()}`);
  });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  return page;
}

const hostEvents = () => sim.inputLog.map((event) => event.packet);
const keyEvents = (keyCode: number) => hostEvents().filter((p): p is Extract<InputPacket, { kind: "keyboard" }> => p.kind === "keyboard" && p.keyCode === keyCode);
const sockets = (page: Page) => page.evaluate(() => (window as unknown as { sockets: number }).sockets);
const buttonEvents = () => hostEvents().filter((p) => p.kind === "mouseButton");

describe("player in Chromium", () => {
  test("two pages on the viewer link both decode the stream and show a picture with the stats overlay", async () => {
    [page1, page2] = await Promise.all([openViewer(), openViewer()]);
    await until(async () => (await framesDecoded(page1)) > 30 && (await framesDecoded(page2)) > 30, 30_000, "both pages to decode frames");
    const before = await framesDecoded(page1);
    await until(async () => (await framesDecoded(page1)) > before + 30, 10_000, "page 1 to keep decoding");

    // The overlay comes from getStats too; it names fps, bitrate, rtt, jitter buffer, decode, loss.
    await until(async () => ((await page1.locator(".stats").textContent()) ?? "").includes("Mbps"), 5000, "the stats overlay");
    expect(await playerStats(page1)).toMatchObject({ width: 1280, height: 720, connection: "connected" });
    const overlay = (await page1.locator(".stats").textContent())!;
    for (const field of ["fps", "bitrate", "rtt", "jitter buf", "decode", "lost"]) expect(overlay).toContain(field);

    for (const [index, page] of [page1, page2].entries()) {
      const png = await page.screenshot();
      writeFileSync(join(ARTIFACTS, `player-${index + 1}.png`), png);
      const luma = await pngLuma(page, png);
      // The sim's loop is a moving test pattern: bright and far from uniform; black is mean ≈ 0.
      expect(luma.mean).toBeGreaterThan(30);
      expect(luma.stddev).toBeGreaterThan(20);
    }
    // Latency hints are applied to the receivers, and the answer kept the playout-delay extension.
    const hints = await page1.evaluate(() => {
      const pc = window.mlstreamPlayer!.peerConnection!;
      return {
        receivers: pc.getReceivers().map((r) => (r as RTCRtpReceiver & { jitterBufferTarget: number | null; playoutDelayHint?: number }).jitterBufferTarget),
        playoutDelay: pc.localDescription!.sdp.includes("playout-delay"),
      };
    });
    expect(hints.receivers.length).toBeGreaterThanOrEqual(2);
    for (const target of hints.receivers) expect(target).toBe(0);
    expect(hints.playoutDelay).toBe(true);
    expect((await api<{ viewers: unknown[] }>(serve.url, "GET", `api/streamers/${STREAMER}`)).viewers).toHaveLength(2);
  }, 60_000);

  test("keys, mouse buttons, the wheel and pasted text from page 1 reach the host", async () => {
    await until(async () => (await playerStats(page1))?.inputEnabled === true, 10_000, "input on page 1");
    sim.media!.clearInputLog();
    const box = (await page1.locator("video").boundingBox())!;
    await page1.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page1.mouse.click(box.x + box.width / 4, box.y + box.height / 4, { button: "right" });
    await page1.keyboard.press("KeyA");
    await page1.mouse.wheel(0, -100);
    await page1.evaluate(() => {
      const data = new DataTransfer();
      data.setData("text/plain", "héllo");
      document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
    });
    await until(() => hostEvents().some((p) => p.kind === "utf8Text"), 10_000, "the pasted text");

    expect(buttonEvents()).toEqual([
      { kind: "mouseButton", action: "down", button: 1 },
      { kind: "mouseButton", action: "up", button: 1 },
      { kind: "mouseButton", action: "down", button: 3 },
      { kind: "mouseButton", action: "up", button: 3 },
    ]);
    // Absolute positions are in the stream's pixels: the centre of the picture is (640, 360).
    const moves = hostEvents().filter((p) => p.kind === "mouseMoveAbsolute");
    expect(moves[0]).toMatchObject({ referenceWidth: 1280, referenceHeight: 720 });
    expect(moves.some((m) => m.kind === "mouseMoveAbsolute" && Math.abs(m.x - 640) <= 2 && Math.abs(m.y - 360) <= 2)).toBe(true);
    expect(keyEvents(0x41)).toEqual([
      { kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 },
      { kind: "keyboard", action: "up", keyCode: 0x41, modifiers: 0, flags: 0 },
    ]);
    expect(hostEvents().filter((p) => p.kind === "scroll")).toEqual([{ kind: "scroll", amount: 120 }]);
    expect(hostEvents().filter((p) => p.kind === "utf8Text")).toEqual([{ kind: "utf8Text", text: "héllo" }]);
  }, 30_000);

  test("a gamepad on page 1 arrives on the host and its buttons and sticks follow", async () => {
    sim.media!.clearInputLog();
    // A stand-in for the Gamepad API (no pad in a test machine): a standard-mapping Xbox pad.
    await page1.evaluate(() => {
      const buttons = Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 }));
      const pad = { id: "Xbox Wireless Controller (STANDARD GAMEPAD Vendor: 045e Product: 0b13)", index: 0, connected: true, mapping: "standard", axes: [0, 0, 0, 0], buttons, timestamp: 0, vibrationActuator: null };
      (window as unknown as { pad: typeof pad }).pad = pad;
      Object.defineProperty(navigator, "getGamepads", { value: () => [pad, null, null, null], configurable: true });
    });
    const pads = () => hostEvents().filter((p) => p.kind === "controllerArrival" || p.kind === "gamepadState");
    await until(() => pads().length >= 2, 10_000, "the pad to arrive");
    expect(pads()[0]).toMatchObject({ kind: "controllerArrival", controllerNumber: 0, controllerType: 1 });
    await page1.evaluate(() => {
      const pad = (window as unknown as { pad: { buttons: { pressed: boolean; value: number }[]; axes: number[] } }).pad;
      pad.buttons[0] = { pressed: true, value: 1 };
      pad.buttons[7] = { pressed: true, value: 1 };
      pad.axes[1] = -1;
    });
    await until(() => pads().some((p) => p.kind === "gamepadState" && p.buttonFlags === 0x1000), 10_000, "button A");
    expect(pads().at(-1)).toMatchObject({ kind: "gamepadState", controllerNumber: 0, activeGamepadMask: 1, buttonFlags: 0x1000, rightTrigger: 255, leftStickY: 32767 });
    // Unplugged: the page sends a neutral state with the pad's bit cleared. (The server's input
    // mixer keeps the host slot until the viewer leaves and sends its own mask, so only the
    // neutral state is checked here.)
    await page1.evaluate(() => Object.defineProperty(navigator, "getGamepads", { value: () => [null, null, null, null], configurable: true }));
    await until(() => {
      const last = pads().at(-1);
      return last?.kind === "gamepadState" && last.buttonFlags === 0 && last.rightTrigger === 0 && last.leftStickY === 0;
    }, 10_000, "the pad's neutral state");
  }, 30_000);

  test("page 1 holds keys past the silence limit (its heartbeat keeps it live); closing it releases them; page 2 keeps playing", async () => {
    sim.media!.clearInputLog();
    await page1.keyboard.down("ShiftLeft");
    await page1.keyboard.down("KeyK");
    await until(() => keyEvents(0x4b).length === 1 && keyEvents(0xa0).length === 1, 10_000, "Shift+K down on the host");
    expect(keyEvents(0x4b)[0]).toMatchObject({ action: "down", modifiers: 0x01 });
    // Held past the silence limit (2 s): the page's heartbeat keeps it live, so nothing is released.
    await Bun.sleep(3500);
    expect(keyEvents(0x4b).length).toBe(1);
    const viewers = (await api<{ viewers: { stale: boolean }[] }>(serve.url, "GET", `api/streamers/${STREAMER}`)).viewers;
    expect(viewers.map((v) => v.stale)).toEqual([false, false]);
    await page1.context().close();
    await until(() => keyEvents(0x4b).length === 2 && keyEvents(0xa0).length === 2, 10_000, "Shift and K up on the host");
    expect(keyEvents(0x4b)[1]).toMatchObject({ action: "up" });
    expect(keyEvents(0xa0)[1]).toMatchObject({ action: "up" });

    await until(async () => (await api<{ viewers: unknown[] }>(serve.url, "GET", `api/streamers/${STREAMER}`)).viewers.length === 1, 10_000, "page 1 to leave");
    const before = await framesDecoded(page2);
    await until(async () => (await framesDecoded(page2)) > before + 60, 10_000, "page 2 to keep decoding");
    expect((await playerStats(page2))!.connection).toBe("connected");
  }, 30_000);

  test("a view-only page plays but sends no input", async () => {
    const page = await openViewer(`${viewerUrl}?view_only=1`);
    await until(async () => (await framesDecoded(page)) > 10, 20_000, "the view-only page to decode");
    expect((await playerStats(page))!.inputEnabled).toBe(false);
    sim.media!.clearInputLog();
    const box = (await page.locator("video").boundingBox())!;
    await page.mouse.click(box.x + 50, box.y + 50);
    await page.keyboard.press("KeyB");
    await Bun.sleep(500);
    expect(hostEvents()).toEqual([]);
    await page.context().close();
  }, 30_000);

  test("the streamer's process crashes: page 2 takes the new offer on its socket and plays again", async () => {
    const before = await api<{ pid: number }>(serve.url, "GET", `api/streamers/${STREAMER}`);
    expect(await sockets(page2)).toBe(1);
    await page2.evaluate(() => ((window.mlstreamPlayer!.peerConnection! as RTCPeerConnection & { old?: boolean }).old = true));
    process.kill(before.pid, "SIGKILL");
    await until(
      () => page2.evaluate(() => (window.mlstreamPlayer!.peerConnection as (RTCPeerConnection & { old?: boolean }) | undefined)?.old === undefined),
      20_000,
      "a new peer connection",
    );
    await until(async () => (await framesDecoded(page2)) > 30, 20_000, "page 2 to decode again");
    const after = await api<{ pid: number; restarts: number }>(serve.url, "GET", `api/streamers/${STREAMER}`);
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBeGreaterThanOrEqual(1);
    expect(await sockets(page2)).toBe(1);
  }, 45_000);

  test("serve restarts: page 2 reconnects on a new socket by itself", async () => {
    const { port, home } = serve;
    await serve.stop({ keepHome: true });
    await until(async () => ((await page2.locator(".stage").textContent()) ?? "") !== "", 10_000, "the page to notice");
    const stages: string[] = [];
    const watch = setInterval(async () => {
      const text = (await page2.locator(".stage").textContent().catch(() => "")) ?? "";
      if (stages.at(-1) !== text) stages.push(text);
    }, 100);
    serve = await startServe({ port, home });
    try {
      await until(async () => (await framesDecoded(page2)) > 30 && (await playerStats(page2))?.connection === "connected", 40_000, "page 2 to play again");
    } catch (error) {
      throw new Error(`${(error as Error).message}; the page went through ${JSON.stringify(stages)}`);
    } finally {
      clearInterval(watch);
    }
    // The page named what happened on its way back (4004 from the stopping server, then the stages).
    expect(stages.some((stage) => stage.startsWith("stream unavailable"))).toBe(true);
    expect(await sockets(page2)).toBeGreaterThanOrEqual(2);
    await until(async () => (await api<unknown[]>(serve.url, "GET", `api/streamers/${STREAMER}/peers`)).length === 1, 10_000, "the new server to list page 2");
  }, 55_000);

  test("a kicked page says so and does not come back", async () => {
    const peers = () => api<{ id: string }[]>(serve.url, "GET", `api/streamers/${STREAMER}/peers`);
    await until(async () => (await peers()).length === 1, 10_000, "the view-only page to leave");
    await api(serve.url, "DELETE", `api/streamers/${STREAMER}/peers/${(await peers())[0]!.id}`);
    await until(async () => ((await page2.locator(".stage").textContent()) ?? "").includes("kicked"), 10_000, "the kicked stage");
    await Bun.sleep(1500);
    expect(await peers()).toEqual([]);
  }, 30_000);
});
