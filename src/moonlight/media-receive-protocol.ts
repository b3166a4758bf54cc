/**
 * What the media receive thread (media-receive-thread.ts, main side; media-receive-worker.ts, the
 * worker) say to each other. One message each way at start; then the worker posts frames, audio
 * packets and the video depacketizer's requests, and both share two SharedArrayBuffers: `control`
 * (main → worker: stop; audio prompt or not) and `stats` (worker → main: both depacketizers'
 * counters and the video bytes, written after every receive pass), so that reading counters
 * costs no message and no wakeup.
 */
import type { AudioDepacketizerStats, AudioPacket } from "./audio/audio-depacketizer.ts";
import type { AudioStreamParams, VideoStreamParams } from "./media-depacketizers.ts";
import type { FrameLoss, IdrReason, VideoDepacketizerStats, VideoFrame } from "./video/video-depacketizer.ts";

export interface MediaReceiveInit {
  /** Bound UDP sockets' descriptors: the worker receives from them; the main thread closes them after "stopped". */
  videoFd: number;
  audioFd: number;
  video: VideoStreamParams;
  audio: AudioStreamParams;
  /** The main thread's performance.timeOrigin, so that arrival times are on its clock. */
  timeOrigin: number;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

export type MediaReceiveMessage =
  | { type: "ready" }
  /** `audio`: packets that arrived before the frame and waited for it (audio not prompt). */
  | { type: "frame"; frame: VideoFrame; audio: AudioPacket[] | null }
  | { type: "audio"; packets: AudioPacket[] }
  | { type: "idr-needed"; reason: IdrReason }
  | { type: "frame-loss"; loss: FrameLoss }
  | { type: "error"; message: string }
  | { type: "stopped" };

/** Int32 slots of `control`. */
export const CONTROL_STOP = 0;
/** 1: post each audio packet at once; 0: let it wait for the next frame (nobody is listening). */
export const CONTROL_AUDIO_PROMPT = 1;
export const CONTROL_SLOTS = 2;

/** Float64 slots of `stats`: the video depacketizer's counters, the audio one's, then the sockets'. */
export const VIDEO_STAT_NAMES = [
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
export const AUDIO_STAT_NAMES = [
  "packets",
  "dataPackets",
  "fecPackets",
  "discarded",
  "malformed",
  "stale",
  "duplicates",
  "fecRecoveries",
  "fecFailures",
  "lost",
  "decryptFailures",
  "emitted",
  "listenerErrors",
] as const satisfies readonly (keyof AudioDepacketizerStats)[];
export const AUDIO_STATS_AT = VIDEO_STAT_NAMES.length;
export const STAT_VIDEO_BYTES = AUDIO_STATS_AT + AUDIO_STAT_NAMES.length;
export const STAT_SLOTS = STAT_VIDEO_BYTES + 1;
