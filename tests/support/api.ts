/**
 * Test support: JSON calls to a running `serve` (whose URL may change when a test restarts it),
 * and whether a process is still alive.
 */
export function apiOf(baseUrl: () => string) {
  const api = (path: string, init?: RequestInit) => fetch(`${baseUrl()}${path}`, init);
  const post = (path: string, body: unknown) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;
  return { api, post, json };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
