/**
 * The GameStream video datagram header (reference §5.2) and the frame header that starts the
 * first payload of every frame (§5.3).
 *
 * Datagram (unencrypted), B = packetSize + 16 bytes:
 *
 *   0       1       2       3       4               8              12              16
 *   +-------+-------+-------+-------+---------------+---------------+---------------+
 *   | 0x90  | PT(0) | seq u16be     | timestamp u32be (90 kHz)      | ssrc u32be    | 4 reserved
 *   +-------+-------+-------+-------+---------------+---------------+---------------+
 *  16               20              24      25      26      27      28              32
 *   | streamPacketIndex u32le (<<8) | frameIndex u32le | flags | extra | 0x10 | blocks | fecInfo u32le |
 *   +---------------------------------------------------------------------------------+
 *  32 payload (packetSize − 16 bytes; the first data packet of a frame starts with the frame header)
 *
 * blocks: bits 4–5 = this FEC block's index, bits 6–7 = index of the frame's last block.
 * fecInfo: bits 22–31 data shards D, 12–21 shard index, 4–11 FEC percentage.
 *
 * Parsing fills a caller-owned {@link VideoPacketHeader} (no allocation on the receive path).
 */

export const RTP_HEADER_SIZE = 16; // 12-byte RTP header + the 4 bytes the extension bit announces
export const NV_HEADER_SIZE = 16;
/** Bytes before the payload in every video datagram. */
export const VIDEO_HEADER_SIZE = RTP_HEADER_SIZE + NV_HEADER_SIZE;

export const RTP_VERSION_2_WITH_EXTENSION = 0x90;
const RTP_EXTENSION_BIT = 0x10;

export const FLAG_CONTAINS_PIC_DATA = 0x01;
export const FLAG_EOF = 0x02;
export const FLAG_SOF = 0x04;
export const KNOWN_FLAGS = FLAG_CONTAINS_PIC_DATA | FLAG_EOF | FLAG_SOF;
export const EXTRA_FLAG_LTR_FRAME = 0x01;
export const MULTI_FEC_FLAGS = 0x10;

/** Largest data-shard count the 10-bit fields can carry. */
export const MAX_DATA_SHARDS_PER_BLOCK = 1023;
export const MAX_FEC_BLOCKS = 4;

export interface VideoPacketHeader {
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** 24-bit packet counter (the wire value >> 8). */
  streamPacketIndex: number;
  frameIndex: number;
  flags: number;
  extraFlags: number;
  multiFecFlags: number;
  blockIndex: number;
  lastBlockIndex: number;
  dataShards: number;
  shardIndex: number;
  fecPercentage: number;
}

export function createVideoPacketHeader(): VideoPacketHeader {
  return {
    sequenceNumber: 0,
    timestamp: 0,
    ssrc: 0,
    streamPacketIndex: 0,
    frameIndex: 0,
    flags: 0,
    extraFlags: 0,
    multiFecFlags: MULTI_FEC_FLAGS,
    blockIndex: 0,
    lastBlockIndex: 0,
    dataShards: 0,
    shardIndex: 0,
    fecPercentage: 0,
  };
}

/** Why a datagram was not a video packet. `null` from the parser means "fine". */
export type VideoPacketDefect = "truncated" | "not-rtp-v2-with-extension" | "bad-fec-info";

/**
 * Reads the 32-byte header of `datagram` (starting at `offset`) into `out`. Returns a defect
 * name instead of throwing, because malformed datagrams are counted and dropped by callers.
 * Flags are not checked here: in parity shards bytes 16–19 and 24–25 hold parity, not fields.
 */
