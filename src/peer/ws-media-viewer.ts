/**
 * One viewer on the WebSocket media transport, server side. Frames are serialized once per frame
 * (ws-media.ts) and the same bytes are written to every WebSocket viewer.
 *
 * The send queue is the socket's own buffer, bounded by `maxBufferedBytes`: a viewer whose socket
 * cannot keep up (slow link, throttled tab) stops receiving delta frames, asks for a keyframe, and
 * resumes at the next keyframe once its buffer has drained below half the bound. It never slows
 * the other viewers (sends never block) and never grows memory past the bound. Falling behind
 * marks its link "slow" for LINK_HOLD_MS (the stats and its player say why the picture stutters);
 * `onLinkChange` tells it when the mark is set and when it is lifted.
 */

/** How long a viewer that fell behind stays marked slow. */
const LINK_HOLD_MS = 5000;

/** What we need of a server WebSocket (Bun's ServerWebSocket satisfies it). */
export interface BinarySocket {
  /** Bytes sent, −1 if queued under backpressure, 0 if dropped. */
  sendBinary(data: Uint8Array): number;
  getBufferedAmount(): number;
}

export interface WsMediaViewerStats {
  framesSent: number;
  keyframesSent: number;
  /** Delta frames not sent while waiting for a keyframe (join or after falling behind). */
  framesSkipped: number;
  /** Times the viewer fell behind and was moved to the next keyframe. */
  fellBehind: number;
  audioSent: number;
  audioDropped: number;
  bytesSent: number;
}

export class WsMediaViewer {
  readonly id: string;
  readonly viewOnly: boolean;
  readonly connectedAt = Date.now();
  readonly stats: WsMediaViewerStats = { framesSent: 0, keyframesSent: 0, framesSkipped: 0, fellBehind: 0, audioSent: 0, audioDropped: 0, bytesSent: 0 };
  readonly #socket: BinarySocket;
  readonly #maxBuffered: number;
  readonly #onKeyframeNeeded: () => void;
  readonly #onLinkChange: ((quality: "good" | "slow", reason: string | null) => void) | undefined;
  #slowSince: number | undefined;
  #waiting = true;
  #closed = false;

  constructor(options: {
    id: string;
    socket: BinarySocket;
    viewOnly?: boolean;
    maxBufferedBytes?: number;
    onKeyframeNeeded: () => void;
    onLinkChange?: (quality: "good" | "slow", reason: string | null) => void;
  }) {
    this.id = options.id;
    this.viewOnly = options.viewOnly ?? false;
    this.#socket = options.socket;
    this.#maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#onKeyframeNeeded = options.onKeyframeNeeded;
    this.#onLinkChange = options.onLinkChange;
  }

  /** Its link as the stats show it: slow while it fell behind within the last LINK_HOLD_MS. */
  get link(): { quality: "good" | "slow"; reason: string | null } {
    return this.#slowSince === undefined ? { quality: "good", reason: null } : { quality: "slow", reason: this.#slowReason() };
  }

  #slowReason(): string {
    return `its connection did not take the stream (send buffer past ${Math.round(this.#maxBuffered / 1024)} KiB): frames are skipped to the next keyframe`;
  }

  #fellBehind(): void {
    this.#waiting = true;
    this.stats.fellBehind++;
    const first = this.#slowSince === undefined;
    this.#slowSince = performance.now();
    if (first) this.#onLinkChange?.("slow", this.#slowReason());
    this.#onKeyframeNeeded();
  }

  get waitingForKeyframe(): boolean {
    return this.#waiting;
  }

  /** Writes a serialized video message; returns whether it was sent. */
  writeVideo(message: Uint8Array, keyframe: boolean): boolean {
    if (this.#closed) return false;
    const buffered = this.#socket.getBufferedAmount();
    // Behind: drop to the next keyframe instead of queueing without bound.
    if (!this.#waiting && buffered > this.#maxBuffered) this.#fellBehind();
    if (this.#waiting) {
      if (!keyframe || buffered > this.#maxBuffered / 2) {
        this.stats.framesSkipped++;
        return false;
      }
      this.#waiting = false;
    }
    const result = this.#socket.sendBinary(message);
    if (result === 0) {
      this.#fellBehind();
      return false;
    }
    if (keyframe && this.#slowSince !== undefined && performance.now() - this.#slowSince > LINK_HOLD_MS) {
      this.#slowSince = undefined;
      this.#onLinkChange?.("good", null);
    }
    this.stats.framesSent++;
    if (keyframe) this.stats.keyframesSent++;
    this.stats.bytesSent += message.length;
    return true;
  }

  /** Audio is small; it is dropped only while the socket is over its bound. */
  writeAudio(message: Uint8Array): void {
    if (this.#closed) return;
    if (this.#socket.getBufferedAmount() > this.#maxBuffered) {
      this.stats.audioDropped++;
      return;
    }
    if (this.#socket.sendBinary(message) === 0) this.stats.audioDropped++;
    else {
      this.stats.audioSent++;
      this.stats.bytesSent += message.length;
    }
  }

  /** The viewer asked for a keyframe (its decoder lost the reference). */
  resetToKeyframe(): void {
    this.#waiting = true;
  }

  close(): void {
    this.#closed = true;
  }
}
