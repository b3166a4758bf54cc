/**
 * /api/streamers: create (headless, accepts the orchestrators' flat body too), list, get, delete
 * (`?quit=1` also quits the app on the host), and the viewers of one streamer (list, kick).
 */
import { Elysia, t } from "elysia";
import { StoreUnavailableError } from "../../core/store.ts";
import type { HostService } from "../../hosts/host-service.ts";
import { CreateStreamerBody, normalizeStreamerRequest } from "../streamer-request.ts";
import type { StreamerSupervisor } from "../streamer-supervisor.ts";
import { hostHttpError, storeHttpError } from "./hosts.ts";

/**
 * Another sidecar's protocol on these same paths (Helix's multi mode, `--compat moonlight-web`):
 * the requests it claims get its answers (200, its shapes); every other request gets ours.
 */
export interface StreamersProtocol {
  claims(request: Request): boolean;
  create(body: CreateStreamerBody): Promise<unknown>;
  list(): unknown;
  get(id: string): unknown;
}

export function streamerRoutes(supervisor: StreamerSupervisor, hosts: HostService, defaults: { idleTimeoutS: number }, protocol?: StreamersProtocol) {
  return new Elysia({ prefix: "/api/streamers", detail: { tags: ["streamers"] } })
    .post(
      "",
      async ({ body, set, request: http }) => {
        if (protocol?.claims(http)) return protocol.create(body);
        const request = normalizeStreamerRequest(body, defaults);
        let host;
        let app;
        try {
          host = hosts.get(request.host);
          // Wolf's app list can lag right after an app is made: findApp retries "not found".
          app = await hosts.pairedClient(host, request.identityId).findApp(request.app);
        } catch (error) {
          throw hostHttpError(error);
        }
        let result;
        try {
          result = supervisor.create(request.id, {
            hostId: host.id,
            appId: app.id,
            appTitle: app.title,
            identityId: request.identityId,
            settings: request.settings,
            idleTimeoutS: request.idleTimeoutS,
          ...(request.egress ? { egress: request.egress } : {}),
          });
        } catch (error) {
          throw hostHttpError(error);
        }
        const { view, created } = result;
        set.status = created ? 201 : 200;
        return view;
      },
      { body: CreateStreamerBody, detail: { summary: "Create and start a streamer (headless)" } },
    )
    .get("", ({ request }) => (protocol?.claims(request) ? protocol.list() : supervisor.list()), { detail: { summary: "List streamers" } })
    .get("/:id", ({ params, request }) => (protocol?.claims(request) ? protocol.get(params.id) : supervisor.get(params.id)), { detail: { summary: "One streamer: status, stream, viewers, counters" } })
    .delete(
      "/:id",
      async ({ params, query, set }) => {
        try {
          await supervisor.remove(params.id, query.quit === "1" || query.quit === "true");
        } catch (error) {
          if (!(error instanceof StoreUnavailableError)) throw error;
          throw storeHttpError(error, `streamer '${params.id}' is stopped, but `);
        }
        set.status = 204;
      },
      { query: t.Object({ quit: t.Optional(t.String()) }), detail: { summary: "Stop a streamer (?quit=1 also quits the app on the host)" } },
    )
    .get("/:id/peers", ({ params }) => supervisor.peers(params.id), { detail: { summary: "Viewers of a streamer" } })
    .delete(
      "/:id/peers/:peer",
      ({ params, set }) => {
        supervisor.kick(params.id, params.peer);
        set.status = 204;
      },
      { detail: { summary: "Kick a viewer" } },
    );
}
