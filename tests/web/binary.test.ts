/**
 * The UI from the compiled binary, copied alone into an empty directory: the bundle is embedded
 * (web/build.ts runs as a macro at compile time), so the page, its assets and the player work
 * with no file beside the binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { buildBinary } from "../../scripts/build.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";
import { framesDecoded, launchChromium, setUpStreamer, startServe, until, type Serve } from "./support.ts";

const dir = tempDir("mlstream-web-bin-");
const empty = join(dir.path, "empty");
const binary = join(dir.path, "bin", "mlstream");
let sim: SimHost;
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  await buildBinary(binary);
  mkdirSync(empty);
  sim = new SimHost({ pin: "1122" });
  const { httpPort } = await sim.start();
  serve = await startServe({ binary, cwd: empty, args: ["--base-path", "/ml"] });
  await setUpStreamer(serve.url, httpPort, "1122", "bin");
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
  dir.cleanup();
}, 30_000);

describe("web UI from the compiled binary", () => {
  test("serves the admin page and a player that decodes, from an empty directory", async () => {
    const page = await browser.newPage();
    await page.goto(serve.url, { waitUntil: "domcontentloaded" });
    await page.locator(".host strong", { hasText: "mlstream-sim" }).waitFor({ timeout: 15_000 });
    await page.goto(`${serve.url}view/bin`, { waitUntil: "domcontentloaded" });
    await until(async () => (await framesDecoded(page)) > 30, 30_000, "the player to decode");
    expect(readdirSync(empty)).toEqual([]);
    await page.close();
  }, 60_000);
});
