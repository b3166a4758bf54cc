/**
 * The JSON messages of Helix's `WS /api/host/stream` and peer sockets (docs/helix.md §1.2):
 * serde's externally tagged enums — `{"Variant":{…}}`, unit variants as bare strings.
 */
export class MoonlightWebMessageError extends Error {
  override name = "MoonlightWebMessageError";
}

export type SessionMode = "create" | "join" | "keepalive";

export interface AuthenticateAndInit {
  credentials: string | null;
  session_id: string;
  mode: SessionMode;
  client_unique_id: string | null;
  host_id: number;
  app_id: number;
  bitrate: number;
  packet_size: number;
  fps: number;
  width: number;
  height: number;
  play_audio_local: boolean;
  video_supported_formats: number;
}

export type ClientSignal = { type: "answer"; sdp: string } | { type: "offer"; sdp: string } | { type: "candidate"; candidate: string; mid: string | null };

const MODES = new Set(["create", "join", "keepalive"]);
const U32_FIELDS = ["host_id", "app_id", "bitrate", "packet_size", "fps", "width", "height", "video_supported_formats"] as const;

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new MoonlightWebMessageError(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    return object(JSON.parse(text), "the message");
  } catch (error) {
    if (error instanceof MoonlightWebMessageError) throw error;
    throw new MoonlightWebMessageError("the message is not JSON");
  }
}

/** The first message of `/api/host/stream`; anything else is an error. */
export function parseAuthenticateAndInit(text: string): AuthenticateAndInit {
  const init = object(parseJson(text).AuthenticateAndInit, "AuthenticateAndInit");
  const sessionId = init.session_id;
  if (typeof sessionId !== "string" || sessionId.length === 0 || sessionId.length > 256) throw new MoonlightWebMessageError("session_id must be a string of 1–256 characters");
  if (typeof init.mode !== "string" || !MODES.has(init.mode)) throw new MoonlightWebMessageError("mode must be create, join or keepalive");
  const credentials = init.credentials ?? null;
  if (credentials !== null && typeof credentials !== "string") throw new MoonlightWebMessageError("credentials must be a string or null");
  const clientUniqueId = init.client_unique_id ?? null;
  if (clientUniqueId !== null && (typeof clientUniqueId !== "string" || clientUniqueId.length === 0 || clientUniqueId.length > 256)) {
    throw new MoonlightWebMessageError("client_unique_id must be a string of 1–256 characters or null");
  }
  const numbers = {} as Record<(typeof U32_FIELDS)[number], number>;
  for (const field of U32_FIELDS) {
    const value = init[field];
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new MoonlightWebMessageError(`${field} must be a u32`);
    numbers[field] = value;
  }
  return {
    credentials,
    session_id: sessionId,
    mode: init.mode as SessionMode,
    client_unique_id: clientUniqueId,
    play_audio_local: init.play_audio_local === true,
    ...numbers,
  };
}

/** `{"Signaling":{"Description":{ty,sdp}}}` or `{"Signaling":{"AddIceCandidate":{…}}}`. */
export function parseClientSignal(text: string): ClientSignal {
  const signaling = object(parseJson(text).Signaling, "Signaling");
  if (signaling.Description !== undefined) {
    const description = object(signaling.Description, "Description");
    if ((description.ty !== "answer" && description.ty !== "offer") || typeof description.sdp !== "string") {
      throw new MoonlightWebMessageError("Description needs ty answer|offer and sdp");
    }
    return description.ty === "answer" ? { type: "answer", sdp: description.sdp } : { type: "offer", sdp: description.sdp };
  }
  const candidate = object(signaling.AddIceCandidate, "AddIceCandidate");
  if (typeof candidate.candidate !== "string") throw new MoonlightWebMessageError("AddIceCandidate needs candidate");
  return { type: "candidate", candidate: candidate.candidate, mid: typeof candidate.sdp_mid === "string" ? candidate.sdp_mid : null };
}

/** Server → client messages (`StreamServerMessage`). */
export const serverMessage = {
  offer: (sdp: string) => ({ Signaling: { Description: { ty: "offer", sdp } } }),
  candidate: (candidate: string, mid: string) => ({ Signaling: { AddIceCandidate: { candidate, sdp_mid: mid, sdp_mline_index: null, username_fragment: null } } }),
  webRtcConfig: (iceServers: unknown[]) => ({ WebRtcConfig: { ice_servers: iceServers } }),
  stageStarting: (stage: string) => ({ StageStarting: { stage } }),
  stageComplete: (stage: string) => ({ StageComplete: { stage } }),
  stageFailed: (stage: string, errorCode: number) => ({ StageFailed: { stage, error_code: errorCode } }),
  updateApp: (app: { id: number; title: string; hdr?: boolean }) => ({ UpdateApp: { app: { app_id: app.id, title: app.title, is_hdr_supported: app.hdr === true } } }),
  connectionComplete: (width: number, height: number) => ({ ConnectionComplete: { capabilities: { touch: true }, width, height, client_id: null } }),
  connectionTerminated: (errorCode: number) => ({ ConnectionTerminated: { error_code: errorCode } }),
} as const;

export type UnitMessage = "InternalServerError" | "HostNotFound" | "AppNotFound" | "HostNotPaired" | "AlreadyStreaming" | "SessionNotFound" | "ClientKicked" | "PeerDisconnect";
