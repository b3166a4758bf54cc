/**
 * What the video receive thread (video-receive-thread.ts, main side; video-receive-worker.ts, the
 * worker) say to each other. One message each way at start; then the worker posts frames and the
 * depacketizer's requests, and both share two SharedArrayBuffers: `control` (main → worker: stop)
 * and `stats` (worker → main: the depacketizer's counters and the socket's bytes, written after
 * every receive batch), so that reading counters costs no message and no wakeup.
 */
import type { VideoCodec } from "./nal.ts";
import type { FrameLoss, IdrReason, VideoDepacketizerStats, VideoFrame } from "./video-depacketizer.ts";

export interface VideoReceiveInit {
  /** The bound UDP socket's descriptor; the worker owns it from here and closes it. */
  fd: number;
  codec: VideoCodec;
  packetSize: number;
  /** rikey, when the host encrypts video. */
  key?: Uint8Array;
  referenceFrameInvalidation: boolean;
  /** The main thread's performance.timeOrigin, so that arrival times are on its clock. */
  timeOrigin: number;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

export type VideoReceiveMessage =
  | { type: "ready" }
  | { type: "frame"; frame: VideoFrame }
  | { type: "idr-needed"; reason: IdrReason }
  | { type: "frame-loss"; loss: FrameLoss }
  | { type: "error"; message: string }
  | { type: "stopped" };

/** Int32 slots of `control`. */
export const CONTROL_STOP = 0;
export const CONTROL_SLOTS = 1;

/** Float64 slots of `stats`: the depacketizer's counters in this order, then the socket's. */
export const DEPACKETIZER_STAT_NAMES = [
  "packets",
  "dataPackets",
  "parityPackets",
  "malformed",
  "stale",
  "duplicates",
  "decryptFailures",
  "fecRecoveries",
  "fecRecoveredFrames",
  "framesEmitted",
  "framesDropped",
  "framesLost",
  "idrRequests",
  "lossReports",
  "resyncs",
  "listenerErrors",
] as const satisfies readonly (keyof VideoDepacketizerStats)[];
export const STAT_BYTES = DEPACKETIZER_STAT_NAMES.length;
export const STAT_TRUNCATED = STAT_BYTES + 1;
export const STAT_SLOTS = STAT_TRUNCATED + 1;
