/**
 * Who may use which route, decided on the route the router dispatches a request to — never on a
 * reading of the URL of our own (the audit's bypass: `/view/…` was open by prefix while the router,
 * cutting the URL elsewhere, served `/api/hosts`).
 *
 * Deny by default: a route not listed here needs an admin token; the open routes and the ones
 * viewers may use are listed by name. A path no route matches needs an admin too, so unknown URLs
 * tell an anonymous caller nothing.
 */

/** `in-band`: the route authenticates in its first message (Helix's kickoff sends no header; docs/helix.md §0). */
export type Access = "open" | "viewer" | "admin" | "in-band";

/** `METHOD template` of the routes anyone may use: the web UI's and API reference's pages and assets (no data) and the health check. */
const OPEN_ROUTES: ReadonlySet<string> = new Set([
  "GET /healthz",
  "GET /",
  "GET /view/:id",
  "GET /assets/app.js",
  "GET /assets/app.js.map",
  "GET /assets/style.css",
  // The API reference page and its Swagger UI assets (no data: the spec it shows is admin-only).
  "GET /openapi",
  "GET /openapi/swagger-ui-bundle.js",
  "GET /openapi/swagger-ui.css",
]);

/** Routes any valid token may use (viewers join streams); the role decides what they may do there. */
const VIEWER_ROUTES: ReadonlySet<string> = new Set(["WS /api/streamers/:id/peer"]);

/**
 * WebSocket routes whose first message carries the credentials (checked there, in constant time,
 * within a deadline). Only registered with `--compat moonlight-web`.
 */
const IN_BAND_ROUTES: ReadonlySet<string> = new Set(["WS /api/host/stream"]);

export interface RouteEntry {
  /** GET, POST, …, or WS for a WebSocket route. */
  method: string;
  /** The route as registered, without the base path, e.g. `/api/hosts/:id`. */
  template: string;
  access: Access;
}

interface CompiledRoute extends RouteEntry {
  /** Literal segments, or undefined where a `:param` takes any one non-empty segment. */
  segments: (string | undefined)[];
  dynamic: boolean;
}

/**
 * The router's method for a request: a GET asking to upgrade is a WebSocket route (Elysia looks
 * for exactly `upgrade: websocket`), HEAD is served by the GET route.
 */
export function routedMethod(request: Request): string {
  const method = request.method;
  if (method === "GET" && request.headers.get("upgrade") === "websocket") return "WS";
  return method === "HEAD" ? "GET" : method;
}

export class RouteTable {
  readonly #routes: CompiledRoute[];

  /** `routes` is the application's own route table (`app.routes`); `base` its path prefix. */
  constructor(routes: readonly { method: string; path: string }[], base: string) {
    const compiled: CompiledRoute[] = [];
    for (const route of routes) {
      const template = stripBase(route.path, base) ?? route.path;
      const key = `${route.method} ${template}`;
      const access: Access = OPEN_ROUTES.has(key) ? "open" : VIEWER_ROUTES.has(key) ? "viewer" : IN_BAND_ROUTES.has(key) ? "in-band" : "admin";
      const segments = split(route.path).map((s) => (s.startsWith(":") ? undefined : s));
      compiled.push({ method: route.method, template, access, segments, dynamic: segments.includes(undefined) });
    }
    // The router tries literal routes before ones with parameters.
    this.#routes = [...compiled.filter((r) => !r.dynamic), ...compiled.filter((r) => r.dynamic)];
  }

  get entries(): readonly RouteEntry[] {
    return this.#routes.map(({ method, template, access }) => ({ method, template, access }));
  }

  /** The route that serves `method path` (path as the router sees it, query cut), if any. */
  match(method: string, path: string): RouteEntry | undefined {
    const segments = split(path);
    for (const route of this.#routes) {
      if (route.method !== method || route.segments.length !== segments.length) continue;
      if (route.segments.every((literal, i) => (literal === undefined ? segments[i]!.length > 0 : literal === segments[i]))) return route;
    }
    return undefined;
  }

  /** What `method path` needs: the matched route's access, admin when nothing matches. */
  accessOf(method: string, path: string): Access {
    return this.match(method, path)?.access ?? "admin";
  }
}

/** Segments of a path; one trailing slash is not a segment (the router is not strict about it). */
function split(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed === "" || trimmed === "/" ? [] : trimmed.slice(1).split("/");
}

function stripBase(path: string, base: string): string | undefined {
  if (base === "") return path;
  if (path === base) return "/";
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}
