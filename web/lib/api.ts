/**
 * The REST API as the pages use it (routes in src/server/routes/*.ts). URLs are relative to the UI
 * root; the token goes in `Authorization` (and in `?access_token=` where a browser cannot set
 * headers: <img> and WebSocket).
 */

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HostJson {
  id: string;
  name: string;
  address: string;
  http_port: number;
  paired?: boolean;
  online?: boolean;
  state?: "free" | "busy" | "offline";
  current_app?: number | null;
  codecs?: string[];
  error?: string;
}

export interface AppJson {
  id: number;
  title: string;
  hdr: boolean;
}

export interface ViewerJson {
  id: string;
  role: "viewer" | "view-only";
  connected_at: string;
  state: string;
  stats?: { rtt_ms?: number };
}

export interface StreamerJson {
  id: string;
  status: "starting" | "live" | "reconnecting" | "stopped" | "failed";
  detail: string | null;
  host_id: string;
  app: { id: number; title: string };
  settings: { width: number; height: number; fps: number; bitrateKbps: number; codecs?: string[] };
  stream: { width: number; height: number; fps: number; codec: string } | null;
  viewers: ViewerJson[];
  restarts: number;
  created_at: string;
}

export interface CreateStreamer {
  id?: string;
  host: string;
  app: number;
  width: number;
  height: number;
  fps: number;
  bitrate_kbps: number;
  codec: "h264" | "hevc" | "av1";
}

/** One line of the pairing stream. */
export type PairEvent = { pin: string } | { paired: HostJson } | { error: string; message: string };

export class Api {
  constructor(
    readonly root: URL,
    public token: string,
  ) {}

  url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(path, this.root);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url;
  }

  /** For <img src>: browsers send no headers there. */
  urlWithToken(path: string): string {
    return this.url(path, this.token ? { access_token: this.token } : {}).href;
  }

  async #fetch(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(this.url(path), { method, headers, body: body === undefined ? null : JSON.stringify(body), signal: signal ?? null });
    if (!response.ok) {
      let code = `http_${response.status}`;
      let message = response.statusText;
      try {
        const parsed = (await response.json()) as { error?: string; message?: string };
        code = parsed.error ?? code;
        message = parsed.message ?? message;
      } catch {
        // Not our JSON error shape (e.g. a proxy's page): keep the status line.
      }
      throw new ApiError(response.status, code, message);
    }
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  hosts = () => this.json<HostJson[]>("GET", "api/hosts");
  addHost = (address: string) => this.json<HostJson>("POST", "api/hosts", { address });
  removeHost = (id: string) => this.json<void>("DELETE", `api/hosts/${encodeURIComponent(id)}`);
  apps = (hostId: string) => this.json<AppJson[]>("GET", `api/hosts/${encodeURIComponent(hostId)}/apps`);
  boxArtUrl = (hostId: string, appId: number) => this.urlWithToken(`api/hosts/${encodeURIComponent(hostId)}/apps/${appId}/boxart`);
  streamers = () => this.json<StreamerJson[]>("GET", "api/streamers");
  streamer = (id: string) => this.json<StreamerJson>("GET", `api/streamers/${encodeURIComponent(id)}`);
  createStreamer = (body: CreateStreamer) => this.json<StreamerJson>("POST", "api/streamers", body);
  stopStreamer = (id: string, quitApp = false) => this.json<void>("DELETE", `api/streamers/${encodeURIComponent(id)}${quitApp ? "?quit=1" : ""}`);
  /** The stream's latest picture (JPEG), fetched with the token in the header (not in a URL). */
  snapshot = async (id: string): Promise<Blob> => (await this.#fetch("GET", `api/streamers/${encodeURIComponent(id)}/snapshot`)).blob();
  kick = (id: string, peer: string) => this.json<void>("DELETE", `api/streamers/${encodeURIComponent(id)}/peers/${encodeURIComponent(peer)}`);

  /**
   * Pairs with a host: calls `onEvent` for each NDJSON line (`{pin}` first — the user types it on
   * the host — then `{paired}` or `{error}`). Aborting the signal cancels the pairing on the host.
   */
  async pair(hostId: string, onEvent: (event: PairEvent) => void, signal?: AbortSignal): Promise<void> {
    const response = await this.#fetch("POST", `api/hosts/${encodeURIComponent(hostId)}/pair`, {}, signal);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffered += value;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) onEvent(JSON.parse(line) as PairEvent);
      }
      if (done) break;
    }
  }
}