export function parseVideoPacketHeader(datagram: Uint8Array, out: VideoPacketHeader, offset = 0): VideoPacketDefect | null {
  if (datagram.length - offset < VIDEO_HEADER_SIZE) return "truncated";
  const b = datagram;
  const o = offset;
  const b0 = b[o]!;
  // Version 2 in the top two bits; the client needs the extension bit to find the NV header.
  if (b0 >> 6 !== 2 || (b0 & RTP_EXTENSION_BIT) === 0) return "not-rtp-v2-with-extension";
  out.sequenceNumber = (b[o + 2]! << 8) | b[o + 3]!;
  out.timestamp = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
  out.ssrc = ((b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!) >>> 0;
  out.streamPacketIndex = (b[o + 17]! | (b[o + 18]! << 8) | (b[o + 19]! << 16)) >>> 0;
  out.frameIndex = (b[o + 20]! | (b[o + 21]! << 8) | (b[o + 22]! << 16) | (b[o + 23]! << 24)) >>> 0;
  out.flags = b[o + 24]!;
  out.extraFlags = b[o + 25]!;
  out.multiFecFlags = b[o + 26]!;
  const blocks = b[o + 27]!;
  out.blockIndex = (blocks >> 4) & 0x3;
  out.lastBlockIndex = (blocks >> 6) & 0x3;
  const fecInfo = (b[o + 28]! | (b[o + 29]! << 8) | (b[o + 30]! << 16) | (b[o + 31]! << 24)) >>> 0;
  out.dataShards = fecInfo >>> 22;
  out.shardIndex = (fecInfo >>> 12) & 0x3ff;
  out.fecPercentage = (fecInfo >>> 4) & 0xff;
  if (out.dataShards === 0 || out.blockIndex > out.lastBlockIndex) return "bad-fec-info";
  return null;
}

/** Writes the RTP part (bytes 0–15): 0x90, PT 0, sequence, timestamp, SSRC, 4 reserved zeros. */
export function writeRtpVideoHeader(datagram: Uint8Array, sequenceNumber: number, timestamp: number, ssrc = 0): void {
  datagram[0] = RTP_VERSION_2_WITH_EXTENSION;
  datagram[1] = 0;
  datagram[2] = (sequenceNumber >> 8) & 0xff;
  datagram[3] = sequenceNumber & 0xff;
  writeU32be(datagram, 4, timestamp);
  writeU32be(datagram, 8, ssrc);
  datagram[12] = datagram[13] = datagram[14] = datagram[15] = 0;
}

/** Writes bytes 16–27 of the NV header: packet index, frame index, flags, extra flags, blocks. */
export function writeNvVideoHeader(
  datagram: Uint8Array,
  streamPacketIndex: number,
  frameIndex: number,
  flags: number,
  blockIndex: number,
  lastBlockIndex: number,
  extraFlags = 0,
): void {
  writeU32le(datagram, 16, (streamPacketIndex << 8) >>> 0);
  writeU32le(datagram, 20, frameIndex);
  datagram[24] = flags;
  datagram[25] = extraFlags;
  datagram[26] = MULTI_FEC_FLAGS;
  datagram[27] = multiFecBlocksByte(blockIndex, lastBlockIndex);
}

export function multiFecBlocksByte(blockIndex: number, lastBlockIndex: number): number {
  return ((blockIndex & 3) << 4) | ((lastBlockIndex & 3) << 6);
}

export function fecInfoWord(shardIndex: number, dataShards: number, fecPercentage: number): number {
  return ((dataShards << 22) | (shardIndex << 12) | ((fecPercentage & 0xff) << 4)) >>> 0;
}

/** Parity shards in a block of D data shards at `pct` percent: ceil(D·pct/100), both sides. */
export function parityShardCount(dataShards: number, fecPercentage: number): number {
  return Math.floor((dataShards * fecPercentage + 99) / 100);
}

export function writeU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

export function writeU32be(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

// ---------------------------------------------------------------------------------------------
// Frame header (§5.3 step 1), first bytes of the first payload of a frame:
//
//   0     1                 3      4                    6          8
//   | 0x01 | latency u16le  | type | lastPayloadLen u16le | reserved |
//
// latency in 0.1 ms units (Sunshine extension); type 1 P, 2 IDR, 4 intra-refresh P, 5 P after
// reference invalidation (104: legacy constant header). A first byte other than 0x01 announces a
// 24-byte header on 7.1.415 ≤ appversion < 7.1.446 (every Sunshine-gen host).
// ---------------------------------------------------------------------------------------------

export const SHORT_FRAME_HEADER_TYPE = 0x01;
export const SHORT_FRAME_HEADER_SIZE = 8;
export const LONG_FRAME_HEADER_SIZE = 24;

export const FRAME_TYPE_P = 1;
export const FRAME_TYPE_IDR = 2;
export const FRAME_TYPE_INTRA_REFRESH = 4;
export const FRAME_TYPE_AFTER_RFI = 5;
export const FRAME_TYPE_LEGACY_CONSTANT = 104;

export interface FrameHeader {
  /** 8 or 24. */
  size: number;
  frameType: number;
  /** Host processing latency in 0.1 ms units (0 = unknown). */
  hostProcessingLatency: number;
  /** Meaningful bytes in the frame's final datagram payload (header included when it is also the first). */
  lastPayloadLength: number;
}

/** Parses the frame header at `offset`; null if fewer bytes than the announced header remain. */
export function parseFrameHeader(payload: Uint8Array, offset: number, end: number): FrameHeader | null {
  if (end - offset < 6) return null;
  const size = payload[offset] === SHORT_FRAME_HEADER_TYPE ? SHORT_FRAME_HEADER_SIZE : LONG_FRAME_HEADER_SIZE;
  if (end - offset < size) return null;
  return {
    size,
    frameType: payload[offset + 3]!,
    hostProcessingLatency: payload[offset + 1]! | (payload[offset + 2]! << 8),
    lastPayloadLength: payload[offset + 4]! | (payload[offset + 5]! << 8),
  };
}

/** Serializes the 8-byte short frame header. */
export function serializeFrameHeader(frameType: number, lastPayloadLength: number, hostProcessingLatency = 0): Uint8Array {
  const h = new Uint8Array(SHORT_FRAME_HEADER_SIZE);
  h[0] = SHORT_FRAME_HEADER_TYPE;
  h[1] = hostProcessingLatency & 0xff;
  h[2] = (hostProcessingLatency >> 8) & 0xff;
  h[3] = frameType;
  h[4] = lastPayloadLength & 0xff;
  h[5] = (lastPayloadLength >> 8) & 0xff;
  return h;
}

/** 16-bit serial-number "a is before b" (RFC 1982 style, as the client compares sequences). */
export function isBefore16(a: number, b: number): boolean {
  return ((a - b) & 0xffff) > 0x7fff;
}

/** 32-bit serial-number "a is before b". */
export function isBefore32(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** 24-bit serial-number "a is before b". */
export function isBefore24(a: number, b: number): boolean {
  return ((a - b) & 0xffffff) > 0x7fffff;
}
