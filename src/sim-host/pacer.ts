/**
 * A drift-free periodic timer for the simulated host's senders (video frames at the session fps,
 * audio packets every packet duration).
 *
 * Why not setInterval: its error accumulates (each period starts when the previous callback ran),
 * so 5 ms audio drifts by several percent. Here tick n is due at `start + n × interval` on the
 * performance.now() clock; each wake-up runs every tick that is due (a short burst after a stall,
 * as a real encoder's queue would drain) and sleeps until the next deadline. After a long stall
 * (more than `maxBurst` periods behind) the schedule restarts from now instead of bursting.
 */

export interface PacerOptions {
  /** Period in milliseconds (> 0). */
  intervalMs: number;
  /** Called once per period with the tick number (0, 1, 2, …). Exceptions are caught by the caller's tick. */
  tick: (index: number) => void;
  /** Most ticks run back to back after a stall; beyond that the schedule is reset. Default 8. */
  maxBurst?: number;
}

export interface PacerStats {
  ticks: number;
  /** Ticks dropped by a schedule reset after a long stall. */
  skipped: number;
}

export class Pacer {
  readonly stats: PacerStats = { ticks: 0, skipped: 0 };
  readonly #intervalMs: number;
  readonly #tick: (index: number) => void;
  readonly #maxBurst: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #next = 0;
  #index = 0;
  #running = false;

  constructor(options: PacerOptions) {
    if (!(options.intervalMs > 0) || !Number.isFinite(options.intervalMs)) throw new RangeError(`pacer interval ${options.intervalMs} ms`);
    this.#intervalMs = options.intervalMs;
    this.#tick = options.tick;
    this.#maxBurst = Math.max(1, options.maxBurst ?? 8);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts ticking; the first tick runs at once. Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#next = performance.now();
    this.#run();
  }

  /** Stops ticking (a later start() resumes the tick numbering). Idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #run(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = performance.now();
    const behind = Math.floor((now - this.#next) / this.#intervalMs);
    if (behind > this.#maxBurst) {
      this.stats.skipped += behind;
      this.#index += behind;
      this.#next += behind * this.#intervalMs;
    }
    let burst = 0;
    while (this.#running && this.#next <= now && burst < this.#maxBurst) {
      const index = this.#index++;
      this.#next += this.#intervalMs;
      this.stats.ticks++;
      burst++;
      this.#tick(index);
    }
    if (!this.#running) return;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, this.#next - performance.now()));
  }
}
