/**
 * GET /openapi: the API reference, rendered in the browser by Swagger UI from `openapi.json`.
 * Swagger UI's bundle and stylesheet are embedded at build time (web/openapi-assets.ts, a macro),
 * so the page works offline and from the binary alone; nothing is fetched from another host.
 *
 * The page and its two assets hold no data and are open (route-access.ts); the spec itself is
 * admin-only, so the page fetches it with the token of the page URL's `?access_token=` or the one
 * the web UI remembered in this browser, and sends the same token with "Try it out".
 */
import { Elysia } from "elysia";
import { staticAsset } from "./web.ts";
import { bundleOpenApiUi } from "../../../web/openapi-assets.ts" with { type: "macro" };

const assets = bundleOpenApiUi();

/** Relative URLs: the page is `<base>/openapi`, its assets `<base>/openapi/…`, the spec `<base>/openapi.json`. */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlstream API</title>
<link rel="stylesheet" href="openapi/swagger-ui.css?v=${assets.hash}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="openapi/swagger-ui-bundle.js?v=${assets.hash}"></script>
<script>
(function () {
  var token = new URL(location.href).searchParams.get("access_token");
  if (token === null) { try { token = localStorage.getItem("mlstream.token"); } catch (e) { token = null; } }
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The public validator badge would call another host.
    validatorUrl: null,
    requestInterceptor: function (request) {
      if (token) request.headers.Authorization = "Bearer " + token;
      return request;
    }
  });
})();
</script>
</body>
</html>
`;

function asset(body: string, type: string, request: Request): Response {
  return staticAsset(body, type, request, assets.hash);
}

export function openApiUiRoutes() {
  return new Elysia({ detail: { hide: true } })
    .get("/openapi", ({ request }) => {
      // `<base>/openapi/` would resolve the page's relative links one level too deep.
      if (new URL(request.url).pathname.endsWith("/")) return new Response(null, { status: 308, headers: { location: "../openapi" } });
      return new Response(PAGE, {
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", "x-frame-options": "SAMEORIGIN", "referrer-policy": "no-referrer" },
      });
    })
    .get("/openapi/swagger-ui-bundle.js", ({ request }) => asset(assets.js, "text/javascript; charset=utf-8", request))
    .get("/openapi/swagger-ui.css", ({ request }) => asset(assets.css, "text/css; charset=utf-8", request));
}

/** Swagger UI's version, as embedded (for the docs and tests). */
export const SWAGGER_UI_VERSION = assets.swaggerUiVersion;
