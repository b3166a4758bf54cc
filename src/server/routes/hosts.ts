/**
 * /api/hosts: add, list, get, delete and refresh hosts; pair (streamed as newline-delimited JSON:
 * first `{ "pin" }`, then `{ "paired": host }` or `{ "error" }`); apps and box art (with ETag).
 */
import { createHash } from "node:crypto";
import { Elysia, t } from "elysia";
import { SHARED_IDENTITY_ID, type HostRecord } from "../../core/store.ts";
import { HostNotFoundError, HostNotPairedError, type HostService, type HostStatus } from "../../hosts/host-service.ts";
import {
  AppNotFoundError,
  CertificateMismatchError,
  HostHttpError,
  HostUnreachableError,
  InvalidHostAddressError,
  MalformedResponseError,
  NotPairedError,
  PairingCancelledError,
  PairingFailedError,
  PairingInProgressError,
  RequestTimeoutError,
  WrongPinError,
} from "../../moonlight/errors.ts";
import { StoreError, StoreUnavailableError } from "../../core/store.ts";
import { HttpError } from "../http-error.ts";

/**
 * The store could not be used: 507 when the disk is full, 503 when it is busy, read-only or failing
 * (worth retrying once the operator has fixed it). `context` says what had already happened.
 */
export function storeHttpError(error: StoreUnavailableError, context = ""): HttpError {
  if (error.failure === "full") return new HttpError(507, "store_full", `${context}${error.message}; free disk space and retry`);
  const advice = error.failure === "busy" ? "retry in a moment" : "retry once the data dir is writable again";
  return new HttpError(503, "store_unavailable", `${context}${error.message}; ${advice}`);
}

/** Maps errors of the host layer to HTTP answers a client can act on. */
export function hostHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof StoreUnavailableError) return storeHttpError(error);
  const message = (error as Error)?.message ?? String(error);
  if (error instanceof HostNotFoundError) return new HttpError(404, "host_not_found", message);
  if (error instanceof HostNotPairedError || error instanceof NotPairedError) return new HttpError(409, "host_not_paired", message);
  if (error instanceof InvalidHostAddressError) return new HttpError(422, "invalid_address", message);
  if (error instanceof StoreError) return new HttpError(409, "conflict", message);
  if (error instanceof AppNotFoundError) return new HttpError(404, "app_not_found", message);
  if (error instanceof WrongPinError) return new HttpError(409, "wrong_pin", message);
  if (error instanceof PairingInProgressError) return new HttpError(409, "pairing_in_progress", message);
  if (error instanceof PairingCancelledError) return new HttpError(409, "pairing_cancelled", message);
  if (error instanceof PairingFailedError) return new HttpError(409, "pairing_failed", message);
  if (error instanceof CertificateMismatchError) return new HttpError(502, "certificate_mismatch", message);
  if (error instanceof HostUnreachableError || error instanceof RequestTimeoutError) return new HttpError(502, "host_unreachable", message);
  if (error instanceof HostHttpError || error instanceof MalformedResponseError) return new HttpError(502, "host_error", message);
  return new HttpError(500, "internal", message);
}

function hostJson(host: HostRecord, status?: HostStatus) {
  return {
    id: host.id,
    name: host.name,
    address: host.address,
    http_port: host.httpPort,
    uuid: host.uuid,
    added_at: new Date(host.addedAt).toISOString(),
    last_seen_at: host.lastSeenAt ? new Date(host.lastSeenAt).toISOString() : null,
    ...(status
      ? {
          paired: status.pairedIdentities.length > 0,
          paired_identities: status.pairedIdentities,
          // Pairings we hold that the host refuses: pair again (or remove them with DELETE …/pair).
          ...(status.unpairedByHost.length > 0 ? { unpaired_by_host: status.unpairedByHost } : {}),
          online: status.online,
          state: status.serverInfo ? (status.serverInfo.busy ? "busy" : "free") : "offline",
          current_app: status.serverInfo?.busy ? status.serverInfo.currentGame : null,
          app_version: status.serverInfo?.appVersion.text ?? null,
          codecs: status.serverInfo?.codecs ?? [],
          ...(status.error ? { error: status.error } : {}),
        }
      : {}),
  };
}

