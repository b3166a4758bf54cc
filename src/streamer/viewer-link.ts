/**
 * How good one viewer's link is, from what it tells us: RTCP receiver reports (fraction lost),
 * REMB (the receiver's bandwidth estimate, sent by Chromium when `goog-remb` is negotiated, as our
 * offer does) and how often it loses its picture (keyframe requests). The verdict says why its
 * picture is poor and how it is served:
 *
 * - "slow": it loses packets and its estimate is below the stream's bitrate. Delta frames would
 *   only queue and be lost, so it gets keyframes only (a still picture each time one goes out) for
 *   `holdMs`, then the whole stream again. A low estimate alone is not enough: Chromium's REMB
 *   starts low and grows only with what it receives, so it would keep a viewer on keyframes only
 *   for good (and mark every browser slow as it joins).
 * - "lossy": it loses packets (≥ `lossThreshold` in a report, or ≥ `requestsToMark` keyframe
 *   requests within `windowMs`). After each unrecoverable loss it waits for the next keyframe and
 *   its own requests are limited (viewer-keyframe-policy.ts), so the others do not pay for it.
 * - "good".
 *
 * A mark holds for `holdMs` after the last sign of trouble: receivers report about once a second,
 * and a link that just recovered should show it for a while before it is trusted again.
 */
export type LinkQuality = "good" | "lossy" | "slow";

export interface LinkVerdict {
  quality: LinkQuality;
  /** Why the picture is poor, in words for the stats and the player (null when good). */
  reason: string | null;
  /** Only keyframes are sent to it. */
  keyframes_only: boolean;
  /** From its last receiver report (0–1), null before one. */
  fraction_lost: number | null;
  /** Its last bandwidth estimate (REMB), null if it sends none. */
  remb_kbps: number | null;
  /** Keyframe requests (PLI, FIR, its player's) within the last window. */
  recent_keyframe_requests: number;
}

export interface ViewerLinkOptions {
  lossThreshold?: number;
  requestsToMark?: number;
  windowMs?: number;
  holdMs?: number;
  /**
   * A slow link is one whose estimate is below this share of the stream's bitrate. Half, not 90 %:
   * behind 2 Mbit/s with 5 % loss Chromium estimated 0.9–1.0 Mbit/s for a 1.4 Mbit/s stream it was
   * playing at 38 fps (NACKs answered): its REMB undershoots under loss, and keyframes only would
   * have cost it that picture.
   */
  slowShare?: number;
  now?: () => number;
}

const percent = (fraction: number) => `${Math.round(fraction * 100)} %`;
const mbps = (bps: number) => `${(bps / 1e6).toFixed(1)} Mbit/s`;

export class ViewerLink {
  readonly #lossThreshold: number;
  readonly #requestsToMark: number;
  readonly #windowMs: number;
  readonly #holdMs: number;
  readonly #slowShare: number;
  readonly #now: () => number;
  #fractionLost: number | null = null;
  #lossyUntil = Number.NEGATIVE_INFINITY;
  #worstLoss = 0;
  #rembBps: number | null = null;
  #slowUntil = Number.NEGATIVE_INFINITY;
  /** Times of recent keyframe requests, oldest first (at most `requestsToMark` kept). */
  readonly #requests: number[] = [];

  constructor(options: ViewerLinkOptions = {}) {
    this.#lossThreshold = options.lossThreshold ?? 0.05;
    this.#requestsToMark = options.requestsToMark ?? 3;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#holdMs = options.holdMs ?? 5000;
    this.#slowShare = options.slowShare ?? 0.5;
    this.#now = options.now ?? (() => performance.now());
  }

  /** A receiver report's fraction lost (0–1), judged with its last estimate against the stream's bitrate. */
  report(fractionLost: number, streamBps: number): void {
    this.#fractionLost = fractionLost;
    if (fractionLost < this.#lossThreshold) return;
    this.#markLossy(fractionLost);
    if (this.#rembBps !== null && streamBps > 0 && this.#rembBps < streamBps * this.#slowShare) this.#slowUntil = this.#now() + this.#holdMs;
  }

  /** A REMB estimate (bits/s). */
  remb(bps: number): void {
    this.#rembBps = bps;
  }

  /** The viewer lost its picture (PLI, FIR, its player asked). */
  keyframeRequest(): void {
    const now = this.#now();
    this.#requests.push(now);
    if (this.#requests.length > this.#requestsToMark) this.#requests.shift();
    if (this.#requests.length >= this.#requestsToMark && now - this.#requests[0]! <= this.#windowMs) this.#markLossy(this.#fractionLost ?? 0);
  }

  /** Cheap (per frame): only keyframes go to it now. */
  get keyframesOnly(): boolean {
    return this.#rembBps !== null && this.#now() < this.#slowUntil;
  }

  verdict(streamBps: number, keyframeIntervalMs: number): LinkVerdict {
    const now = this.#now();
    const recent = this.#requests.filter((at) => now - at <= this.#windowMs).length;
    const base = {
      fraction_lost: this.#fractionLost,
      remb_kbps: this.#rembBps === null ? null : Math.round(this.#rembBps / 1000),
      recent_keyframe_requests: recent,
    };
    if (now < this.#slowUntil && this.#rembBps !== null) {
      return {
        quality: "slow",
        reason: `its link carries about ${mbps(this.#rembBps)}, the stream needs ${mbps(streamBps)}: it gets keyframes only`,
        keyframes_only: true,
        ...base,
      };
    }
    if (now < this.#lossyUntil) {
      const loss = this.#worstLoss > 0 ? `it loses packets (${percent(this.#worstLoss)} in a report)` : `it lost its picture ${recent} times in ${Math.round(this.#windowMs / 1000)} s`;
      return {
        quality: "lossy",
        reason: `${loss}: after a loss it waits for the next keyframe, asked for at most every ${(keyframeIntervalMs / 1000).toFixed(1)} s`,
        keyframes_only: false,
        ...base,
      };
    }
    this.#worstLoss = 0;
    return { quality: "good", reason: null, keyframes_only: false, ...base };
  }

  #markLossy(fractionLost: number): void {
    const now = this.#now();
    if (now >= this.#lossyUntil) this.#worstLoss = 0;
    this.#worstLoss = Math.max(this.#worstLoss, fractionLost);
    this.#lossyUntil = now + this.#holdMs;
  }
}
