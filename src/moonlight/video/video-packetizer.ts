/**
 * Host side of the video path (simulated host, benchmarks): one encoded access unit in, the
 * datagrams Sunshine would send for it out (reference §5.3).
 *
 *   S = packetSize, B = S + 16 (datagram/shard size), C = S − 16 (payload bytes per datagram)
 *   1. frame header (8 B) ‖ access unit, cut into C-byte chunks, each behind 32 header bytes
 *   2. FEC blocks: at most floor(255·100 / (100 + pct)) data shards each; more than 4 blocks
 *      needed ⇒ FEC off for the frame and 4 blocks; blocks are equal multiples of B, the last
 *      takes the rest
 *   3. per block: NV header fields in every data shard, then P = ceil(D·pct/100) parity shards
 *      (raised to minRequiredFecPackets, with pct recomputed) computed by Reed–Solomon over the
 *      data shards as built so far (RTP bytes and fecInfo still zero), then RTP header, fecInfo,
 *      block byte and frame index stamped on every shard; optional encryption last
 *   4. RTP sequence and packet counter continue across blocks and frames (parity included)
 *
 * All shards of a frame live in one freshly allocated buffer; the returned datagrams are views.
 */
import { ReedSolomon } from "../fec/reed-solomon.ts";
import type { VideoCipher } from "./video-crypto.ts";
import {
  FLAG_CONTAINS_PIC_DATA,
  FLAG_EOF,
  FLAG_SOF,
  FRAME_TYPE_IDR,
  FRAME_TYPE_P,
  MAX_DATA_SHARDS_PER_BLOCK,
  MAX_FEC_BLOCKS,
  SHORT_FRAME_HEADER_SIZE,
  VIDEO_HEADER_SIZE,
  fecInfoWord,
  multiFecBlocksByte,
  parityShardCount,
  serializeFrameHeader,
  writeNvVideoHeader,
  writeRtpVideoHeader,
  writeU32le,
} from "./video-packet.ts";

export class VideoFrameTooLargeError extends Error {
  override name = "VideoFrameTooLargeError";
}

export interface VideoPacketizerOptions {
  /** `packetSize` from the client's SDP (already reduced by 32 when video is encrypted). */
  packetSize: number;
  /** FEC percentage; Sunshine's default is 20. 0 disables parity. */
  fecPercentage?: number;
  /** `x-nv-vqos[0].fec.minRequiredFecPackets` from the SDP; Moonlight sends 2. */
  minRequiredFecPackets?: number;
  /** Frame index of the first frame: 1 for Sunshine (what the reference client expects), Wolf uses 0. */
  firstFrameIndex?: number;
  /** Encrypts every shard (§5.7) when set. */
  cipher?: VideoCipher;
}

export interface PacketizeFrameOptions {
  /** Frame-header type byte; defaults to 2 (IDR) or 1 (P) from `isIdr`. */
  frameType?: number;
  isIdr?: boolean;
  /** RTP timestamp, 90 kHz. */
  timestamp: number;
  /** Host processing latency in 0.1 ms units. */
  hostProcessingLatency?: number;
}

export interface PacketizedFrame {
  frameIndex: number;
  /** Datagrams in send order: block 0 data, block 0 parity, block 1 data, … */
  datagrams: Uint8Array[];
  /** Data/parity shard counts per FEC block. */
  blocks: { dataShards: number; parityShards: number; fecPercentage: number }[];
}

export class VideoPacketizer {
  readonly #packetSize: number;
  readonly #shardSize: number;
  readonly #chunkSize: number;
  readonly #fecPercentage: number;
  readonly #minParity: number;
  readonly #cipher: VideoCipher | undefined;
  #frameIndex: number;
  #sequence = 0;