async function guarded<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw hostHttpError(error);
  }
}

const IdentityQuery = t.Object({ identity: t.Optional(t.String({ minLength: 1, maxLength: 64 })) });

export function hostRoutes(hosts: HostService) {
  // One host's live state: ask that host only, not every host.
  const statusOf = async (id: string) => hosts.status(hosts.get(id));

  return new Elysia({ prefix: "/api/hosts", detail: { tags: ["hosts"] } })
    .get("", async () => (await hosts.statuses()).map((s) => hostJson(s.host, s)), { detail: { summary: "List hosts with their live state" } })
    .post(
      "",
      async ({ body, set }) => {
        const { host } = await guarded(() => hosts.add(body.address));
        set.status = 201;
        return hostJson(host, await statusOf(host.id));
      },
      { body: t.Object({ address: t.String({ minLength: 1, maxLength: 300, description: "address[:port]" }) }), detail: { summary: "Add a host (asks it who it is)" } },
    )
    .get("/:id", async ({ params }) => {
      const host = await guarded(() => hosts.get(params.id));
      return hostJson(host, await statusOf(host.id));
    })
    .delete("/:id", async ({ params, set }) => {
      await guarded(() => hosts.remove(params.id));
      set.status = 204;
    })
    .post("/:id/refresh", async ({ params }) => {
      const host = await guarded(() => hosts.get(params.id));
      const status = await statusOf(host.id);
      return hostJson(hosts.get(host.id), status);
    })
    .post(
      "/:id/pair",
      async ({ params, body }) => {
        const host = await guarded(() => hosts.get(params.id));
        const encoder = new TextEncoder();
        const abort = new AbortController();
        const stream = new ReadableStream<Uint8Array>({
          start: async (controller) => {
            const line = (value: unknown) => controller.enqueue(encoder.encode(`${JSON.stringify(value)}\n`));
            try {
              const result = await hosts.pair(host.id, {
                ...(body?.pin !== undefined ? { pin: body.pin } : {}),
                identityId: body?.identity ?? SHARED_IDENTITY_ID,
                signal: abort.signal,
                onPin: (pin) => line({ pin }),
              });
              line({ paired: hostJson(result.host) });
            } catch (error) {
              const mapped = hostHttpError(error);
              line({ error: mapped.code, message: mapped.message });
            }
            controller.close();
          },
          // The client went away: cancel the pairing on the host too.
          cancel: () => abort.abort(),
        });
        return new Response(stream, { headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" } });
      },
      {
        body: t.Optional(t.Object({ pin: t.Optional(t.String({ pattern: "^[0-9]{4}$" })), identity: t.Optional(t.String({ minLength: 1, maxLength: 64 })) })),
        detail: { summary: "Pair: streams {pin}, then {paired} or {error} as NDJSON" },
      },
    )
    .delete(
      "/:id/pair",
      async ({ params, query }) => {
        const result = await guarded(() => hosts.unpair(params.id, query.identity ?? SHARED_IDENTITY_ID));
        return { host: result.host.id, was_paired: result.wasPaired, host_forgot: result.hostForgot };
      },
      { query: IdentityQuery },
    )
    .get(
      "/:id/apps",
      async ({ params, query }) => (await guarded(() => hosts.apps(params.id, query.identity ?? SHARED_IDENTITY_ID))).map((app) => ({ id: app.id, title: app.title, hdr: app.hdrSupported })),
      { query: IdentityQuery },
    )
    .get(
      "/:id/apps/:appId/boxart",
      async ({ params, query, request }) => {
        const appId = Number(params.appId);
        if (!Number.isInteger(appId)) throw new HttpError(422, "invalid_request", "appId must be an integer");
        const asset = await guarded(() => hosts.appAsset(params.id, appId, query.identity ?? SHARED_IDENTITY_ID));
        const etag = `"${createHash("sha1").update(asset.bytes).digest("hex")}"`;
        const headers = { etag, "cache-control": "private, max-age=300", "content-type": asset.contentType || "image/png" };
        if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
        return new Response(Buffer.from(asset.bytes), { headers });
      },
      { query: IdentityQuery },
    );
}
