/**
 * A fixed-size ring of recent latency samples (ms) with percentiles on demand: recording is one
 * array write, the sort happens only when someone asks (status endpoint, benchmark).
 */
export class LatencyHistogram {
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;

  constructor(capacity = 4096) {
    this.#samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count++;
  }

  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const sorted = this.#samples.slice(0, this.#count).sort();
    return sorted[Math.min(this.#count - 1, Math.floor((p / 100) * this.#count))]!;
  }

  summary(): { p50: number; p99: number; samples: number } {
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return { p50: round(this.percentile(50)), p99: round(this.percentile(99)), samples: this.#count };
  }

  reset(): void {
    this.#count = 0;
    this.#next = 0;
  }
}
