/**
 * Spawns the mlstream CLI — from source (`bun src/cli/main.ts`) or a compiled binary — in a
 * throwaway data dir, with a clean environment (no MLSTREAM_* leaking in from the caller).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const SOURCE_ENTRY = join(REPO_ROOT, "src/cli/main.ts");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Run this compiled binary instead of the source. */
  binary?: string;
  timeoutMs?: number;
  stdin?: string;
}

export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("MLSTREAM_")) env[key] = value;
  }
  return { ...env, ...extra };
}

/** A temp dir that is removed by `cleanup()`; used as data dir and config home. */
export function tempDir(prefix = "mlstream-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export function cliCommand(args: string[], binary?: string): string[] {
  return binary ? [binary, ...args] : [process.execPath, SOURCE_ENTRY, ...args];
}

/**
 * The first line a process prints on the stream (e.g. `serve --json`'s URL), leaving the rest
 * unread. If the stream ends first: throws `ended()`'s message when given, else returns what came.
 */
export async function firstLine(stream: ReadableStream<Uint8Array>, ended?: () => string): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      if (ended) throw new Error(ended());
      break;
    }
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.split("\n")[0]!;
}

export async function runCli(args: string[], options: CliRunOptions = {}): Promise<CliResult> {
  const proc = Bun.spawn(cliCommand(args, options.binary), {
    cwd: options.cwd ?? REPO_ROOT,
    env: cleanEnv(options.env),
    stdin: options.stdin !== undefined ? new TextEncoder().encode(options.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs ?? 30_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
