/**
 * The one place that decides whether a request reaches a route. Runs first, before any body is
 * read, on the path the router itself routes. In order:
 *
 *   1. request target: a Host the server understands (else 400) and a plain path — no `//`,
 *      no dot segments, no encoded `/`, `\` or `.` — that reads the same to us and to the router (else 400);
 *   2. Host allow-list (DNS rebinding): without tokens, or when `server.allowed_hosts` is set, only
 *      the listen address, loopback names, `server.public_url`'s host and `server.allowed_hosts` (else 421);
 *      without tokens, nothing that came through a proxy (else 403);
 *   3. token and role for the route (route-access.ts; else 401 / 403);
 *   4. Origin (CSRF, cross-site WebSockets): a browser request that changes state or joins a
 *      stream must come from this server's own origin or `server.allowed_origins` (else 403);
 *   5. body: only JSON (a form is never read as JSON; else 415), at most `server.max_body_kb` (else 413).
 *
 * Every refusal is `{ error, message }` JSON naming the setting that would allow it.
 */
import { isLoopbackHost, type Config } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";
import { tokenOf, type Auth, type Role } from "./auth.ts";
import { errorBody } from "./http-error.ts";
import { routedMethod, type Access, type RouteTable } from "./route-access.ts";

/** Methods that change state: a browser on another site can send them without asking (forms). */
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface GateOptions {
  auth: Auth;
  routes: RouteTable;
  server: Config["server"];
}

export type GateResult = { allowed: true; role: Role | undefined } | { allowed: false; response: Response };

function refuse(status: number, code: string, message: string, headers: Record<string, string> = {}): GateResult {
  return { allowed: false, response: Response.json(errorBody(code, message), { status, headers }) };
}

/** `host[:port]` → lower-case host name without brackets or port. */
export function hostNameOf(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end < 0 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
/** Headers proxies add to say whom they forward for. */
const PROXY_HEADERS = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip"];
const ANY_ADDRESS = new Set(["0.0.0.0", "::", ""]);

/** A path the router and a URL parser read the same way, with nothing a proxy might rewrite. */
function plainPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "the request path must start with /";
  if (path.includes("//")) return "empty path segments (//) are not allowed";
  if (/(^|\/)\.\.?(\/|$)/.test(path)) return "dot segments (. and ..) are not allowed";
  if (/%(2f|5c|2e|00)/i.test(path) || path.includes("\\")) return "encoded '/', '\\', '.' or NUL in the path are not allowed";
  return undefined;
}

export class RequestGate {
  readonly #options: GateOptions;
  readonly #allowedHosts: ReadonlySet<string>;
  /** Whether the Host header is checked at all: always without tokens, or when hosts are configured. */
  readonly #checkHost: boolean;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #maxBodyBytes: number;
  /** The role check() found for each request it let through, for the routes to read. */
  readonly #roles = new WeakMap<Request, Role>();

  constructor(options: GateOptions) {
    this.#options = options;
    const { server } = options;
    const hosts = new Set<string>(server.allowed_hosts.map((h) => hostNameOf(h)));
    const origins = new Set<string>(server.allowed_origins.map((o) => o.replace(/\/$/, "").toLowerCase()));
    if (server.public_url) {
      const url = new URL(server.public_url);
      hosts.add(hostNameOf(url.host));
      origins.add(url.origin.toLowerCase());
    }
    if (!options.auth.enabled) {
      // Without tokens every caller is an admin: a name the world can reach would hand it the desktop.
      const exposed = [...hosts].filter((h) => !isLoopbackHost(h));
      if (exposed.length > 0) {
        throw new ConfigError(
          `config: server.public_url / server.allowed_hosts name ${exposed.join(", ")}, but no admin token is set: anyone reaching that name would control the desktop (set MLSTREAM_TOKEN or auth.admin_tokens)`,
        );
      }
    }
    this.#checkHost = !options.auth.enabled || server.allowed_hosts.length > 0;
    // The listen address is an address, not a Host header: `::1` has no brackets and no port.
    const bind = server.host.replace(/^\[|\]$/g, "").toLowerCase();
    if (!ANY_ADDRESS.has(bind)) hosts.add(bind);
    for (const name of LOOPBACK_NAMES) hosts.add(name);
    this.#allowedHosts = hosts;
    this.#allowedOrigins = origins;
    this.#maxBodyBytes = server.max_body_kb * 1024;
  }

  get maxBodyBytes(): number {
    return this.#maxBodyBytes;
  }

