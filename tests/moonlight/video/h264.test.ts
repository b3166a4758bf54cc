import { expect, test } from "bun:test";
import { findH264Profile, parseH264SpsProfile, readRbsp } from "../../../src/moonlight/video/h264.ts";
import { loadMediaFixture } from "./media-fixtures.ts";

test("the Wolf fixture's SPS says High profile with its level", () => {
  const profile = findH264Profile(loadMediaFixture("wolf-h264-clean").expectedFrames[0]!.bytes)!;
  expect(profile.profileIdc).toBe(100);
  expect(profile.profileLevelId).toBe("64001e"); // High, level 3.0 (640×360)
});

test("emulation-prevention bytes are removed before reading", () => {
  expect(Array.from(readRbsp(Uint8Array.of(0, 0, 3, 1, 0, 0, 3, 0), 0, 8, 8))).toEqual([0, 0, 1, 0, 0, 0]);
  expect(parseH264SpsProfile(Uint8Array.of(0x67, 0x42, 0xc0, 0x2a, 0xff))!.profileLevelId).toBe("42c02a");
  expect(parseH264SpsProfile(Uint8Array.of(0x68, 0x42, 0xc0, 0x2a))).toBeNull();
  expect(findH264Profile(Uint8Array.of(0, 0, 1, 0x41, 0x9a))).toBeNull();
});
