import { describe, expect, test } from "bun:test";
import { parseRtcpFeedback } from "../../src/peer/rtcp.ts";

const rr = Uint8Array.of(
  0x81, 201, 0, 7, // RR, one block, 8 words
  0, 0, 0, 1, // sender SSRC
  0, 0, 0, 9, // source SSRC
  0x40, 0, 0, 5, // fraction lost 64/256, cumulative 5
  0, 1, 0, 10, // highest seq
  0, 0, 0, 33, // jitter
  0, 0, 0, 0, 0, 0, 0, 0, // LSR, DLSR
);
const pli = Uint8Array.of(0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 9);
const fir = Uint8Array.of(0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0);
const nack = Uint8Array.of(0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 9, 0xff, 0xfe, 0b00000000, 0b00000101);

describe("parseRtcpFeedback", () => {
  test("a compound RR + PLI asks for a keyframe and reports loss", () => {
    const fb = parseRtcpFeedback(Uint8Array.from([...rr, ...pli]));
    expect(fb.ok).toBe(true);
    expect(fb.keyframeRequested).toBe(true);
    expect(fb.report).toEqual({ fractionLost: 0.25, cumulativeLost: 5, highestSequence: 65546, jitter: 33 });
  });

  test("FIR asks for a keyframe too", () => {
    expect(parseRtcpFeedback(fir).keyframeRequested).toBe(true);
  });

  test("a receiver report alone does not ask for a keyframe", () => {
    expect(parseRtcpFeedback(rr).keyframeRequested).toBe(false);
  });

  test("generic NACK lists the packet id and the bitmask, wrapping at 16 bits", () => {
    expect(parseRtcpFeedback(nack).nackedSequences).toEqual([0xfffe, 0xffff, 1]);
  });

  test("truncated or garbage input is flagged, never thrown", () => {
    expect(parseRtcpFeedback(pli.subarray(0, 7)).ok).toBe(false);
    expect(parseRtcpFeedback(Uint8Array.of(1, 2, 3, 4, 5)).ok).toBe(false);
    const partial = parseRtcpFeedback(Uint8Array.from([...pli, 0x81, 201, 0, 99]));
    expect(partial.keyframeRequested).toBe(true);
    expect(partial.ok).toBe(false);
  });
});

test("serializeNack packs runs into PID + bitmask words that parse back to the same sequences", async () => {
  const { serializeNack } = await import("../../src/peer/rtcp.ts");
  const sequences = [65534, 65535, 0, 3, 100];
  const packet = serializeNack(1, 2, sequences);
  expect(parseRtcpFeedback(packet)).toMatchObject({ ok: true, keyframeRequested: false });
  expect(parseRtcpFeedback(packet).nackedSequences.sort((a, b) => a - b)).toEqual([0, 3, 100, 65534, 65535]);
});

test("a REMB reads back as the receiver's estimate in bits/s (Chromium sends it: our offer has goog-remb)", async () => {
  const { serializeRemb } = await import("../../src/peer/rtcp.ts");
  for (const bps of [0, 250_000, 2_000_000, 123_456_789]) {
    const parsed = parseRtcpFeedback(Uint8Array.from([...rr, ...serializeRemb(1, 9, bps)]));
    expect(parsed.ok).toBe(true);
    expect(parsed.keyframeRequested).toBe(false);
    // 18-bit mantissa: exact below 2^18, within 2^-17 above.
    expect(Math.abs(parsed.rembBps! - bps)).toBeLessThanOrEqual(bps / 2 ** 17);
  }
  // Another FMT 15 message (not "REMB") is skipped.
  const other = serializeRemb(1, 9, 1000);
  other[12] = 0x41;
  expect(parseRtcpFeedback(other).rembBps).toBeUndefined();
});
