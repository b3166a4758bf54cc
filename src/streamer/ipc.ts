/**
 * Messages between `mlstream serve` and a streamer child process (Bun IPC, structured clone).
 * Both sides validate what they receive and drop what they do not understand, with a log line:
 * one bad message must never end the channel (the system we replace lost streamers that way).
 * Logs never travel on this channel; the child writes them to stderr.
 */
import type { StreamSettings } from "../moonlight/session.ts";
import type { ServerSignal, StreamerStatus, ViewerSignal } from "../peer/signaling.ts";
import type { IceSettings } from "../peer/webrtc-viewer.ts";
import type { StreamerSnapshot } from "./streamer.ts";

/** Everything a child needs to run one streamer (keys included: sent over IPC, never argv/env). */
export interface StreamerInit {
  id: string;
  host: { address: string; httpPort: number };
  identity: { uniqueId: string; certPem: string; keyPem: string };
  serverCertPem: string;
  appId: number;
  settings: StreamSettings;
  idleTimeoutMs: number;
  ice: IceSettings;
  logLevel: string;
  /** Also publish into this Janus (its HTTP API URL). */
  janusUrl?: string;
  /** streamer.viewer_keyframe_interval_ms */
  viewerKeyframeIntervalMs?: number;
  /** streamer.fanout_processes (absent or 0: viewers in the streamer's own process) */
  fanoutProcesses?: number;
  /** streamer.media_receive (absent: the receive thread where it can run) */
  mediaReceive?: "thread" | "event-loop";
}

export type ToStreamer =
  | { t: "init"; init: StreamerInit }
  /** `iceServers`: this viewer's own STUN/TURN list (from ice_servers_command), else the streamer's. */
  | { t: "addViewer"; peerId: string; viewOnly: boolean; iceServers?: string[] }
  | { t: "signal"; peerId: string; message: ViewerSignal }
  | { t: "removeViewer"; peerId: string; reason: string }
  /** A viewer on the WebSocket transport: the server delivers its media; its input comes through here. */
  | { t: "addExternalViewer"; peerId: string; viewOnly: boolean }
  | { t: "input"; peerId: string; packet: Uint8Array }
  /** A WebSocket viewer's heartbeat (its PING), so that the streamer knows it is not silent. */
  | { t: "heartbeat"; peerId: string }
  /** Send raw frames and audio to the server (only while it has WebSocket viewers). */
  | { t: "mediaTap"; enabled: boolean }
  /** `peerId`: a WebSocket viewer's own need, limited per viewer as a WebRTC viewer's (viewer-keyframe-policy.ts). */
  | { t: "requestKeyframe"; waiting: boolean; peerId?: string; need?: "join" | "loss" }
  | { t: "stop"; quitApp: boolean };

export type FromStreamer =
  | { t: "status"; status: StreamerStatus; detail?: string }
  | { t: "snapshot"; snapshot: StreamerSnapshot }
  | { t: "signal"; peerId: string; message: ServerSignal }
  | { t: "viewerLeft"; peerId: string; reason: string }
  | { t: "viewerOpen"; peerId: string }
  | { t: "video"; data: Uint8Array; keyframe: boolean; codec: "h264" | "hevc" | "av1"; frameNumber: number; captureTimeMs: number }
  | { t: "audio"; data: Uint8Array; sequence: number; timestampMs: number; channels: number }
  | { t: "stopped"; reason: string };

const TO_STREAMER = new Set(["init", "addViewer", "signal", "removeViewer", "stop", "addExternalViewer", "input", "mediaTap", "requestKeyframe", "heartbeat"]);
const FROM_STREAMER = new Set(["status", "snapshot", "signal", "viewerLeft", "stopped", "viewerOpen", "video", "audio"]);

function hasType(message: unknown, known: Set<string>): message is { t: string } {
  return typeof message === "object" && message !== null && typeof (message as { t?: unknown }).t === "string" && known.has((message as { t: string }).t);
}

export function isToStreamer(message: unknown): message is ToStreamer {
  if (!hasType(message, TO_STREAMER)) return false;
  const m = message as Record<string, unknown>;
  switch (m.t) {
    case "init":
      return typeof m.init === "object" && m.init !== null;
    case "addViewer":
    case "removeViewer":
    case "addExternalViewer":
    case "heartbeat":
      return typeof m.peerId === "string";
    case "input":
      return typeof m.peerId === "string" && m.packet instanceof Uint8Array;
    case "signal":
      return typeof m.peerId === "string" && typeof m.message === "object" && m.message !== null;
    default:
      return true;
  }
}

export function isFromStreamer(message: unknown): message is FromStreamer {
  if (!hasType(message, FROM_STREAMER)) return false;
  const m = message as Record<string, unknown>;
  switch (m.t) {
    case "signal":
      return typeof m.peerId === "string" && typeof m.message === "object" && m.message !== null;
    case "viewerLeft":
    case "viewerOpen":
      return typeof m.peerId === "string";
    case "video":
    case "audio":
      return m.data instanceof Uint8Array;
    case "snapshot":
      return typeof m.snapshot === "object" && m.snapshot !== null;
    default:
      return true;
  }
}
