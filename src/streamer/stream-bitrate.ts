/**
 * The stream's video bitrate as it arrives from the host, over the last whole second (a viewer's
 * bandwidth estimate is judged against it). Cheap per frame: a counter, and a swap once a second.
 */
export class StreamBitrate {
  readonly #now: () => number;
  #windowStart: number;
  #bytes = 0;
  #bps = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#windowStart = now();
  }

  /** Bits per second over the last whole second (0 before one has passed). */
  get bps(): number {
    this.#roll();
    return this.#bps;
  }

  add(bytes: number): void {
    this.#roll();
    this.#bytes += bytes;
  }

  #roll(): void {
    const elapsed = this.#now() - this.#windowStart;
    if (elapsed < 1000) return;
    // A window with no frames at all (the host paused) reads as 0, not as the last busy second.
    this.#bps = elapsed < 2000 ? Math.round((this.#bytes * 8 * 1000) / elapsed) : 0;
    this.#bytes = 0;
    this.#windowStart = this.#now();
  }
}
