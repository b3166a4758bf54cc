/**
 * Bundles the web UI into strings, run as a Bun macro by src/server/routes/web.ts
 * (`import … with { type: "macro" }`): the bundle is computed when the server module is
 * transpiled — at `bun build --compile` for the binary, at start-up for source runs — and inlined as
 * string literals, so the binary carries the UI and needs no files at run time.
 *
 * Why not an HTML import (`import page from "web/index.html"`): Elysia passes an HTMLBundle to
 * Bun only for routes without hooks (ours have auth hooks: it answers `{}`), and Bun links the
 * bundle's chunks at absolute `/chunk-….js` paths, which miss a reverse proxy's path prefix.
 *
 * Bun.build cannot run inside a macro (the bundler waits for the macro), hence the CLI.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface WebAssets {
  /** index.html with `%ROOT%` where the relative path to the UI's root goes. */
  html: string;
  js: string;
  /** Source map of `js` (fetched by the browser's devtools only). */
  map: string;
  css: string;
  /** Short content hash of js + css, for cache busting. */
  version: string;
}

export function bundleWebAssets(): WebAssets {
  const dir = import.meta.dir;
  const out = mkdtempSync(join(tmpdir(), "mlstream-web-"));
  let js: string;
  let map: string;
  try {
    const run = Bun.spawnSync(
      [process.execPath, "build", join(dir, "main.ts"), "--target=browser", "--format=esm", "--minify", "--sourcemap=linked", "--entry-naming=app.[ext]", `--outdir=${out}`],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, NODE_ENV: "production" } },
    );
    if (run.exitCode !== 0) throw new Error(`web UI bundle failed:\n${run.stderr.toString()}${run.stdout.toString()}`);
    js = readFileSync(join(out, "app.js"), "utf8");
    map = readFileSync(join(out, "app.js.map"), "utf8");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const css = readFileSync(join(dir, "style.css"), "utf8");
  const html = readFileSync(join(dir, "index.html"), "utf8");
  const version = createHash("sha256").update(js).update(css).digest("hex").slice(0, 12);
  return { html, js, map, css, version };
}
