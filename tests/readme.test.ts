/**
 * The README runs as written. Its shell blocks carry an info string saying what they are:
 *   ```sh runnable   — run here, command by command, after `npm ci`, against the demo
 *                      (`serve --demo`, what `npm start` runs) on a free port, reached the way the
 *                      README says (MLSTREAM_CLIENT_SERVER); each must exit 0
 *   ```sh needs-host — needs a real gaming PC: each command's subcommand must exist (`--help`)
 *   ```sh            — set-up and long runs (npm ci, npm start, npm test, benchmarks, CI)
 * The commands run with a PATH that has no `bun` on it, as on a fresh machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { cleanEnv, firstLine, REPO_ROOT, tempDir } from "./support/cli.ts";

interface Block {
  info: string;
  commands: string[];
}

/** Fenced blocks whose info string starts with `sh`; each command is a line, comments removed. */
export function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^```(sh[^\n]*)\n([\s\S]*?)^```$/gm;
  for (const match of markdown.matchAll(fence)) {
    const commands = match[2]!
      .split("\n")
      .map((line) => line.replace(/\s+#.*$/, "").trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    blocks.push({ info: match[1]!.trim(), commands });
  }
  return blocks;
}

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const blocks = shellBlocks(readme);
const runnable = blocks.filter((b) => b.info === "sh runnable").flatMap((b) => b.commands);
const needsHost = blocks.filter((b) => b.info === "sh needs-host").flatMap((b) => b.commands);

/** PATH without any directory that holds a `bun`: a fresh machine after `npm ci`. */
function pathWithoutBun(): string {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "" && !existsSync(join(dir, "bun")))
    .join(delimiter);
}

const home = tempDir("mlstream-readme-");
const env = () => cleanEnv({ PATH: pathWithoutBun(), XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data"), MLSTREAM_CLIENT_SERVER: server });
let demo: ReturnType<typeof Bun.spawn> | undefined;
let server = "";
// `npm run build` writes dist/mlstream: a build the user had is put back afterwards.
const dist = join(REPO_ROOT, "dist");
const distBackup = join(home.path, "dist-before");
const hadDist = existsSync(dist);

beforeAll(async () => {
  if (hadDist) renameSync(dist, distBackup);
  // What `npm start` runs, on a free port (8080 may be taken on a test machine).
  const proc = Bun.spawn(["bin/mlstream", "serve", "--demo", "--port", "0", "--json"], { cwd: REPO_ROOT, env: cleanEnv({ PATH: pathWithoutBun(), XDG_CONFIG_HOME: join(home.path, "config") }), stdout: "pipe", stderr: "ignore" });
  demo = proc;
  server = JSON.parse(await firstLine(proc.stdout)).url.replace(/\/$/, "");
}, 60_000);

afterAll(async () => {
  demo?.kill("SIGTERM");
  await demo?.exited;
  rmSync(dist, { recursive: true, force: true });
  if (hadDist) renameSync(distBackup, dist);
  home.cleanup();
});

async function sh(command: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(["bash", "-c", command], { cwd: REPO_ROOT, env: env(), stdout: "pipe", stderr: "pipe", stdin: "ignore", timeout: 90_000 });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${out}${err}` };
}

describe("README", () => {
  test("every shell block says what it is, and none needs bun or mlstream on PATH", () => {
    for (const block of blocks) expect(["sh", "sh runnable", "sh needs-host"]).toContain(block.info);
    for (const command of blocks.flatMap((b) => b.commands)) expect(command).not.toMatch(/(^|&&\s*|\|\s*)(bun|mlstream)\s/);
    expect(runnable.length).toBeGreaterThanOrEqual(8);
    expect(needsHost.length).toBeGreaterThanOrEqual(6);
  });

  test("the runnable commands run as written against the demo", async () => {
    let ran = 0;
    for (const command of runnable) {
      const started = performance.now();
      const { code, output } = await sh(command);
      if (code !== 0) throw new Error(`README command failed (exit ${code}): ${command}\n${output}`);
      ran++;
      console.log(`  ok ${(performance.now() - started).toFixed(0).padStart(5)} ms  ${command}`);
    }
    console.log(`README: ${ran} runnable commands ran against the demo at ${server}`);
    expect(ran).toBe(runnable.length);
  }, 300_000);

  test("the commands that need a real host exist", async () => {
    for (const command of needsHost) {
      const words = command.split(/\s+/);
      expect(words.slice(0, 2)).toEqual(["npx", "mlstream"]);
      const { code, output } = await sh(`npx mlstream ${words[2]} --help`);
      expect({ command, code }).toEqual({ command, code: 0 });
      expect(output).toContain(`mlstream ${words[2]}`);
    }
  }, 120_000);
});
