/**
 * /openapi works offline: the page and Swagger UI's assets come from mlstream itself (embedded at
 * build time), so in Chromium with every request to a host other than 127.0.0.1 aborted, the page
 * still renders the API's routes. The spec is served at /openapi.json and /openapi/json, to admins only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { launchChromium, startServe, until, type Serve } from "./support.ts";

const ADMIN = "openapi-admin-token-0123456789";
const VIEWER = "openapi-viewer-token-0123456789";
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  serve = await startServe({ env: { MLSTREAM_AUTH_ADMIN_TOKENS: ADMIN, MLSTREAM_AUTH_VIEWER_TOKENS: VIEWER } });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
}, 30_000);

describe("/openapi offline", () => {
  test("renders the API's routes in Chromium with no network beyond 127.0.0.1", async () => {
    const context = await browser.newContext();
    const blocked: string[] = [];
    const served: string[] = [];
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === "127.0.0.1") {
        served.push(url.pathname);
        return route.continue();
      }
      blocked.push(url.href);
      return route.abort("internetdisconnected");
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(new URL(`openapi?access_token=${ADMIN}`, serve.url).href, { waitUntil: "domcontentloaded" });
    const paths = page.locator(".opblock-summary-path");
    await until(async () => (await paths.count()) > 10, 20_000, "Swagger UI to list the routes");
    const shown = await paths.allTextContents();
    const normalized = shown.map((text) => text.replace(/\u200b/g, "").trim());
    expect(normalized).toEqual(expect.arrayContaining(["/api/streamers", "/api/hosts/{id}/pair", "/api/streamers/{id}"]));
    expect(await page.locator(".info .title").textContent()).toContain("mlstream API");
    expect(served).toEqual(expect.arrayContaining(["/openapi", "/openapi/swagger-ui-bundle.js", "/openapi/swagger-ui.css", "/openapi.json"]));
    expect(blocked).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  test("/openapi.json and /openapi/json are the same document, for admins only; the page and its assets are open", async () => {
    const get = (path: string, token?: string) => fetch(new URL(path, serve.url), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const a = await (await get("openapi.json", ADMIN)).json();
    const b = await (await get("openapi/json", ADMIN)).json();
    expect(a).toEqual(b);
    expect(Object.keys((a as { paths: object }).paths)).toContain("/api/streamers");
    for (const path of ["openapi.json", "openapi/json"]) {
      expect((await get(path)).status).toBe(401);
      expect((await get(path, VIEWER)).status).toBe(403);
    }
    for (const path of ["openapi", "openapi/swagger-ui-bundle.js", "openapi/swagger-ui.css"]) {
      const response = await get(path);
      expect(response.status).toBe(200);
      expect((await response.text()).length).toBeGreaterThan(path === "openapi" ? 500 : 50_000);
    }
    // The page names no other host: every URL in it is relative.
    const html = await (await get("openapi")).text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  }, 30_000);
});
