/** `mlstream serve` from source in a throwaway home, and JSON over its REST API. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { firstLine } from "../../../tests/support/cli.ts";

export const REPO_ROOT = resolve(import.meta.dir, "../../..");

export interface Serve {
  url: string;
  stop(): Promise<void>;
}

export async function startServe(env: Record<string, string> = {}): Promise<Serve> {
  const home = mkdtempSync(join(tmpdir(), "mlstream-bench-"));
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith("MLSTREAM_")) clean[key] = value;
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, "src/cli/main.ts"), "serve", "--port", "0", "--json"], {
    cwd: REPO_ROOT,
    env: { ...clean, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data"), MLSTREAM_LOG_LEVEL: "warn", ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  const { url } = JSON.parse(await firstLine(proc.stdout as ReadableStream<Uint8Array>, () => "serve exited before listening")) as { url: string };
  return {
    url,
    async stop() {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(8000).then(() => undefined)]);
      if (exited === undefined) proc.kill("SIGKILL");
      await proc.exited;
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export async function api<T>(root: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, root), {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function until(what: () => boolean | Promise<boolean>, ms: number, label: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    await Bun.sleep(50);
  }
}
