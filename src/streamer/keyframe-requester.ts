/**
 * Asks the host for an IDR on behalf of many viewers, coalesced: GameStream hosts send a keyframe
 * only when asked (infinite GOP), and every joining viewer, every PLI and every loss asks for one.
 * At most one request goes to the host per `minIntervalMs`; a request inside that window is
 * deferred to its end, not dropped. While someone still waits (`isWaiting()`), the request is
 * repeated every `retryMs` until a keyframe arrives — never given up.
 *
 * Why the retry is short (150 ms, not 1 s): a host starts a requested keyframe within a frame
 * interval or two (Sunshine takes the request before its next encode, video.cpp), so a keyframe
 * that has not come after ~150 ms was not coming: a real Sunshine sometimes leaves a request
 * unanswered, and with a 1 s retry those joiners waited 1.0–1.1 s (docs/hosts.md). A request that
 * reaches Sunshine while another is pending collapses into it, so asking again costs no extra IDR.
 */
export interface KeyframeRequesterOptions {
  /** Sends the IDR request to the host. */
  send: () => void;
  /** Whether any viewer still waits for a keyframe. */
  isWaiting: () => boolean;
  minIntervalMs?: number;
  retryMs?: number;
  now?: () => number;
}

export class KeyframeRequester {
  readonly #send: () => void;
  readonly #isWaiting: () => boolean;
  readonly #minIntervalMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #deferred: ReturnType<typeof setTimeout> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #waitingSince: number | undefined;
  #sentAtWaitStart = 0;
  /** Requests asked for by callers. */
  asked = 0;
  /** Requests that reached the host. */
  sent = 0;

  constructor(options: KeyframeRequesterOptions) {
    this.#send = options.send;
    this.#isWaiting = options.isWaiting;
    this.#minIntervalMs = options.minIntervalMs ?? 100;
    this.#retryMs = options.retryMs ?? 150;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Why a viewer has no picture yet, for the stats (undefined when nobody waits). */
  waitState(): { waiting_ms: number; requests_sent: number; reason: string } | undefined {
    if (this.#waitingSince === undefined || !this.#isWaiting()) return undefined;
    const sent = this.sent - this.#sentAtWaitStart;
    return {
      waiting_ms: Math.round(this.#now() - this.#waitingSince),
      requests_sent: sent,
      reason: sent === 0 ? "keyframe request not sent yet (coalescing)" : sent === 1 ? "asked the host for a keyframe; waiting for it" : `the host did not answer ${sent - 1} keyframe request(s); asking again every ${this.#retryMs} ms`,
    };
  }

  request(): void {
    if (this.#closed) return;
    this.asked++;
    if (this.#waitingSince === undefined) {
      this.#waitingSince = this.#now();
      this.#sentAtWaitStart = this.sent;
    }
    if (this.#deferred) return; // one is already on its way
    const wait = this.#lastSentAt + this.#minIntervalMs - this.#now();
    if (wait <= 0) this.#fire();
    else this.#deferred = setTimeout(() => this.#fire(), wait);
  }

  /** A keyframe went out to the viewers: nobody needs the retry any more (unless still waiting). */
  keyframeArrived(): void {
    if (!this.#isWaiting()) this.#waitingSince = undefined;
    if (this.#retry && !this.#isWaiting()) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#deferred) clearTimeout(this.#deferred);
    if (this.#retry) clearTimeout(this.#retry);
    this.#deferred = this.#retry = undefined;
  }

  #fire(): void {
    this.#deferred = undefined;
    if (this.#closed) return;
    this.#lastSentAt = this.#now();
    this.sent++;
    this.#send();
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#isWaiting()) this.request();
    }, this.#retryMs);
  }
}
