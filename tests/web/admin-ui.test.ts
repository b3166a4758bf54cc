/**
 * The admin pages under a path prefix (`serve --base-path /mlstream`, as behind a reverse proxy):
 * add a host, pair it by typing the PIN the page shows on the (sim) host, pick an app by its box
 * art, start a streamer with settings, follow its shareable link to the player. Every request the
 * pages make stays under the prefix.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { ARTIFACTS, framesDecoded, launchChromium, pngLuma, startServe, until, type Serve } from "./support.ts";

const BASE = "/mlstream";
let sim: SimHost;
let simPort = 0;
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  // No fixed PIN: the host waits for its operator to type the one the UI shows.
  sim = new SimHost();
  simPort = (await sim.start()).httpPort;
  serve = await startServe({ args: ["--base-path", BASE] });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
}, 30_000);

describe(`web UI under ${BASE}`, () => {
  test("add, pair with the PIN shown, start a streamer from an app's box art, open its viewer link", async () => {
    expect(serve.url).toEndWith(`${BASE}/`);
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const requests: string[] = [];
    context.on("request", (request) => requests.push(request.url()));
    context.on("page", (page) => page.on("websocket", (ws) => requests.push(ws.url())));
    const admin = await context.newPage();
    admin.on("pageerror", (error) => console.error(`[admin page] ${error.message}`));
    admin.on("console", (message) => message.type() === "error" && console.error(`[admin page] ${message.text()}`));
    admin.on("websocket", (ws) => requests.push(ws.url()));
    // The prefix without its slash redirects (relatively) to the UI.
    await admin.goto(serve.url.replace(/\/$/, ""), { waitUntil: "domcontentloaded" });
    expect(admin.url()).toBe(serve.url);

    await admin.fill("input[name=address]", `127.0.0.1:${simPort}`);
    await admin.click("form button[type=submit]");
    await admin.locator(".host .badge", { hasText: "not paired" }).waitFor({ timeout: 15_000 });
    expect(await admin.locator(".host strong").textContent()).toBe("mlstream-sim");
    await admin.click(".host button.pair");
    const pinBox = admin.locator(".pairing[data-pin]");
    await pinBox.waitFor({ timeout: 15_000 });
    const pin = (await pinBox.getAttribute("data-pin"))!;
    expect(pin).toMatch(/^\d{4}$/);
    expect(await admin.locator(".pin").textContent()).toBe(pin);
    // What the user does at the host: type the PIN the page shows.
    await until(() => sim.submitPin(pin), 10_000, "the host to wait for a PIN");
    await admin.locator(".pairing[data-result=paired]").waitFor({ timeout: 15_000 });

    await admin.locator(".host button", { hasText: "Apps" }).click({ timeout: 15_000 });
    await admin.locator(".app").first().waitFor({ timeout: 15_000 });
    expect(await admin.locator(".app span").allTextContents()).toEqual(["Desktop", "Test Pattern"]);
    await until(() => admin.evaluate(() => [...document.querySelectorAll<HTMLImageElement>(".app img")].every((img) => img.complete && img.naturalWidth > 0)), 10_000, "box art");

    await admin.locator(".app", { hasText: "Desktop" }).click();
    await admin.selectOption("select[name=resolution]", "1280x720");
    await admin.selectOption("select[name=fps]", "60");
    await admin.fill("input[name=bitrate]", "4000");
    await admin.fill("input[name=id]", "ui-test");
    writeFileSync(join(ARTIFACTS, "start-streamer.png"), await admin.screenshot());
    await admin.click("form.settings button[type=submit]");
    await until(() => admin.url().endsWith("#/streamers"), 15_000, "the streamers page");
    await admin.locator(".streamer[data-status=live]").waitFor({ timeout: 30_000 });
    const link = (await admin.locator(".viewer-link").getAttribute("href"))!;
    expect(link).toBe(`${serve.url}view/ui-test`);

    const viewer = await context.newPage();
    await viewer.setViewportSize({ width: 960, height: 540 });
    await viewer.goto(link, { waitUntil: "domcontentloaded" });
    await until(async () => (await framesDecoded(viewer)) > 30, 30_000, "the viewer to decode");
    await until(async () => ((await viewer.locator(".stats").textContent()) ?? "").includes("Mbps"), 5000, "the stats overlay");
    const png = await viewer.screenshot();
    writeFileSync(join(ARTIFACTS, "player-base-path.png"), png);
    expect((await pngLuma(viewer, png)).stddev).toBeGreaterThan(20);
    await admin.locator(".streamer .viewers", { hasText: "1 viewer" }).waitFor({ timeout: 10_000 });
    writeFileSync(join(ARTIFACTS, "streamers-page.png"), await admin.screenshot());

    // data: and blob: URLs (the thumbnails) are the page's own memory, not requests.
    const outside = requests.filter((url) => !url.startsWith("data:") && !url.startsWith("blob:") && !`${new URL(url).pathname}/`.startsWith(`${BASE}/`));
    expect(outside).toEqual([]);
    expect(requests.some((url) => url.startsWith("ws://") && url.includes(`${BASE}/api/streamers/ui-test/peer`))).toBe(true);
    await context.close();
  }, 60_000);
});
