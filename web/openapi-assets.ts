/**
 * The API reference page's assets, run as a Bun macro by src/server/routes/openapi-ui.ts (like
 * web/build.ts): Swagger UI's prebuilt standalone bundle and stylesheet from the npm package
 * `swagger-ui-dist`, pinned in package.json, read when the server module is transpiled and inlined
 * as strings. The binary serves them itself: `/openapi` needs no network.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface OpenApiUiAssets {
  js: string;
  css: string;
  /** Swagger UI's version (shown on the page) and a content hash (cache busting). */
  swaggerUiVersion: string;
  hash: string;
}

export function bundleOpenApiUi(): OpenApiUiAssets {
  const dir = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
  const js = readFileSync(join(dir, "swagger-ui-bundle.js"), "utf8");
  // The stylesheet names its source map, which is not shipped: the browser is not sent after it.
  const css = readFileSync(join(dir, "swagger-ui.css"), "utf8").replace(/\/\*# sourceMappingURL=[^*]*\*\/\s*$/, "");
  const swaggerUiVersion = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  const hash = createHash("sha256").update(js).update(css).digest("hex").slice(0, 12);
  return { js, css, swaggerUiVersion, hash };
}
