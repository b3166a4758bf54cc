/** Percentiles and the one-off clock alignment of the transport-latency benchmark. */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, mean };
}

export interface Alignment {
  /** The streamer child's `performance.timeOrigin` (ms since the epoch), as seen through its frames. */
  originMs: number;
  /** Frames of both lists that agree on it. */
  matches: number;
  /** Spread (max − min) of the matching estimates, ms: the alignment's error bar. */
  spreadMs: number;
}

/**
 * The streamer child stamps each frame twice from one `arrivalUs` (its performance.now() in µs):
 * the WebSocket header carries `timeOrigin + arrivalUs / 1000` (ms since the epoch), the RTP
 * timestamp is `round(arrivalUs × 0.09) mod 2³²` (90 kHz). For the same frame, therefore,
 * `capture − rtp / 90 = timeOrigin` up to the RTP rounding (±1/180 ms). Frames of both transports
 * seen during the same seconds are paired by that coincidence: the offset that most
 * (capture, rtp) pairs agree on, to 0.02 ms, is the child's time origin. Frame arrival times have
 * µs jitter, so a wrong pairing does not line up across frames.
 */
export function alignRtpClock(captureMs: readonly number[], rtp: readonly number[]): Alignment | undefined {
  const BIN = 0.02;
  const counts = new Map<number, number[]>();
  for (const r of rtp) {
    for (const c of captureMs) {
      const origin = c - r / 90;
      const bin = Math.round(origin / BIN);
      let list = counts.get(bin);
      if (!list) counts.set(bin, (list = []));
      list.push(origin);
    }
  }
  let best: number[] | undefined;
  for (const [bin, list] of counts) {
    const withNeighbours = [...list, ...(counts.get(bin + 1) ?? [])];
    if (!best || withNeighbours.length > best.length) best = withNeighbours;
  }
  if (!best || best.length < 10) return undefined;
  const sorted = best.sort((a, b) => a - b);
  return { originMs: sorted[Math.floor(sorted.length / 2)]!, matches: sorted.length, spreadMs: sorted.at(-1)! - sorted[0]! };
}

/** Maps an RTP timestamp of the stream to the gateway's capture time (ms since the epoch). */
export function rtpToCaptureMs(rtp: number, alignment: Alignment): number {
  // No wrap: 2³² / 90 kHz is 13 h of the child's uptime.
  return alignment.originMs + rtp / 90;
}
