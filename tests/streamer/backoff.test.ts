import { describe, expect, test } from "bun:test";
import { Backoff } from "../../src/streamer/backoff.ts";
import { LatencyHistogram } from "../../src/streamer/latency-histogram.ts";

describe("Backoff", () => {
  test("doubles from the initial delay up to the cap, jittered into [d/2, d], and resets", () => {
    const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
    expect([1, 2, 3, 4, 5, 6].map(() => high.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    high.reset();
    expect(high.next()).toBe(100);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect([low.next(), low.next()]).toEqual([50, 100]);
  });
});

describe("LatencyHistogram", () => {
  test("percentiles over the most recent samples", () => {
    const h = new LatencyHistogram(100);
    for (let i = 1; i <= 100; i++) h.record(i);
    expect(h.summary()).toEqual({ p50: 51, p99: 100, samples: 100 });
    for (let i = 0; i < 100; i++) h.record(1000); // the ring forgets old samples
    expect(h.percentile(50)).toBe(1000);
  });
});
