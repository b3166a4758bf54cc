/**
 * Notices viewers that went silent (src/peer/heartbeat.ts). Each watched viewer reports when it was
 * last heard from (performance.now() ms, 0 = not watching yet, e.g. its data channel is not open);
 * a periodic check turns it stale after `silenceMs` and back as soon as it is heard again. Polled
 * rather than timed per message: the per-packet input path only stores a number.
 */
import { VIEWER_SILENCE_MS } from "../peer/heartbeat.ts";

/** The check's period: adds at most this much to the silence before a viewer is noticed. */
const CHECK_INTERVAL_MS = 250;

interface Watched {
  lastHeardAt: () => number;
  stale: boolean;
}

export interface ViewerLivenessOptions {
  silenceMs?: number;
  onStale: (id: string, silentMs: number) => void;
  onBack: (id: string) => void;
}

export class ViewerLiveness {
  readonly #options: ViewerLivenessOptions;
  readonly #silenceMs: number;
  readonly #watched = new Map<string, Watched>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastCheckAt = performance.now();

  constructor(options: ViewerLivenessOptions) {
    this.#options = options;
    this.#silenceMs = options.silenceMs ?? VIEWER_SILENCE_MS;
  }

  watch(id: string, lastHeardAt: () => number): void {
    this.#watched.set(id, { lastHeardAt, stale: false });
    this.#timer ??= setInterval(() => this.check(), CHECK_INTERVAL_MS);
  }

  unwatch(id: string): void {
    this.#watched.delete(id);
    if (this.#watched.size === 0) this.#stopTimer();
  }

  isStale(id: string): boolean {
    return this.#watched.get(id)?.stale === true;
  }

  check(now = performance.now()): void {
    // Our own event loop stalled (GC, a blocked turn): the viewers' messages are waiting in the
    // socket buffers, unread. Judging them now would call live viewers silent.
    const stalled = now - this.#lastCheckAt > CHECK_INTERVAL_MS * 4;
    this.#lastCheckAt = now;
    for (const [id, watched] of this.#watched) {
      const heard = watched.lastHeardAt();
      if (heard <= 0) continue;
      const silent = now - heard;
      if (!watched.stale && silent > this.#silenceMs && !stalled) {
        watched.stale = true;
        this.#options.onStale(id, silent);
      } else if (watched.stale && silent <= this.#silenceMs) {
        watched.stale = false;
        this.#options.onBack(id);
      }
    }
  }

  /** Idempotent. */
  close(): void {
    this.#watched.clear();
    this.#stopTimer();
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
