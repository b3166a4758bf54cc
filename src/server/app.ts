/**
 * The HTTP application behind `mlstream serve`: REST + WebSocket API, metrics, OpenAPI. Routes
 * live under the configured base path so that mlstream can sit behind a reverse proxy at a prefix.
 * Every 4xx/5xx body is `{ "error": code, "message": text }`.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import type { Registry } from "prom-client";
import { moonlightWebCompat } from "../compat/moonlight-web/moonlight-web-compat.ts";
import type { HelixSettings } from "../compat/moonlight-web/helix-config.ts";
import type { Config } from "../core/config.ts";
import type { Store } from "../core/store.ts";
import { logger } from "../core/log.ts";
import type { HostService } from "../hosts/host-service.ts";
import { Auth } from "./auth.ts";
import { errorBody, HttpError } from "./http-error.ts";
import { readJsonBody } from "./json-body.ts";
import { RequestGate } from "./request-gate.ts";
import { RouteTable } from "./route-access.ts";
import { hostRoutes } from "./routes/hosts.ts";
import { openApiUiRoutes } from "./routes/openapi-ui.ts";
import { peerSocketRoute } from "./routes/peer-socket.ts";
import { snapshotRoutes } from "./routes/snapshot.ts";
import { StreamSnapshots } from "./stream-snapshots.ts";
import { streamerRoutes } from "./routes/streamers.ts";
import { webRoutes } from "./routes/web.ts";
import type { StreamerSupervisor } from "./streamer-supervisor.ts";

const log = logger("http");

/** Largest WebSocket message a viewer may send (signaling JSON, input packets). */
const MAX_WS_MESSAGE_BYTES = 64 * 1024;

export interface AppServices {
  hosts: HostService;
  supervisor: StreamerSupervisor;
  metrics: Registry;
}

export interface AppOptions {
  config: Config;
  version: string;
  services?: AppServices;
  /** `serve --compat moonlight-web`: Helix's sidecar protocol beside ours (docs/helix.md). */
  compat?: { store: Store; helix: HelixSettings };
}

export function createApp({ config, version, services, compat }: AppOptions) {
  const startedAt = Date.now();
  const auth = new Auth(config.auth);
  const base = config.server.base_path;
  // Filled once every route is registered (below): the gate decides on the route table itself.
  let gate: RequestGate | undefined;

  const app = new Elysia({
    prefix: base,
    // One router, one reading of the path: Bun's own router (systemRouter) and Elysia's cut the
    // URL differently, and the standard-hostname shortcut cuts it at a fixed offset that a short
    // Host header moves (the audit's bypass). The gate compares its reading with the router's.
    systemRouter: false,
    nativeStaticResponse: false,
    // Elysia's default "normalize" rewrites a body to fit its schema before validating it: a
    // string where an object belongs becomes {}, unknown keys vanish. A wrong body must be refused.
    normalize: false,
    // Without the shortcut Elysia cuts after "http://" (7): under TLS the URL is "https://…", so
    // there it must cut at 11; a Host under 3 characters then reads differently and the gate
    // refuses it (400), as it refuses every reading that differs.
    handler: { standardHostname: config.server.tls_cert !== "" },
    // Bun's own limit would answer a bare 413 before our gate could say why: the gate refuses a
    // declared length over server.max_body_kb unread, and readJsonBody a chunked body that grows
    // past it, so Bun's is only a far backstop.
    serve: { maxRequestBodySize: 1 << 30, reusePort: false },
    // A signaling message is a few KiB at most (an SDP); nothing bigger is read.
    websocket: { maxPayloadLength: MAX_WS_MESSAGE_BYTES },
  })
    .use(webRoutes()) // the web UI: static page and assets, no data; the API calls it makes carry the token
    .onError(({ code, error, set }) => {
      // Elysia wraps what a parser throws (our size and depth refusals) in its ParseError.
      if (code === "PARSE" && (error as Error).cause instanceof HttpError) error = (error as Error).cause as HttpError;
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
    // The gate runs first, before any body is read or validated: an unauthenticated caller
    // learns nothing about what a route accepts.
    .onRequest((context) => {
      // `path` is the router's own reading of the URL (Elysia sets it; its types do not say so).
      const { request, path } = context as unknown as { request: Request; path: string | undefined };
      const result = gate!.check(request, path ?? "");
      if (!result.allowed) return result.response;
    })
    // JSON bodies only (the gate refused other types), bounded in size and depth before parsing.
    .onParse(({ request }) => readJsonBody(request, gate!.maxBodyBytes))
    // The role the gate decided on: not a second reading of the token.
    .derive(({ request }) => ({ role: gate!.roleOf(request) }))
    .get("/healthz", () => ({ ok: true, version, uptime_s: Math.round((Date.now() - startedAt) / 1000) }), { detail: { tags: ["system"] } })
    .get("/api/version", () => ({ name: "mlstream", version }), { detail: { tags: ["system"] } });

  if (!services) {
    gate = new RequestGate({ auth, server: config.server, routes: new RouteTable(app.routes, base) });
    return app;
  }
  const helix = compat
    ? moonlightWebCompat({ auth, store: compat.store, hosts: services.hosts, supervisor: services.supervisor, helix: compat.helix, idleTimeoutS: config.streamer.idle_timeout_s })
    : undefined;
  const full = app
    .use(
      openapi({
        // The spec at /openapi/json (and /openapi.json below); the page is ours, with its assets
        // embedded (routes/openapi-ui.ts): the plugin's own page loads its script from a CDN.
        path: "/openapi",
        provider: null,
        documentation: {
          info: { title: "mlstream API", version, description: "Hosts, pairing, apps and streamers; viewers join over WS /api/streamers/{id}/peer (docs/signaling.md)." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .use(openApiUiRoutes())
    // The spec at the name tools look for first; the same document as /openapi/json.
    .get("/openapi.json", () => specHandler(), { detail: { hide: true } })
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = services.metrics.contentType;
        return services.metrics.metrics();
      },
      { detail: { tags: ["system"] } },
    )
    .use(hostRoutes(services.hosts))
    .use(streamerRoutes(services.supervisor, services.hosts, { idleTimeoutS: config.streamer.idle_timeout_s }, helix?.streamers))
    .use(snapshotRoutes(new StreamSnapshots(services.supervisor)))
    .use(
      peerSocketRoute({
        supervisor: services.supervisor,
        iceServers: config.webrtc.ice_servers,
        iceServersCommand: config.webrtc.ice_servers_command,
        iceTransportPolicy: config.webrtc.ice_transport_policy,
        defaultTransport: config.viewers.transport,
        ...(helix ? { protocol: helix.peerSocket } : {}),
      }),
    )
    .use(helix ? helix.routes : new Elysia());
  const spec = full.routes.find((route) => route.method === "GET" && route.path === `${base}/openapi/json`);
  const specHandler = spec!.handler as () => unknown;
  gate = new RequestGate({ auth, server: config.server, routes: new RouteTable(full.routes, base) });
  return full;
}

export type App = ReturnType<typeof createApp>;
