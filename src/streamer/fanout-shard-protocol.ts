/**
 * IPC between a streamer and its fan-out processes (fanout-shards.ts ⇄ fanout-shard.ts), Bun IPC
 * with structured clone ("advanced"). A frame crosses once per process as one buffer of its RTP
 * packets back to back plus their end offsets; each process patches its own viewers' sequence
 * numbers into its own copy. Times are epoch ms (`performance.timeOrigin + performance.now()`),
 * which both processes read from the same clock.
 */
import type { InputPacket } from "../moonlight/input/input.ts";
import type { ServerSignal, StreamInfo, ViewerSignal } from "../peer/signaling.ts";
import type { WebRtcViewerEvents, WebRtcViewerOptions, WebRtcViewerStats } from "../peer/webrtc-viewer.ts";

/** A viewer's WebRtcViewer options; its signaling goes through the IPC. */
export type ShardViewerOptions = Omit<WebRtcViewerOptions, "signal">;

export type ToShard =
  | { t: "add"; viewer: ShardViewerOptions }
  /** A signaling message from the viewer. */
  | { t: "signal"; id: string; m: ViewerSignal }
  /** A signaling message for the viewer (status, end …). */
  | { t: "send-signal"; id: string; m: ServerSignal }
  | { t: "update-stream"; id: string; info: StreamInfo }
  | { t: "reset-keyframe"; id: string }
  | { t: "close"; id: string; reason: string }
  /** One frame: `ends[i]` is where packet i ends in `data`; `at` when the streamer began writing it. */
  | { t: "video"; seq: number; data: Uint8Array; ends: Uint32Array; timestamp: number; keyframe: boolean; firstSequence: number; at: number }
  | { t: "audio"; packet: Uint8Array; timestamp: number }
  /** Frames were skipped (this process was behind): every viewer waits for the next keyframe. */
  | { t: "resync" }
  /** Reply with `state` now. */
  | { t: "state?"; seq: number }
  | { t: "exit" };

export interface ShardViewerState {
  id: string;
  state: string;
  stats: WebRtcViewerStats;
  rttMs: number;
  /** ms since the viewer was last heard from (-1: not yet). */
  heardMsAgo: number;
  waitingForKeyframe: boolean;
  receivingVideo: boolean;
}

export type FromShard =
  | { t: "ready" }
  | { t: "signal"; id: string; m: ServerSignal }
  | { t: "input"; id: string; packet: InputPacket }
  | { t: "keyframe-request"; id: string; reason: WebRtcViewerEvents["keyframeRequest"][0] }
  /** What the viewer's receiver reports / REMB said (WebRtcViewer's `linkFeedback`). */
  | { t: "link-feedback"; id: string; fractionLost: number | undefined; rembBps: number | undefined }
  | { t: "open"; id: string }
  | { t: "closed"; id: string; reason: string }
  /** Frame `seq` was handed to every viewer of this process at epoch ms `at`. */
  | { t: "wrote"; seq: number; at: number }
  /** `seq` answers a `state?` (0: the periodic report); `cpuUs`: this process's CPU so far. */
  | { t: "state"; seq: number; viewers: ShardViewerState[]; cpuUs: number };

export const epochMs = (): number => performance.timeOrigin + performance.now();
