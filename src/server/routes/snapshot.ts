/**
 * GET /api/streamers/{id}/snapshot[?format=jpeg|png]: the stream's latest picture as an image, for
 * dashboards (src/server/stream-snapshots.ts; decoded by ffmpeg, 501 without it). Admin-only like
 * every route not listed in route-access.ts: a viewer token joins streams but does not read the
 * pictures of streams it was not sent to. `?access_token=` works here (a GET) for `<img>` tags.
 */
import { Elysia, t } from "elysia";
import { IMAGE_TYPES } from "../frame-decoder.ts";
import type { StreamSnapshots } from "../stream-snapshots.ts";

export function snapshotRoutes(snapshots: StreamSnapshots) {
  return new Elysia({ detail: { tags: ["streamers"] } }).get(
    "/api/streamers/:id/snapshot",
    async ({ params, query }) => {
      const snapshot = await snapshots.take(params.id, query.format ?? "jpeg");
      return new Response(snapshot.image, {
        headers: {
          "content-type": IMAGE_TYPES[snapshot.format],
          "cache-control": "no-store",
          "x-frame-age-ms": String(Math.max(0, Date.now() - snapshot.frameAt)),
          "x-decode-ms": String(snapshot.decodeMs),
        },
      });
    },
    {
      query: t.Object({ format: t.Optional(t.Union([t.Literal("jpeg"), t.Literal("png")])), access_token: t.Optional(t.String()) }),
      detail: {
        summary: "The stream's latest picture (JPEG by default, ?format=png); 501 when the server has no ffmpeg",
        responses: { 200: { description: "the image", content: { "image/jpeg": {}, "image/png": {} } } },
      },
    },
  );
}
