/**
 * Media via the SFU, in real Chromium: `serve` publishes the sim host's stream into Debian's Janus
 * (started by the test on loopback) and sends its viewers there for the picture; the player shows
 * frames from Janus while its keys go to the host over our peer socket. A view-only page needs
 * Janus only. Janus killed: the page gets its picture from us until Janus is back; new viewers
 * then go through the mountpoint made again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import type { InputPacket } from "../../src/moonlight/input/input.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { startJanus, type RunningJanus } from "../support/janus.ts";
import { api, framesDecoded, launchChromium, playerStats, setUpStreamer, startServe, until, type Serve } from "./support.ts";

const STREAMER = "via-janus";
let janus: RunningJanus;
let sim: SimHost;
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  janus = await startJanus();
  sim = new SimHost({ pin: "1357" });
  const { httpPort } = await sim.start();
  serve = await startServe({ args: ["--janus-url", janus.url, "--janus-viewer-url", janus.url] });
  await setUpStreamer(serve.url, httpPort, "1357", STREAMER);
  await until(async () => (await api<{ egress: { janus: { state: string } } | null }>(serve.url, "GET", `api/streamers/${STREAMER}`)).egress?.janus.state === "up", 15_000, "the mountpoint");
  // Chromium offers its loopback address (not an mDNS name Janus cannot resolve): all traffic stays on 127/8.
  browser = await launchChromium(["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
  await janus?.stop();
});

async function open(query = ""): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 960, height: 540 } })).newPage();
  await page.goto(new URL(`view/${STREAMER}${query}`, serve.url).href, { waitUntil: "domcontentloaded" });
  return page;
}

const transportOf = (page: Page) => page.evaluate(() => window.mlstreamPlayer?.transport);
const keyEvents = (keyCode: number) =>
  sim.inputLog.map((e) => e.packet).filter((p): p is Extract<InputPacket, { kind: "keyboard" }> => p.kind === "keyboard" && p.keyCode === keyCode);

describe("media via Janus", () => {
  test("the player takes its picture from Janus and its keys reach the host over our socket", async () => {
    const started = performance.now();
    const page = await open();
    await until(async () => (await framesDecoded(page)) > 0, 15_000, "a first frame through Janus");
    const firstFrameMs = performance.now() - started;
    expect(await transportOf(page)).toBe("janus");
    await until(async () => (await framesDecoded(page)) > 120, 15_000, "frames through Janus");
    const viewers = (await api<{ viewers: { transport: string }[] }>(serve.url, "GET", `api/streamers/${STREAMER}`)).viewers;
    expect(viewers.map((v) => v.transport)).toEqual(["janus"]);
    await until(async () => (await api<{ egress: { janus: { viewers: number } } }>(serve.url, "GET", `api/streamers/${STREAMER}`)).egress.janus.viewers === 1, 10_000, "Janus counting the viewer");

    await until(async () => (await playerStats(page))?.inputEnabled === true, 10_000, "input on the page");
    sim.media!.clearInputLog();
    await page.keyboard.down("KeyJ");
    await until(() => keyEvents(0x4a).length === 1, 10_000, "J down on the host");
    await page.keyboard.up("KeyJ");
    await until(() => keyEvents(0x4a).length === 2, 10_000, "J up on the host");
    console.log(`through Janus: page load → first frame ${firstFrameMs.toFixed(0)} ms; Janus counts the viewer; J down/up reached the host`);
    await page.context().close();
  }, 60_000);

  test("a view-only page plays from Janus and sends nothing", async () => {
    const page = await open("?view_only=1");
    await until(async () => (await framesDecoded(page)) > 60, 15_000, "frames");
    sim.media!.clearInputLog();
    await page.keyboard.press("KeyK");
    await Bun.sleep(500);
    expect(keyEvents(0x4b)).toEqual([]);
    await page.context().close();
  }, 40_000);

  test("Janus killed and started again: the page plays on by itself (from us while Janus is down), and the mountpoint is made again", async () => {
    const page = await open();
    await until(async () => (await framesDecoded(page)) > 30, 15_000, "frames");
    const killed = performance.now();
    await janus.kill();
    // The page notices its Janus session is gone and joins again: while the mountpoint is down the
    // server sends the media itself.
    await until(async () => (await transportOf(page)) !== "janus" && (await framesDecoded(page)) > 30, 20_000, "a picture again");
    const backMs = performance.now() - killed;
    await janus.restart();
    await until(async () => {
      const info = await api<{ egress: { janus: { state: string; recreated: number } } }>(serve.url, "GET", `api/streamers/${STREAMER}`);
      return info.egress.janus.state === "up" && info.egress.janus.recreated >= 1;
    }, 15_000, "the mountpoint again");
    const remadeMs = performance.now() - killed;
    console.log(`Janus killed: the page had a picture again (${await transportOf(page)}) after ${backMs.toFixed(0)} ms; Janus restarted, mountpoint made again ${remadeMs.toFixed(0)} ms after the kill`);
    // A viewer joining now gets the new mountpoint.
    const late = await open();
    await until(async () => (await transportOf(late)) === "janus" && (await framesDecoded(late)) > 30, 20_000, "a new viewer through the new mountpoint");
    await late.context().close();
    await page.context().close();
  }, 60_000);
});