  constructor(options: VideoPacketizerOptions) {
    if (!Number.isInteger(options.packetSize) || options.packetSize < 32 || options.packetSize % 16 !== 0) {
      throw new RangeError(`packetSize must be a multiple of 16 ≥ 32 (got ${options.packetSize})`);
    }
    this.#packetSize = options.packetSize;
    this.#shardSize = options.packetSize + 16;
    this.#chunkSize = options.packetSize - 16;
    this.#fecPercentage = options.fecPercentage ?? 20;
    this.#minParity = options.minRequiredFecPackets ?? 2;
    this.#cipher = options.cipher;
    this.#frameIndex = options.firstFrameIndex ?? 1;
    if (this.#fecPercentage < 0 || this.#fecPercentage > 255) throw new RangeError("fecPercentage must be 0…255");
  }

  get packetSize(): number {
    return this.#packetSize;
  }

  /** Frame index the next `packetize` call will use. */
  get nextFrameIndex(): number {
    return this.#frameIndex;
  }

  /** Cuts one access unit into datagrams and advances the frame index and RTP sequence. */
  packetize(accessUnit: Uint8Array, options: PacketizeFrameOptions): PacketizedFrame {
    const B = this.#shardSize;
    const C = this.#chunkSize;
    const frameIndex = this.#frameIndex;
    const frameType = options.frameType ?? (options.isIdr ? FRAME_TYPE_IDR : FRAME_TYPE_P);

    const dataLength = SHORT_FRAME_HEADER_SIZE + accessUnit.length;
    const lastPayloadLength = dataLength % C || C;
    const header = serializeFrameHeader(frameType, lastPayloadLength, options.hostProcessingLatency ?? 0);

    // Sizes as Sunshine computes them on the header-interleaved payload (32 B per chunk + data).
    const units = Math.ceil(dataLength / C);
    const payloadSize = units * VIDEO_HEADER_SIZE + dataLength;
    let pct = this.#fecPercentage;
    const maxDataPerBlock = Math.floor((255 * 100) / (100 + pct));
    let blockCount = Math.ceil(payloadSize / (maxDataPerBlock * B));
    if (blockCount > MAX_FEC_BLOCKS) {
      pct = 0;
      blockCount = MAX_FEC_BLOCKS;
    }
    const alignedBlockBytes = Math.ceil(Math.floor(payloadSize / blockCount) / B) * B;

    // Geometry of each block.
    const blocks: PacketizedFrame["blocks"] = [];
    let unitStart = 0;
    let totalShards = 0;
    for (let x = 0; x < blockCount; x++) {
      const startByte = x * alignedBlockBytes;
      const endByte = x === blockCount - 1 ? payloadSize : Math.min(payloadSize, startByte + alignedBlockBytes);
      const d = Math.max(0, Math.ceil((endByte - startByte) / B));
      if (d > MAX_DATA_SHARDS_PER_BLOCK) throw new VideoFrameTooLargeError(`frame needs ${d} data shards in one FEC block`);
      let blockPct = pct;
      let p = parityShardCount(d, blockPct);
      if (p < this.#minParity && blockPct !== 0) {
        p = this.#minParity;
        blockPct = Math.floor((100 * p) / d);
      }
      blocks.push({ dataShards: d, parityShards: p, fecPercentage: blockPct });
      unitStart += d;
      totalShards += d + p;
    }
    if (unitStart !== units) throw new VideoFrameTooLargeError(`block split lost data (${unitStart} ≠ ${units} shards)`);

    // All shards of the frame in one buffer, data shards filled with the chunked bitstream.
    const buffer = new Uint8Array(totalShards * B);
    const datagrams: Uint8Array[] = new Array(totalShards);
    let shardPos = 0;
    let chunk = 0;
    const parityViews: Uint8Array[] = [];
    const dataViews: Uint8Array[] = [];
    for (let x = 0; x < blockCount; x++) {
      const { dataShards: d, parityShards: p, fecPercentage: blockPct } = blocks[x]!;
      const seqBase = this.#sequence;
      dataViews.length = 0;
      parityViews.length = 0;
      for (let i = 0; i < d; i++, chunk++) {
        const shard = buffer.subarray((shardPos + i) * B, (shardPos + i + 1) * B);
        fillChunk(shard, header, accessUnit, chunk * C, C);
        const flags = FLAG_CONTAINS_PIC_DATA | (i === 0 ? FLAG_SOF : 0) | (i === d - 1 ? FLAG_EOF : 0);
        writeNvVideoHeader(shard, (seqBase + i) & 0xffffff, frameIndex, flags, x, blockCount - 1);
        dataViews.push(shard);
      }
      for (let j = 0; j < p; j++) parityViews.push(buffer.subarray((shardPos + d + j) * B, (shardPos + d + j + 1) * B));
      if (p > 0) ReedSolomon.forVideo(d, p).encode(dataViews, parityViews, B);
      for (let k = 0; k < d + p; k++) {
        const shard = buffer.subarray((shardPos + k) * B, (shardPos + k + 1) * B);
        writeRtpVideoHeader(shard, (seqBase + k) & 0xffff, options.timestamp >>> 0);
        writeU32le(shard, 20, frameIndex);
        shard[27] = multiFecBlocksByte(x, blockCount - 1);
        writeU32le(shard, 28, fecInfoWord(k, d, blockPct));
        datagrams[shardPos + k] = this.#cipher ? this.#cipher.encrypt(shard, frameIndex) : shard;
      }
      shardPos += d + p;
      this.#sequence = (seqBase + d + p) >>> 0;
    }
    this.#frameIndex = (frameIndex + 1) >>> 0;
    return { frameIndex, datagrams, blocks };
  }
}

/**
 * Writes chunk `offset … offset + C` of (frame header ‖ access unit) after the 32 header bytes of
 * `shard` (which is zero-filled, so a short last chunk is padded with zeros).
 */
function fillChunk(shard: Uint8Array, header: Uint8Array, accessUnit: Uint8Array, offset: number, C: number): void {
  let dst = VIDEO_HEADER_SIZE;
  let from = offset;
  const end = offset + C;
  if (from < header.length) {
    const n = Math.min(header.length, end) - from;
    shard.set(header.subarray(from, from + n), dst);
    dst += n;
    from += n;
  }
  const auStart = from - header.length;
  const auEnd = Math.min(end - header.length, accessUnit.length);
  if (auEnd > auStart) shard.set(accessUnit.subarray(auStart, auEnd), dst);
}
