/**
 * The body of `POST /api/streamers`, in either of its two shapes, made into one StreamerSpec.
 *
 * Our shape:  { id?, host, app, width?, height?, fps?, bitrate_kbps?, codec?, audio?, identity?,
 *               idle_timeout_s?, play_audio_local? }
 * The flat shape orchestrators (Helix) already send:
 *             { streamer_id, client_unique_id, host_id, app_id, bitrate, packet_size, fps, width,
 *               height, video_supported_formats, play_audio_local, … }
 * `client_unique_id` names the client identity (Wolf tells host sessions apart by certificate).
 */
import { t, type Static } from "elysia";
import { SHARED_IDENTITY_ID } from "../core/store.ts";
import type { VideoCodec } from "../moonlight/video/nal.ts";
import type { StreamSettings } from "../moonlight/session.ts";
import { HttpError } from "./http-error.ts";
import type { StreamerEgress } from "./streamer-supervisor.ts";

/**
 * A JSON integer, strictly: Elysia's `t.Integer` also takes numeric strings ("1280"), which
 * would let a form or a sloppy client through with values nobody typed as numbers.
 */
function JsonInteger(options: { minimum?: number; maximum?: number } = {}) {
  return t.Number({ ...options, multipleOf: 1 });
}

const Id = t.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$" });
const HostRef = t.Union([t.String({ minLength: 1, maxLength: 255 }), JsonInteger({ minimum: 0 })]);
const AppRef = t.Union([t.String({ minLength: 1, maxLength: 255 }), JsonInteger()]);

export const CreateStreamerBody = t.Object(
  {
    id: t.Optional(Id),
    host: t.Optional(HostRef),
    app: t.Optional(AppRef),
    width: t.Optional(JsonInteger({ minimum: 256, maximum: 7680 })),
    height: t.Optional(JsonInteger({ minimum: 144, maximum: 4320 })),
    fps: t.Optional(JsonInteger({ minimum: 10, maximum: 240 })),
    bitrate_kbps: t.Optional(JsonInteger({ minimum: 500, maximum: 500_000 })),
    codec: t.Optional(t.Union([t.Literal("h264"), t.Literal("hevc"), t.Literal("av1")])),
    hdr: t.Optional(t.Boolean({ description: "10-bit video (HEVC Main10 / AV1 Main10) where the host advertises it; default false" })),
    audio: t.Optional(t.Union([t.Literal("stereo"), t.Literal("5.1"), t.Literal("7.1")])),
    identity: t.Optional(Id),
    idle_timeout_s: t.Optional(JsonInteger({ minimum: 0, maximum: 30 * 24 * 3600 })),
    play_audio_local: t.Optional(t.Boolean()),
    egress: t.Optional(
      t.Object(
        {
          janus: t.Optional(
            t.Union([t.Literal(false), t.Object({ url: t.Optional(t.String({ pattern: "^https?://", maxLength: 500 })) }, { additionalProperties: false })]),
          ),
        },
        { additionalProperties: false, description: "Publish into an SFU too: { janus: { url? } } (default: the server's egress.janus_url), or { janus: false }" },
      ),
    ),
    // The flat orchestrator shape.
    streamer_id: t.Optional(Id),
    client_unique_id: t.Optional(Id),
    host_id: t.Optional(HostRef),
    app_id: t.Optional(AppRef),
    bitrate: t.Optional(JsonInteger({ minimum: 500, maximum: 500_000 })),
    packet_size: t.Optional(JsonInteger({ minimum: 256, maximum: 65_000 })),
    video_supported_formats: t.Optional(JsonInteger({ minimum: 0 })),
  },
  { additionalProperties: true },
);
export type CreateStreamerBody = Static<typeof CreateStreamerBody>;

export interface NormalizedStreamerRequest {
  id: string | undefined;
  host: string;
  app: string | number;
  identityId: string;
  settings: StreamSettings;
  idleTimeoutS: number;
  egress?: StreamerEgress;
}

function codecsFromMask(mask: number): VideoCodec[] {
  const codecs: VideoCodec[] = [];
  if (mask & 0xf000) codecs.push("av1");
  if (mask & 0x0f00) codecs.push("hevc");
  if (mask & 0x000f || codecs.length === 0) codecs.push("h264");
  return codecs;
}

export function normalizeStreamerRequest(body: CreateStreamerBody, defaults: { idleTimeoutS: number }): NormalizedStreamerRequest {
  const host = body.host ?? body.host_id;
  const app = body.app ?? body.app_id;
  if (host === undefined) throw new HttpError(422, "invalid_request", "host (or host_id) is required");
  if (app === undefined) throw new HttpError(422, "invalid_request", "app (or app_id) is required");
  if (body.id && body.streamer_id && body.id !== body.streamer_id) throw new HttpError(422, "invalid_request", "id and streamer_id differ");
  const codecs: VideoCodec[] = body.codec
    ? [body.codec]
    : body.video_supported_formats !== undefined
      ? codecsFromMask(body.video_supported_formats)
      : ["h264"];
  const settings: StreamSettings = {
    width: body.width ?? 1280,
    height: body.height ?? 720,
    fps: body.fps ?? 60,
    bitrateKbps: body.bitrate_kbps ?? body.bitrate ?? 10_000,
    codecs,
    audio: body.audio ?? "stereo",
    localAudio: body.play_audio_local ?? false,
    // The flat shape says 10-bit with the 10-bit VIDEO_FORMAT bits (0xaa00). Only when asked: a
    // spec stored without it stays the same spec (starting the same id again is idempotent).
    ...((body.hdr ?? (body.video_supported_formats !== undefined && (body.video_supported_formats & 0xaa00) !== 0)) ? { hdr: true } : {}),
    ...(body.packet_size !== undefined ? { packetSize: body.packet_size } : {}),
  };
  return {
    id: body.id ?? body.streamer_id,
    host: String(host),
    app,
    identityId: body.identity ?? body.client_unique_id ?? SHARED_IDENTITY_ID,
    settings,
    idleTimeoutS: body.idle_timeout_s ?? defaults.idleTimeoutS,
    ...(body.egress ? { egress: body.egress as StreamerEgress } : {}),
  };
}
