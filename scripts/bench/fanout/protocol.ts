/**
 * IPC between the benchmark's sender (scripts/bench/fanout.ts) and its receiver processes
 * (receiver.ts): signaling for each viewer, and the measurements the receivers keep. Times are
 * epoch milliseconds with sub-ms precision (`performance.timeOrigin + performance.now()`), which
 * both processes read from the same clock.
 */
import type { ServerSignal, ViewerSignal } from "../../../src/peer/signaling.ts";

export type ToReceiver =
  /** A signaling message from the sender's viewer `id` (the first one creates the receiver). */
  | { t: "signal"; id: string; m: ServerSignal }
  /** Reply with a `cpu` message (marks the measurement window). */
  | { t: "cpu"; seq: number }
  /** Reply with `report`: per receiver, completed frames whose RTP timestamp is in [from, to]. */
  | { t: "report"; seq: number; from: number; to: number }
  | { t: "close"; id: string }
  /** Floor mode: receive viewer `id` on a plain UDP socket with this SRTP key (hex); reply `floor-port`. */
  | { t: "floor"; id: string; key: string; suite: "cm" | "gcm" }
  | { t: "exit" };

export type FromReceiver =
  | { t: "ready" }
  | { t: "signal"; id: string; m: ViewerSignal }
  /** Milestones of one viewer, in epoch ms. */
  | { t: "milestone"; id: string; what: "offer" | "connected" | "first-frame"; at: number }
  | { t: "cpu"; seq: number; userUs: number; systemUs: number; at: number }
  | { t: "report"; seq: number; viewers: ReceiverReport[] }
  | { t: "floor-port"; id: string; port: number };

export interface ReceiverReport {
  id: string;
  /** Complete frames in the requested RTP timestamp range. */
  framesInRange: number;
  /** RtpDepacketizer stats over the whole life of the receiver. */
  frames: number;
  framesDropped: number;
  packetsLost: number;
  packets: number;
  /** Keyframe requests (PLI) this receiver sent after a loss. */
  plisSent: number;
}

export const epochMs = (): number => performance.timeOrigin + performance.now();
