/**
 * Builds the single `dist/mlstream` binary (`bun scripts/build.ts [--outfile path]`).
 *
 * node-datachannel loads its native addon with a computed `require("@node-datachannel/<platform>")`
 * that the bundler cannot follow. The plugin below replaces that loader module with a static
 * import of this platform's `.node` file, which `bun build --compile` then embeds (and extracts to
 * $TMPDIR at run time). Source runs and tests keep the library's own loader.
 */
import type { BunPlugin } from "bun";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dir, "..");
const require = createRequire(import.meta.url);

function platformPackage(): string {
  const { platform, arch } = process;
  if (platform !== "linux" && platform !== "darwin") throw new Error(`unsupported build platform ${platform}`);
  if (platform === "darwin") return `@node-datachannel/darwin-${arch}`;
  // glibc unless the running libc is musl (Alpine); the bundled Bun runtime matches the host's.
  const musl = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })?.header?.glibcVersionRuntime === undefined;
  return `@node-datachannel/linux-${arch}-${musl ? "musl" : "gnu"}`;
}

export function nodeDataChannelAddonPath(): string {
  const pkg = platformPackage();
  const manifest = require.resolve(`${pkg}/package.json`, { paths: [resolve(root, "node_modules/node-datachannel")] });
  return resolve(dirname(manifest), "node_datachannel.node");
}

/** Replaces node-datachannel's dynamic addon loader with a static, embeddable import. */
export function embedNodeDataChannelAddon(addonPath: string): BunPlugin {
  return {
    name: "embed-node-datachannel-addon",
    setup(build) {
      build.onLoad({ filter: /node-datachannel[\\/]dist[\\/](esm|cjs)[\\/]lib[\\/]node-datachannel\.(mjs|cjs)$/ }, (args) => {
        const esm = args.path.endsWith(".mjs");
        const contents = esm
          ? `import addon from ${JSON.stringify(addonPath)};\nexport default addon;\n`
          : `module.exports = require(${JSON.stringify(addonPath)});\nmodule.exports.default = module.exports;\n`;
        return { contents, loader: "js" };
      });
    },
  };
}

export async function buildBinary(outfile: string): Promise<void> {
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await Bun.build({
    // The media receive thread's worker is its own entrypoint: a compiled binary only holds the
    // workers it is given (runtime notes), and `new Worker(new URL(…, import.meta.url))` finds it.
    entrypoints: [resolve(root, "src/cli/main.ts"), resolve(root, "src/moonlight/media-receive-worker.ts")],
    compile: {
      outfile,
      // A binary started in someone's project dir must not pick up their .env or bunfig.toml.
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    minify: { syntax: true, whitespace: true },
    sourcemap: "linked",
    plugins: [embedNodeDataChannelAddon(nodeDataChannelAddonPath())],
    throw: false,
  });
  if (!result.success) {
    for (const message of result.logs) console.error(message);
    throw new Error("build failed");
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outfile: { type: "string", default: resolve(root, "dist/mlstream") } } });
  const started = performance.now();
  await buildBinary(resolve(values.outfile!));
  const size = Bun.file(values.outfile!).size;
  console.error(`built ${values.outfile} (${(size / 1048576).toFixed(1)} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
