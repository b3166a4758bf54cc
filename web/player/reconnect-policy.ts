/**
 * When to try again after the viewer's connection dropped: exponential back-off with jitter,
 * reset once media flows again. Small and injectable so the player's tests can shorten it.
 */
export interface ReconnectPolicy {
  /** Delay before attempt number `attempt` (1-based). */
  delayMs(attempt: number): number;
}

export class BackoffPolicy implements ReconnectPolicy {
  constructor(
    readonly baseMs = 500,
    readonly maxMs = 10_000,
  ) {}

  delayMs(attempt: number): number {
    const exponential = Math.min(this.maxMs, this.baseMs * 2 ** Math.max(0, attempt - 1));
    // ±20 % so that many viewers dropped by one blip do not come back in lockstep.
    return Math.round(exponential * (0.8 + Math.random() * 0.4));
  }
}
