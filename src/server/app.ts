/**
 * The HTTP application behind `mlstream serve`: REST + WebSocket API, metrics, OpenAPI. Routes
 * live under the configured base path so that mlstream can sit behind a reverse proxy at a prefix.
 * Every 4xx/5xx body is `{ "error": code, "message": text }`.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import type { Registry } from "prom-client";
import type { Config } from "../core/config.ts";
import { logger } from "../core/log.ts";
import type { HostService } from "../hosts/host-service.ts";
import { Auth, type Role } from "./auth.ts";
import { errorBody, HttpError } from "./http-error.ts";
import { hostRoutes } from "./routes/hosts.ts";
import { peerSocketRoute } from "./routes/peer-socket.ts";
import { streamerRoutes } from "./routes/streamers.ts";
import { webRoutes } from "./routes/web.ts";
import type { StreamerSupervisor } from "./streamer-supervisor.ts";

const log = logger("http");

export interface AppServices {
  hosts: HostService;
  supervisor: StreamerSupervisor;
  metrics: Registry;
}

export interface AppOptions {
  config: Config;
  version: string;
  services?: AppServices;
}

/** Routes any token holder may use (viewers join streams); everything else needs an admin. */
const VIEWER_ROUTE = /^\/api\/streamers\/[^/]+\/peer$/;
const OPEN_ROUTES = new Set(["/healthz"]);

/** The web UI's page and assets hold no data (every API call they make carries the token). */
function isWebUiPath(path: string): boolean {
  return path === "/" || path === "" || path.startsWith("/view/") || path.startsWith("/assets/");
}

export function createApp({ config, version, services }: AppOptions) {
  const startedAt = Date.now();
  const auth = new Auth(config.auth);
  const base = config.server.base_path;

  const app = new Elysia({ prefix: base })
    .use(webRoutes()) // the web UI: static page and assets, no data; the API calls it makes carry the token
    .onError(({ code, error, set }) => {
      if (error instanceof HttpError) {
        set.status = error.status;
        return errorBody(error.code, error.message);
      }
      switch (code) {
        case "NOT_FOUND":
          set.status = 404;
          return errorBody("not_found", "no such route");
        case "VALIDATION": {
          set.status = 422;
          // The summary names the field and what was expected; Elysia's full body is for developers.
          const first = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all?.[0];
          const where = first?.path ? `${first.path.replace(/^\//, "").replace(/\//g, ".")}: ` : "";
          return errorBody("invalid_request", `${where}${first?.summary ?? first?.message ?? "invalid request"}`);
        }
        case "PARSE":
          set.status = 400;
          return errorBody("bad_body", "the request body could not be parsed");
        default:
          log.error(error);
          set.status = 500;
          return errorBody("internal", "internal server error");
      }
    })
    // Auth runs first, before the body is parsed or validated: an unauthenticated caller learns
    // nothing about what a route accepts.
    .onRequest(({ request }) => {
      const path = new URL(request.url).pathname.slice(base.length) || "/";
      if (OPEN_ROUTES.has(path) || isWebUiPath(path)) return;
      const role = auth.roleOf(request);
      if (role === undefined) {
        return Response.json(errorBody("unauthorized", "a valid token is required (Authorization: Bearer …, or ?access_token= for WebSockets)"), {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="mlstream"' },
        });
      }
      if (role !== "admin" && !VIEWER_ROUTE.test(path)) {
        return Response.json(errorBody("forbidden", "this token may only join streams"), { status: 403 });
      }
    })
    .derive(({ request }) => ({ role: auth.roleOf(request) as Role | undefined }))
    .get("/healthz", () => ({ ok: true, version, uptime_s: Math.round((Date.now() - startedAt) / 1000) }), { detail: { tags: ["system"] } })
    .get("/api/version", () => ({ name: "mlstream", version }), { detail: { tags: ["system"] } });

  if (!services) return app;
  return app
    .use(
      openapi({
        path: "/openapi",
        documentation: {
          info: { title: "mlstream API", version, description: "Hosts, pairing, apps and streamers; viewers join over WS /api/streamers/{id}/peer (docs/signaling.md)." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = services.metrics.contentType;
        return services.metrics.metrics();
      },
      { detail: { tags: ["system"] } },
    )
    .use(hostRoutes(services.hosts))
    .use(streamerRoutes(services.supervisor, services.hosts, { idleTimeoutS: config.streamer.idle_timeout_s }))
    .use(
      peerSocketRoute({
        supervisor: services.supervisor,
        iceServers: config.webrtc.ice_servers,
        iceServersCommand: config.webrtc.ice_servers_command,
        defaultTransport: config.viewers.transport,
      }),
    );
}

export type App = ReturnType<typeof createApp>;
