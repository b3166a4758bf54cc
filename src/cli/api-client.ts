/**
 * A small typed client of mlstream's REST API, for the operator commands (`start`, `stop`, `ls`,
 * `peers`) and `join`. Every failure becomes one `ApiError` whose message is a single line a
 * person can act on: the server is unreachable, the token was refused, the thing does not exist.
 */
import type { ViewerInfo } from "../streamer/streamer.ts";
import type { StreamerView } from "../server/streamer-supervisor.ts";

export type { StreamerView, ViewerInfo };

export interface HostView {
  id: string;
  name: string;
  address: string;
  http_port: number;
  paired?: boolean;
  online?: boolean;
  state?: string;
}

export interface AppView {
  id: number;
  title: string;
}

/** The body of POST /api/streamers (our shape; see src/server/streamer-request.ts). */
export interface CreateStreamer {
  id?: string;
  host: string;
  app: string | number;
  width?: number;
  height?: number;
  fps?: number;
  bitrate_kbps?: number;
  codec?: "h264" | "hevc" | "av1";
  hdr?: boolean;
}

export type ApiErrorKind = "unreachable" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "invalid" | "server";

export class ApiError extends Error {
  override name = "ApiError";
  readonly kind: ApiErrorKind;
  /** HTTP status (0 when the server could not be reached). */
  readonly status: number;
  /** The server's error code (`streamer_not_found`, …) or the network error's. */
  readonly code: string;

  constructor(kind: ApiErrorKind, status: number, code: string, message: string) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

export interface ApiClientOptions {
  /** Base URL of the server, with its base path: `http://127.0.0.1:8080`, `https://x/mlstream`. */
  server: string;
  token?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

function kindOf(status: number): ApiErrorKind {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404 || status === 410) return "not_found";
  if (status === 409) return "conflict";
  if (status === 400 || status === 422) return "invalid";
  return "server";
}

export class ApiClient {
  /** The server's base URL without a trailing slash. */
  readonly server: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.#token = options.token || undefined;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The page a browser opens to watch a streamer (served by the web UI). */
  viewerUrl(streamerId: string): string {
    return `${this.server}/view/${encodeURIComponent(streamerId)}`;
  }

  /** The viewer WebSocket of a streamer (docs/signaling.md). The token goes in a header, not the URL. */
  peerSocketUrl(streamerId: string, options: { viewOnly?: boolean } = {}): string {
    const url = new URL(`${this.server}/api/streamers/${encodeURIComponent(streamerId)}/peer`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (options.viewOnly) url.searchParams.set("view_only", "1");
    return url.toString();
  }

  get authHeaders(): Record<string, string> {
    return this.#token ? { authorization: `Bearer ${this.#token}` } : {};
  }

  hosts(): Promise<HostView[]> {
    return this.request("GET", "/api/hosts");
  }

  apps(hostId: string): Promise<AppView[]> {
    return this.request("GET", `/api/hosts/${encodeURIComponent(hostId)}/apps`);
  }

  streamers(): Promise<StreamerView[]> {
    return this.request("GET", "/api/streamers");
  }

  streamer(id: string): Promise<StreamerView> {
    return this.request("GET", `/api/streamers/${encodeURIComponent(id)}`);
  }

  createStreamer(body: CreateStreamer): Promise<StreamerView> {
    return this.request("POST", "/api/streamers", body);
  }

  /** Stopping waits for the streamer's process to end (the server allows it 10 s): give it longer. */
  async stopStreamer(id: string, options: { quit?: boolean } = {}): Promise<void> {
    await this.request("DELETE", `/api/streamers/${encodeURIComponent(id)}${options.quit ? "?quit=1" : ""}`, undefined, { timeoutMs: Math.max(this.#timeoutMs, 30_000) });
  }

  peers(id: string): Promise<ViewerInfo[]> {
    return this.request("GET", `/api/streamers/${encodeURIComponent(id)}/peers`);
  }

  async kick(id: string, peer: string): Promise<void> {
    await this.request("DELETE", `/api/streamers/${encodeURIComponent(id)}/peers/${encodeURIComponent(peer)}`);
  }

  /** One request; resolves to the parsed JSON body (undefined for 204). */
  async request<T>(method: string, path: string, body?: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
    const url = `${this.server}${path}`;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { accept: "application/json", ...this.authHeaders, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "error",
      });
    } catch (error) {
      throw this.#networkError(error, timeoutMs);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const { error, message } = (parsed ?? {}) as { error?: string; message?: string };
      const kind = kindOf(response.status);
      const detail =
        kind === "unauthorized"
          ? `the server at ${this.server} refused ${this.#token ? "the token" : "a request without a token"} (401): set MLSTREAM_TOKEN or client.token`
          : kind === "forbidden"
            ? `the server at ${this.server} refused this token (403): ${message ?? "it may only join streams"}`
            : response.status === 404 && (error === undefined || error === "not_found")
              ? // No route, rather than no such streamer or host: most often a server under a base path.
                `the server at ${this.server} answered 404 for ${path} (no mlstream API there): if it runs under a base path, include it in --server, e.g. ${this.server}/mlstream`
              : (message ?? `${method} ${path}: HTTP ${response.status}`);
      throw new ApiError(kind, response.status, error ?? `http_${response.status}`, detail);
    }
    if (parsed === undefined && text) throw new ApiError("server", response.status, "bad_response", `${method} ${path}: the server answered something that is not JSON (is ${this.server} an mlstream server?)`);
    return parsed as T;
  }

  #networkError(error: unknown, timeoutMs: number): ApiError {
    const err = error as { name?: string; code?: string; message?: string };
    if (err?.name === "TimeoutError") return new ApiError("unreachable", 0, "timeout", `the server at ${this.server} did not answer within ${timeoutMs / 1000} s`);
    const code = err?.code ?? "";
    const why = code === "ConnectionRefused" || code === "ECONNREFUSED" ? "connection refused" : (err?.message ?? String(error));
    return new ApiError("unreachable", 0, code || "unreachable", `cannot reach the server at ${this.server} (${why}): is 'mlstream serve' running? (--server URL or MLSTREAM_CLIENT_SERVER)`);
  }
}

/** The token a client presents: the configured one, else MLSTREAM_TOKEN / the first admin token. */
export function clientToken(config: { client: { token: string }; auth: { admin_tokens: readonly string[] } }, env: Record<string, string | undefined> = process.env): string | undefined {
  return config.client.token || env.MLSTREAM_TOKEN?.trim() || config.auth.admin_tokens[0] || undefined;
}

/**
 * `join`'s target: a streamer id, or a viewer URL (`http://host:port[/base]/view/<id>[?access_token=…]`)
 * which also names the server (and maybe a token).
 */
export function parseJoinTarget(target: string): { streamerId: string; server?: string; token?: string } {
  if (!/^https?:\/\//i.test(target)) return { streamerId: target };
  const url = new URL(target);
  const match = /^(.*)\/(?:view|api\/streamers)\/([^/]+)(?:\/peer)?\/?$/.exec(url.pathname);
  if (!match) throw new TypeError(`'${target}' is not a viewer URL (expected …/view/<streamer-id>)`);
  const token = url.searchParams.get("access_token") ?? url.searchParams.get("token") ?? undefined;
  return { streamerId: decodeURIComponent(match[2]!), server: `${url.protocol}//${url.host}${match[1]}`, ...(token ? { token } : {}) };
}
