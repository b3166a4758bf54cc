/**
 * Exponential backoff with full jitter for reconnects and restarts: 0.5 s, 1 s, 2 s … capped at
 * `maxMs`, each delay drawn uniformly from [delay/2, delay] so that many streamers of one host do
 * not retry in lockstep.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  #attempt = 0;
  readonly #random: () => number;

  constructor(options: { initialMs?: number; maxMs?: number; random?: () => number } = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  /** After a success: start again from the initial delay. */
  reset(): void {
    this.#attempt = 0;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
