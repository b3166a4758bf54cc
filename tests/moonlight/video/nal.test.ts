import { expect, test } from "bun:test";
import { findStartCode, isIdrAccessUnit, splitNalUnits, startCodeLength } from "../../../src/moonlight/video/nal.ts";
import { loadMediaFixture } from "./media-fixtures.ts";

test("start codes of 3 and 4 bytes are recognised only when a NAL header byte follows", () => {
  const b = Uint8Array.of(0, 0, 1, 0x65, 0, 0, 0, 1, 0x41, 0, 0, 1);
  expect(startCodeLength(b, 0, b.length)).toBe(3);
  expect(startCodeLength(b, 4, b.length)).toBe(4);
  expect(startCodeLength(b, 9, b.length)).toBe(0); // nothing after it
  expect(findStartCode(b, 1, b.length)).toBe(4);
  expect(findStartCode(Uint8Array.of(5, 6, 7, 8, 9, 0, 0, 1, 9), 0, 9)).toBe(5);
});

test("the NAL units of the fixture's first H.264 decode unit are SPS, PPS, IDR slice", () => {
  const unit = loadMediaFixture("wolf-h264-clean").expectedFrames[0]!.bytes;
  const nals = splitNalUnits("h264", unit);
  expect(nals.map((n) => n.type)).toEqual([7, 8, 5]);
  expect(nals[0]!.end - nals[0]!.start).toBe(32); // matches the client's SPS:32 buffer
  expect(nals[1]!.end - nals[1]!.start).toBe(9);
});

test("IDR detection follows the client's rule for every decode unit of both codecs", () => {
  for (const [name, codec] of [["wolf-h264-clean", "h264"], ["wolf-hevc-clean", "hevc"]] as const) {
    for (const f of loadMediaFixture(name).expectedFrames) expect(isIdrAccessUnit(codec, f.bytes)).toBe(f.isIdr);
  }
  const hevcIdr = loadMediaFixture("wolf-hevc-clean").expectedFrames[0]!.bytes;
  expect(splitNalUnits("hevc", hevcIdr).slice(0, 4).map((n) => n.type)).toEqual([32, 33, 34, 20]); // VPS, SPS, PPS, IDR_N_LP
});

test("a leading AUD and SEI do not hide a key frame", () => {
  const au = Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x06, 1, 1, 0, 0, 1, 0x67, 0x42);
  expect(isIdrAccessUnit("h264", au)).toBe(true);
  expect(isIdrAccessUnit("h264", Uint8Array.of(0, 0, 0, 1, 0x41, 0x9a))).toBe(false);
});
