/**
 * The web UI: the admin pages at `<base>/` and the player at `<base>/view/<streamer-id>`, both the
 * same page (web/main.ts picks by path), plus its two assets. The bundle is made at build time
 * (web/build.ts, a macro) and embedded as strings, so the compiled binary needs no files.
 *
 * Every URL the page uses is relative to its own location (assets here, the API in the page), so
 * the UI works unchanged under `server.base_path` behind a reverse proxy. The page and its assets
 * hold no data and are meant to be open (a viewer link opened with a viewer token must load);
 * every API call the page makes carries the token.
 */
import { Elysia } from "elysia";
import { bundleWebAssets } from "../../../web/build.ts" with { type: "macro" };

const assets = bundleWebAssets();

/** The page, with asset links relative to a page `depth` path segments below the UI root. */
function page(depth: number): Response {
  const root = depth === 0 ? "./" : "../".repeat(depth);
  const html = assets.html.replaceAll("%ROOT%", root).replaceAll("%VERSION%", assets.version);
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      // Input goes to a real desktop: no other site may frame the player and steer clicks into it.
      "x-frame-options": "SAMEORIGIN",
      "referrer-policy": "no-referrer",
    },
  });
}

function asset(body: string, type: string, request: Request): Response {
  return staticAsset(body, type, request, assets.version);
}

/** An embedded asset, revalidated by its content `version` (ETag). */
export function staticAsset(body: string, type: string, request: Request, version: string): Response {
  const etag = `"${version}"`;
  const headers = { "content-type": type, etag, "cache-control": "no-cache" };
  if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
  return new Response(body, { headers });
}

export function webRoutes() {
  return new Elysia({ detail: { hide: true } })
    .get("/", ({ request }) => {
      // `<base>` without its slash would resolve the page's relative links one level too high.
      const path = new URL(request.url).pathname;
      if (!path.endsWith("/")) return new Response(null, { status: 308, headers: { location: `${path.slice(path.lastIndexOf("/") + 1)}/` } });
      return page(0);
    })
    .get("/view/:id", () => page(1))
    .get("/assets/app.js", ({ request }) => asset(assets.js, "text/javascript; charset=utf-8", request))
    .get("/assets/app.js.map", ({ request }) => asset(assets.map, "application/json", request))
    .get("/assets/style.css", ({ request }) => asset(assets.css, "text/css; charset=utf-8", request));
}
