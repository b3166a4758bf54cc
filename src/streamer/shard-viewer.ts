/**
 * A WebRTC viewer that lives in a fan-out process (fanout-shard.ts), seen from the streamer: the
 * same surface as WebRtcViewer (events, signaling, stats, close), its state mirrored from the
 * process's reports. Media does not go through it: FanoutShards sends each frame to the process once.
 */
import { EventEmitter } from "node:events";
import type { ServerSignal, StreamInfo, ViewerSignal } from "../peer/signaling.ts";
import { emptyWebRtcViewerStats, type WebRtcViewerEvents, type WebRtcViewerStats } from "../peer/webrtc-viewer.ts";
import type { ShardViewerState, ToShard } from "./fanout-shard-protocol.ts";

export class ShardViewer extends EventEmitter<WebRtcViewerEvents> {
  readonly id: string;
  readonly connectedAt = Date.now();
  readonly viewOnly: boolean;
  readonly stats: WebRtcViewerStats = emptyWebRtcViewerStats();
  rttMs = -1;
  /** When a data channel last carried anything from the viewer (performance.now() here; 0 = not yet). */
  lastHeardAt = 0;
  waitingForKeyframe = true;
  receivingVideo = false;
  #state = "new";
  #closed = false;
  readonly #send: (message: ToShard) => void;

  constructor(id: string, viewOnly: boolean, send: (message: ToShard) => void) {
    super();
    this.id = id;
    this.viewOnly = viewOnly;
    this.#send = send;
  }

  get state(): string {
    return this.#closed ? "closed" : this.#state;
  }

  handleSignal(message: ViewerSignal): void {
    if (!this.#closed) this.#send({ t: "signal", id: this.id, m: message });
  }

  sendSignal(message: ServerSignal): void {
    if (!this.#closed) this.#send({ t: "send-signal", id: this.id, m: message });
  }

  updateStream(info: StreamInfo): void {
    if (!this.#closed) this.#send({ t: "update-stream", id: this.id, info });
  }

  resetToKeyframe(): void {
    this.waitingForKeyframe = true;
    if (!this.#closed) this.#send({ t: "reset-keyframe", id: this.id });
  }

  /** Closes the viewer in its process; "closed" is emitted at once (as WebRtcViewer does). Idempotent. */
  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#send({ t: "close", id: this.id, reason });
    this.closed(reason);
  }

  /** The process reported the viewer gone (or the process itself went). */
  closed(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("closed", reason);
  }

  /** Mirrors a report from the process (`receivedAt`: performance.now() here when it arrived). */
  update(state: ShardViewerState, receivedAt: number): void {
    this.#state = state.state;
    Object.assign(this.stats, state.stats);
    this.rttMs = state.rttMs;
    if (state.heardMsAgo >= 0) this.lastHeardAt = Math.max(this.lastHeardAt, receivedAt - state.heardMsAgo);
    this.waitingForKeyframe = state.waitingForKeyframe;
    this.receivingVideo = state.receivingVideo;
  }
}
