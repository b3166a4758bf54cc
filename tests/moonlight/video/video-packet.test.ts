import { expect, test } from "bun:test";
import {
  createVideoPacketHeader,
  fecInfoWord,
  isBefore16,
  isBefore24,
  parityShardCount,
  parseFrameHeader,
  parseVideoPacketHeader,
  serializeFrameHeader,
  writeNvVideoHeader,
  writeRtpVideoHeader,
  writeU32le,
} from "../../../src/moonlight/video/video-packet.ts";
import { hex, loadMediaFixture } from "./media-fixtures.ts";

test("serialized headers parse back to the same fields", () => {
  const d = new Uint8Array(1408);
  writeRtpVideoHeader(d, 0xabcd, 0x12345678);
  writeNvVideoHeader(d, 0x123456, 77, 0x05, 2, 3);
  writeU32le(d, 28, fecInfoWord(5, 100, 20));
  const h = createVideoPacketHeader();
  expect(parseVideoPacketHeader(d, h)).toBeNull();
  expect(h).toMatchObject({ sequenceNumber: 0xabcd, timestamp: 0x12345678, streamPacketIndex: 0x123456, frameIndex: 77, flags: 5, blockIndex: 2, lastBlockIndex: 3, dataShards: 100, shardIndex: 5, fecPercentage: 20 });
});

test("Wolf's first datagram parses as frame 0, 9 data shards at 20 %", () => {
  const first = loadMediaFixture("wolf-h264-clean").video[0]!.payload;
  const h = createVideoPacketHeader();
  expect(parseVideoPacketHeader(first, h)).toBeNull();
  expect(h).toMatchObject({ sequenceNumber: 0, frameIndex: 0, flags: 5, dataShards: 9, shardIndex: 0, fecPercentage: 20 });
  expect(parseFrameHeader(first, 32, first.length)).toEqual({ size: 8, frameType: 2, hostProcessingLatency: 0, lastPayloadLength: 0x174 });
});

test("defects are reported, not thrown", () => {
  const h = createVideoPacketHeader();
  expect(parseVideoPacketHeader(new Uint8Array(31), h)).toBe("truncated");
  expect(parseVideoPacketHeader(new Uint8Array(32), h)).toBe("not-rtp-v2-with-extension");
  const d = new Uint8Array(32);
  d[0] = 0x90;
  expect(parseVideoPacketHeader(d, h)).toBe("bad-fec-info");
});

test("frame header, parity counts and serial comparisons", () => {
  expect(hex(serializeFrameHeader(2, 38))).toBe("0100000226000000");
  expect(parseFrameHeader(Uint8Array.of(0x81, 0, 0, 1, 0, 0), 0, 6)).toBeNull(); // announces 24 bytes
  expect([parityShardCount(1, 200), parityShardCount(212, 20), parityShardCount(3, 66), parityShardCount(5, 0)]).toEqual([2, 43, 2, 0]);
  expect(isBefore16(0xfffe, 1)).toBe(true);
  expect(isBefore16(1, 0xfffe)).toBe(false);
  expect(isBefore24(0xffffff, 0)).toBe(true);
});