  /**
   * Decides on a request. `routedPath` is the path as the router reads it (Elysia's `path`);
   * it is compared with the target Bun parsed so that no two readings can differ.
   */
  check(request: Request, routedPath: string): GateResult {
    const { auth, routes } = this.#options;
    const url = request.url;
    // Bun gives a full URL only when the Host header is present and well formed (a Request made
    // in-process, as `app.handle` gets in tests, has its host in the URL and no header).
    if (!/^https?:\/\//.test(url)) {
      return refuse(400, "bad_host", "the request needs a valid Host header (HTTP/1.1), e.g. Host: 127.0.0.1:8080");
    }
    const authorityStart = url.indexOf("//") + 2;
    const pathStart = url.indexOf("/", authorityStart);
    const host = request.headers.get("host") ?? url.slice(authorityStart, pathStart < 0 ? undefined : pathStart);
    if (host === "") return refuse(400, "bad_host", "the request needs a valid Host header (HTTP/1.1), e.g. Host: 127.0.0.1:8080");
    if (host.includes(",")) return refuse(400, "bad_host", "the request has more than one Host header");
    const query = url.indexOf("?", pathStart);
    const path = pathStart < 0 ? "/" : url.slice(pathStart, query < 0 ? undefined : query);
    const problem = plainPathProblem(path);
    if (problem) return refuse(400, "bad_path", problem);
    if (path !== routedPath) return refuse(400, "bad_path", "the request target is ambiguous");

    if (this.#checkHost && !this.#allowedHosts.has(hostNameOf(host))) {
      return refuse(
        421,
        "host_not_allowed",
        `this server does not answer to '${hostNameOf(host)}'; if that is its name, add it to server.allowed_hosts (MLSTREAM_SERVER_ALLOWED_HOSTS) or set server.public_url`,
      );
    }

    // Without tokens the server answers its own machine only. A request that came through a proxy
    // may come from anywhere (a proxy to 127.0.0.1 passes the Host check with its own address).
    if (!this.#options.auth.enabled && PROXY_HEADERS.some((name) => request.headers.has(name))) {
      return refuse(
        403,
        "proxied_without_token",
        "this request came through a proxy, and a server without tokens only answers its own machine; set an admin token (MLSTREAM_TOKEN or auth.admin_tokens) and viewer tokens",
      );
    }

    const method = routedMethod(request);
    const access: Access = routes.accessOf(method, routedPath);
    let role: Role | undefined;
    const inBandWithoutToken = access === "in-band" && tokenOf(request, false) === undefined;
    if (inBandWithoutToken) {
      // Credentials come in the first message (the handler checks them); only a client that is
      // no web page may come without a header: Helix's backend sends no Origin.
      if (request.headers.has("origin")) {
        return refuse(403, "origin_not_allowed", "this route takes credentials in its first message only from clients that are not web pages (no Origin); browsers must send a token");
      }
    } else if (access !== "open") {
      // A token in the query string only where a browser cannot send a header (WebSocket, <img>);
      // a request that changes state must carry it in Authorization, which no other site can forge.
      role = auth.roleOf(request, { allowQueryToken: method === "WS" || method === "GET" });
      if (role === undefined) {
        return refuse(401, "unauthorized", "a valid token is required (Authorization: Bearer …, or ?access_token= for WebSockets)", {
          "www-authenticate": 'Bearer realm="mlstream"',
        });
      }
      if ((access === "admin" || access === "in-band") && role !== "admin") return refuse(403, "forbidden", "this token may only join streams");
    }

    if (STATE_CHANGING.has(method) || method === "WS") {
      const origin = request.headers.get("origin");
      if (origin !== null && !this.#originAllowed(origin, host)) {
        return refuse(
          403,
          "origin_not_allowed",
          `requests from the web page at '${origin}' may not change anything or join streams here; if that site is yours, add it to server.allowed_origins (MLSTREAM_SERVER_ALLOWED_ORIGINS)`,
        );
      }
    }

    const length = request.headers.get("content-length");
    const hasBody = (length !== null && length !== "0") || request.headers.has("transfer-encoding");
    if (hasBody) {
      const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/json") {
        return refuse(415, "unsupported_media_type", `request bodies must be JSON (content-type: application/json), not '${type || "none"}'`);
      }
      if (length !== null && !(Number(length) <= this.#maxBodyBytes)) {
        return refuse(413, "body_too_large", `the request body is ${length} bytes; the limit is ${this.#maxBodyBytes} (server.max_body_kb)`);
      }
    }
    if (role !== undefined) this.#roles.set(request, role);
    return { allowed: true, role };
  }

  /** The role check() gave `request` (undefined on open routes and in-band ones without a token). */
  roleOf(request: Request): Role | undefined {
    return this.#roles.get(request);
  }

  /** The same origin as the Host the request was sent to, or a configured one. */
  #originAllowed(origin: string, host: string): boolean {
    const normalized = origin.toLowerCase();
    if (this.#allowedOrigins.has(normalized)) return true;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file:) and garbage
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return false;
    // A proxy that forwards `Host: $host` drops the port: then the names must agree; with a
    // port in Host, host and port must.
    const target = host.trim().toLowerCase();
    const targetHasPort = target.startsWith("[") ? target.includes("]:") : target.includes(":");
    if (!targetHasPort) return hostNameOf(parsed.host) === hostNameOf(target);
    const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
    return `${parsed.hostname}:${port}` === target;
  }
}
