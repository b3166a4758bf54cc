/**
 * Whose keyframe request reaches the host, per viewer. A GameStream host sends an IDR only when
 * asked, and that IDR (tens to hundreds of kB) goes to every viewer: one viewer on a lossy link that
 * asked after each loss would raise everyone's keyframe rate and bitrate. So a viewer's keyframe need
 * is its own:
 *
 * - A viewer that joins is served at once (its first picture must be prompt).
 * - A viewer that lost its reference waits for the next IDR, whoever caused it (the fan-out skips
 *   its delta frames meanwhile); its own request is passed on at most once per `intervalMs`. A
 *   request inside its interval is deferred to the interval's end and dropped if an IDR came first.
 * - A viewer alone on the stream is never limited: nobody else pays for its keyframes.
 *
 * What passes goes to the host through the streamer's coalescing KeyframeRequester, which also
 * repeats it while a viewer whose request was passed on still has no keyframe (`hasGrantedWaiting`):
 * a deferred viewer does not keep those repeats going.
 */
export type KeyframeNeed = "join" | "loss";

export interface ViewerKeyframeState {
  /** Requests this viewer made (PLI, FIR, its player's own ask, joins). */
  asked: number;
  /** Requests passed on to the host. */
  granted: number;
  /** Requests held back because the viewer had asked within its interval. */
  deferred: number;
  /** A request of this viewer is held back right now. */
  holding: boolean;
}

export interface ViewerKeyframePolicyOptions {
  /** Passes a request on (to the coalescing KeyframeRequester). */
  requestFromHost: () => void;
  /** A viewer's requests after a loss reach the host at most once per this many ms. */
  intervalMs: number;
  /** How many viewers other than `id` receive video now. */
  othersWatching: (id: string) => number;
  now?: () => number;
}

interface ViewerEntry extends ViewerKeyframeState {
  lastGrantedAt: number;
  /** Granted and no keyframe went out since. */
  awaiting: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class ViewerKeyframePolicy {
  readonly #options: ViewerKeyframePolicyOptions;
  readonly #now: () => number;
  readonly #viewers = new Map<string, ViewerEntry>();
  #closed = false;

  constructor(options: ViewerKeyframePolicyOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get intervalMs(): number {
    return this.#options.intervalMs;
  }

  add(id: string): void {
    if (!this.#viewers.has(id)) {
      this.#viewers.set(id, { asked: 0, granted: 0, deferred: 0, holding: false, lastGrantedAt: Number.NEGATIVE_INFINITY, awaiting: false, timer: undefined });
    }
  }

  remove(id: string): void {
    const entry = this.#viewers.get(id);
    if (entry?.timer) clearTimeout(entry.timer);
    this.#viewers.delete(id);
  }

  /** Viewer `id` needs a keyframe. Returns whether the request went on now. */
  request(id: string, need: KeyframeNeed): boolean {
    const entry = this.#viewers.get(id);
    if (!entry || this.#closed) return false;
    entry.asked++;
    if (entry.awaiting) return false; // already passed on; the requester repeats it until served
    const wait = entry.lastGrantedAt + this.#options.intervalMs - this.#now();
    if (need === "join" || wait <= 0 || this.#options.othersWatching(id) === 0) {
      this.#grant(id, entry);
      return true;
    }
    if (!entry.holding) {
      entry.holding = true;
      entry.deferred++;
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (entry.holding && this.#viewers.get(id) === entry) this.#grant(id, entry);
      }, wait);
    }
    return false;
  }

  /** An IDR went out to the viewers: every need is met, held requests are dropped. */
  keyframeSent(): void {
    for (const entry of this.#viewers.values()) {
      entry.awaiting = false;
      entry.holding = false;
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  /** Viewer `id`'s request was passed on and no keyframe has gone out since. */
  awaiting(id: string): boolean {
    return this.#viewers.get(id)?.awaiting === true;
  }

  /** Some viewer's request was passed on and no keyframe has gone out since. */
  hasGrantedWaiting(): boolean {
    for (const entry of this.#viewers.values()) if (entry.awaiting) return true;
    return false;
  }

  state(id: string): ViewerKeyframeState | undefined {
    const entry = this.#viewers.get(id);
    return entry ? { asked: entry.asked, granted: entry.granted, deferred: entry.deferred, holding: entry.holding } : undefined;
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#viewers.values()) if (entry.timer) clearTimeout(entry.timer);
    this.#viewers.clear();
  }

  #grant(id: string, entry: ViewerEntry): void {
    entry.holding = false;
    entry.awaiting = true;
    entry.granted++;
    entry.lastGrantedAt = this.#now();
    this.#options.requestFromHost();
  }
}
