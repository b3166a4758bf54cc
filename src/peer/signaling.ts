/**
 * The signaling messages between mlstream and one viewer (JSON over the peer WebSocket, or
 * in-process in tests). The server always makes the offer: a viewer only answers and trickles its
 * candidates, so a viewer that never answers is a diagnosable stage ("signaling"), not a hang.
 *
 * server → viewer: hello, offer, candidate, stream, status, error, end
 * viewer → server: answer, candidate, keyframe, leave
 */

/** What a viewer needs to render and send input at once (sent on join and whenever it changes). */
export interface StreamInfo {
  width: number;
  height: number;
  fps: number;
  codec: "h264" | "hevc" | "av1";
  /** 10 for a 10-bit stream (HEVC Main10, AV1 Main10); absent = 8. */
  bitDepth?: 8 | 10;
  /** e.g. "640028" for H.264 High 4.0, from the stream's SPS. */
  profileLevelId?: string;
  audio: { channels: number; sampleRate: number };
  /** This viewer may send input. */
  input: boolean;
  /** Host capabilities the viewer's input capture can use. */
  capabilities: { touch: boolean; pen: boolean; controllers: number };
}

/** Where a viewer on the "janus" transport takes its media from (docs/scale.md). */
export interface JanusViewerInfo {
  /** Janus's HTTP API as the viewer's browser reaches it. */
  url: string;
  mountpoint: number;
}

export type StreamerStatus = "starting" | "live" | "reconnecting" | "stopped" | "failed";

export type ServerSignal =
  | {
      type: "hello";
      peerId: string;
      role: "viewer" | "view-only";
      transport: "webrtc" | "websocket" | "janus";
      /** With transport "janus": media comes from this Janus mountpoint; input still goes over this socket. */
      janus?: JanusViewerInfo;
      /** STUN/TURN servers for the viewer's own RTCPeerConnection (RTCIceServer form). */
      iceServers?: { urls: string; username?: string; credential?: string }[];
      /** "relay": use TURN relay candidates only (webrtc.ice_transport_policy, or the viewer's `?ice=relay`). */
      iceTransportPolicy?: "relay";
    }
  | { type: "offer"; sdp: string }
  | { type: "candidate"; candidate: string; mid: string }
  | { type: "stream"; info: StreamInfo }
  | { type: "status"; status: StreamerStatus; detail?: string }
  | { type: "error"; error: string; message: string }
  /** Media now flows over this WebSocket (binary frames, docs/ws-media.md) instead of WebRTC. */
  | { type: "transport"; transport: "webrtc" | "websocket" }
  /** The host rumbles this viewer's controller `controllerNumber` (its own numbering); 0/0 stops. */
  | { type: "rumble"; controllerNumber: number; lowFrequency: number; highFrequency: number }
  /** This viewer's link changed: "lossy"/"slow" say why its picture is poor (streamer/viewer-link.ts); "good" clears it. */
  | { type: "link"; quality: "good" | "lossy" | "slow"; reason: string | null }
  | { type: "end"; reason: string };

export type ViewerSignal =
  | { type: "answer"; sdp: string }
  | { type: "candidate"; candidate: string; mid: string }
  /** The viewer's decoder lost its reference (e.g. after a tab was hidden). */
  | { type: "keyframe" }
  /** WebRTC cannot pass here: send the media over this WebSocket instead. */
  | { type: "transport"; transport: "websocket" }
  | { type: "leave" };

export class SignalFormatError extends Error {
  override name = "SignalFormatError";
}

const MAX_SDP_BYTES = 64 * 1024;

/** Validates a message from a viewer. Throws SignalFormatError with the reason. */
export function parseViewerSignal(raw: unknown): ViewerSignal {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new SignalFormatError("not JSON");
    }
  }
  if (typeof value !== "object" || value === null) throw new SignalFormatError("expected an object");
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case "answer":
      if (typeof message.sdp !== "string" || message.sdp.length === 0 || message.sdp.length > MAX_SDP_BYTES) throw new SignalFormatError("answer needs an sdp string");
      return { type: "answer", sdp: message.sdp };
    case "candidate":
      if (typeof message.candidate !== "string" || message.candidate.length > 1024) throw new SignalFormatError("candidate needs a candidate string");
      return { type: "candidate", candidate: message.candidate, mid: typeof message.mid === "string" ? message.mid : "0" };
    case "keyframe":
      return { type: "keyframe" };
    case "transport":
      if (message.transport !== "websocket") throw new SignalFormatError('transport can only be switched to "websocket"');
      return { type: "transport", transport: "websocket" };
    case "leave":
      return { type: "leave" };
    default:
      throw new SignalFormatError(`unknown message type ${JSON.stringify(message.type)}`);
  }
}
