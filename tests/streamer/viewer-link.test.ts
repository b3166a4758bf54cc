import { describe, expect, test } from "bun:test";
import { StreamBitrate } from "../../src/streamer/stream-bitrate.ts";
import { ViewerLink } from "../../src/streamer/viewer-link.ts";

function linkWith() {
  let now = 0;
  const link = new ViewerLink({ now: () => now, holdMs: 5000, windowMs: 10_000, requestsToMark: 3 });
  return { link, advance: (ms: number) => (now += ms) };
}

describe("ViewerLink", () => {
  test("a clean link is good and says nothing", () => {
    const { link } = linkWith();
    link.report(0.01, 8e6);
    link.remb(20e6);
    expect(link.verdict(8e6, 3000)).toMatchObject({ quality: "good", reason: null, keyframes_only: false, fraction_lost: 0.01, remb_kbps: 20000 });
  });

  test("a report with 5 % loss marks it lossy, with the loss and the keyframe interval in the reason; it clears after the hold", () => {
    const { link, advance } = linkWith();
    link.report(12 / 256, 8e6);
    expect(link.verdict(8e6, 3000).quality).toBe("good"); // 4.7 %: under the threshold
    link.report(0.08, 8e6);
    const verdict = link.verdict(8e6, 3000);
    expect(verdict.quality).toBe("lossy");
    expect(verdict.reason).toContain("8 %");
    expect(verdict.reason).toContain("3.0 s");
    advance(5001);
    link.report(0, 8e6);
    expect(link.verdict(8e6, 3000).quality).toBe("good");
  });

  test("three lost pictures within the window mark it lossy even without receiver reports", () => {
    const { link, advance } = linkWith();
    link.keyframeRequest();
    advance(4000);
    link.keyframeRequest();
    expect(link.verdict(1e6, 3000).quality).toBe("good");
    advance(4000);
    link.keyframeRequest();
    expect(link.verdict(1e6, 3000)).toMatchObject({ quality: "lossy", recent_keyframe_requests: 3 });
    expect(link.verdict(1e6, 3000).reason).toContain("lost its picture 3 times");
  });

  test("loss with an estimate below the stream's bitrate means keyframes only, for the hold; then the whole stream again", () => {
    const { link, advance } = linkWith();
    link.remb(2e6);
    link.report(0.01, 8e6);
    // A low estimate without loss is not slow: Chromium's REMB starts low and grows with what it gets.
    expect(link.keyframesOnly).toBe(false);
    expect(link.verdict(8e6, 3000).quality).toBe("good");
    link.report(0.2, 8e6);
    expect(link.keyframesOnly).toBe(true);
    const verdict = link.verdict(8e6, 3000);
    expect(verdict).toMatchObject({ quality: "slow", keyframes_only: true, remb_kbps: 2000 });
    expect(verdict.reason).toContain("2.0 Mbit/s");
    expect(verdict.reason).toContain("8.0 Mbit/s");
    // Keyframes only, little arrives and little is lost: after the hold it gets the whole stream again.
    advance(1000);
    link.report(0, 8e6);
    advance(4500);
    expect(link.keyframesOnly).toBe(false);
    expect(link.verdict(8e6, 3000).quality).toBe("good"); // both marks end with the hold
  });
});

test("StreamBitrate reads the last whole second, and 0 after a silent one", () => {
  let now = 0;
  const rate = new StreamBitrate(() => now);
  for (let i = 0; i < 60; i++) {
    rate.add(10_000);
    now += 1000 / 60;
  }
  now += 1;
  expect(rate.bps).toBeGreaterThan(4.7e6);
  expect(rate.bps).toBeLessThan(4.9e6);
  now += 3000;
  expect(rate.bps).toBe(0);
});
