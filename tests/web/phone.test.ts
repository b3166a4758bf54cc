/**
 * The player and the streamers page on a phone (390×844, touch): the toolbar fits and nothing
 * covers it, the stats overlay is off until asked for, the unmute button says "Tap", the viewer
 * list's Kick button is on screen, and a link to a streamer that does not exist says so in words
 * with a way back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext } from "playwright-core";
import { launchChromium, startServe, until, type Serve } from "./support.ts";

const PHONE = { width: 390, height: 844 };
let serve: Serve;
let browser: Browser;
let phone: BrowserContext;

beforeAll(async () => {
  serve = await startServe({ args: ["--demo"] });
  browser = await launchChromium();
  phone = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

type Box = { left: number; top: number; right: number; bottom: number };
const overlaps = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

describe("on a phone-sized touch screen", () => {
  test("player: the toolbar fits, stats are off until the Stats button, then below the toolbar; unmute says Tap", async () => {
    const page = await phone.newPage();
    await page.goto(`${serve.url}view/demo`, { waitUntil: "domcontentloaded" });
    await until(async () => (await page.evaluate(() => window.mlstreamPlayer?.stats?.framesDecoded ?? 0)) > 10, 20_000, "frames decoded");
    expect(await page.locator(".stats").isVisible()).toBe(false);
    expect(await page.locator(".unmute").textContent()).toBe("Tap to unmute");

    const buttons = await page.locator(".bar button").evaluateAll((els) => els.map((e) => ({ text: e.textContent, ...JSON.parse(JSON.stringify(e.getBoundingClientRect())) })));
    expect(buttons.map((b) => b.text)).toEqual(["Mouse: absolute", "Paste", "Stats", "Fullscreen"]);
    for (const b of buttons) expect({ text: b.text, inside: b.left >= 0 && b.right <= PHONE.width && b.top >= 0 }).toEqual({ text: b.text, inside: true });

    await page.locator(".bar button", { hasText: "Stats" }).tap();
    await until(async () => ((await page.locator(".stats").textContent()) ?? "").includes("Mbps"), 5000, "the stats overlay");
    expect(await page.locator(".stats").isVisible()).toBe(true);
    const stats = (await page.locator(".stats").boundingBox())!;
    const statsBox = { left: stats.x, top: stats.y, right: stats.x + stats.width, bottom: stats.y + stats.height };
    for (const b of buttons) expect({ text: b.text, overlaps: overlaps(statsBox, b) }).toEqual({ text: b.text, overlaps: false });
    await page.close();
  });

  test("streamers page: a viewer's Kick button is on screen, nothing wider than the phone", async () => {
    const viewer = await phone.newPage();
    await viewer.goto(`${serve.url}view/demo`, { waitUntil: "domcontentloaded" });
    const admin = await phone.newPage();
    await admin.goto(`${serve.url}#/streamers`, { waitUntil: "domcontentloaded" });
    const kick = admin.locator("button", { hasText: "Kick" }).first();
    await kick.waitFor({ timeout: 20_000 });
    const box = (await kick.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
    expect(await admin.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await admin.close();
    await viewer.close();
  });

  test("a viewer link to no such streamer says so in words and links back to the streams", async () => {
    const page = await phone.newPage();
    await page.goto(`${serve.url}view/nosuch`, { waitUntil: "domcontentloaded" });
    const notice = page.locator(".not-found");
    await notice.waitFor({ timeout: 20_000 });
    expect(await notice.textContent()).toContain("There is no stream called “nosuch” on this server");
    expect(await page.evaluate(() => document.body.innerText)).not.toContain("streamer_not_found");
    await notice.locator("a").tap();
    await page.locator("h2", { hasText: "Streamers" }).waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).hash).toBe("#/streamers");
    await page.close();
  });
});
