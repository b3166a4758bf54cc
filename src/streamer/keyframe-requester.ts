/**
 * Asks the host for an IDR on behalf of many viewers, coalesced: GameStream hosts send a keyframe
 * only when asked (infinite GOP), and every joining viewer, every PLI and every loss asks for one.
 * At most one request goes to the host per `minIntervalMs`; a request inside that window is
 * deferred to its end, not dropped. While someone still waits (`isWaiting()`), the request is
 * repeated every `retryMs` until a keyframe arrives.
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
  /** Requests asked for by callers. */
  asked = 0;
  /** Requests that reached the host. */
  sent = 0;

  constructor(options: KeyframeRequesterOptions) {
    this.#send = options.send;
    this.#isWaiting = options.isWaiting;
    this.#minIntervalMs = options.minIntervalMs ?? 150;
    this.#retryMs = options.retryMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  request(): void {
    if (this.#closed) return;
    this.asked++;
    if (this.#deferred) return; // one is already on its way
    const wait = this.#lastSentAt + this.#minIntervalMs - this.#now();
    if (wait <= 0) this.#fire();
    else this.#deferred = setTimeout(() => this.#fire(), wait);
  }

  /** A keyframe went out to the viewers: nobody needs the retry any more (unless still waiting). */
  keyframeArrived(): void {
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
