/**
 * Plane: video (this folder). Owns UDP 47998 (RTP from the host, pings from us): the datagram
 * layout (video-packet.ts), decryption (video-crypto.ts), FEC through ../fec, this depacketizer,
 * the sim host's packetizer (video-packetizer.ts) and the codec bitstream bits (nal.ts, h264.ts).
 *
 * Video receive path: raw datagrams in, complete frames out (reference §5.5–5.6).
 *
 * Two stages, as in moonlight-common-c, folded into one synchronous class:
 *
 * 1. FEC queue. Datagrams are grouped by (frame, FEC block). A block of D data + P parity shards
 *    completes when all D data shards are present, or — once any D shards are present — after
 *    Reed–Solomon recovery of the missing data shards. Blocks of a frame complete in order; the
 *    frame completes with its last block.
 * 2. Depacketizer. The data shards of a complete frame are checked (packet-index continuity, SOF),
 *    the frame header is skipped, leading AUD/SEI NAL units are stripped (and a leading PPS on
 *    P-frames), and the rest — including the zero padding of the last datagram, which Annex-B
 *    decoders ignore — is copied once into the frame's buffer.
 *
 * Policies (where we deliberately differ from the reference client):
 * - The first datagram seen sets the frame/sequence window, so Wolf's frame 0 (its only
 *   spontaneous IDR) is accepted; the reference client expects frame 1 and drops it.
 * - When there is no decodable reference (stream starts on a P-frame, a frame is lost, a frame is
 *   corrupt) `onIdrNeeded` fires at once, coalesced to one call per outage and repeated every
 *   `idrRetryFrames` dropped frames; the reference client waits for the next complete frame or
 *   for 120 dropped frames. With `referenceFrameInvalidation`, losses after the first IDR are
 *   reported through `onFrameLoss` instead and frames are dropped until the host sends a frame of
 *   type IDR / intra-refresh / post-invalidation.
 * - An unrecoverable block is reported early (speculatively) as soon as more shards are missing
 *   than parity exists, unless out-of-order arrival was seen recently (as the reference does).
 * - After a long run of datagrams that all fall outside the window (a host that restarted its
 *   numbering) the window is re-synchronised instead of dropping everything forever.
 *
 * Hot path: `push` parses into a reused header object, keeps a reference to each datagram (no
 * copy) until its frame completes — or, when the host encrypts, opens it into a pooled shard
 * buffer (no allocation per datagram) —, rebuilds missing shards into pooled buffers, and copies
 * payload bytes exactly once, into the frame buffer handed to `onFrame`. Malformed, stale, duplicate and
 * undecryptable datagrams are counted and dropped; nothing is thrown from `push`.
 *
 * Ownership: a pushed datagram must not be modified until its frame has been emitted or dropped
 * (Bun.udpSocket hands out a fresh buffer per datagram, so a socket can push what it receives).
 */
import { logger } from "../../core/log.ts";
import { type VideoCodec, findStartCode, isAccessUnitDelimiter, isKeyFrameStart, isPictureParameterSet, isRandomAccessSlice, isSei, nalTypeAt, nextNal, startCodeLength } from "./nal.ts";
import { ReedSolomon, RS_MAX_TOTAL_SHARDS } from "../fec/reed-solomon.ts";
import { VIDEO_ENCRYPTION_PREFIX_SIZE, type VideoCipher } from "./video-crypto.ts";
import {
  FLAG_CONTAINS_PIC_DATA,
  FLAG_EOF,
  FLAG_SOF,
  FRAME_TYPE_AFTER_RFI,
  FRAME_TYPE_IDR,
  FRAME_TYPE_INTRA_REFRESH,
  KNOWN_FLAGS,
  MAX_DATA_SHARDS_PER_BLOCK,
  VIDEO_HEADER_SIZE,
  createVideoPacketHeader,
  isBefore16,
  isBefore24,
  isBefore32,
  parityShardCount,
  parseFrameHeader,
  parseVideoPacketHeader,
} from "./video-packet.ts";

const log = logger("video");

export interface VideoFrame {
  /** The access unit as the reference client hands it to its decoder (Annex B for H.264/HEVC). */
  data: Uint8Array;
  /** Host frame index from the NV header. */
  frameNumber: number;
  /** Starts with SPS (H.264) / VPS (HEVC), or header type 2 for AV1: decodable on its own. */
  isIdr: boolean;
  /** Frame-header type byte: 1 P, 2 IDR, 4 intra refresh, 5 after reference invalidation. */
  frameType: number;
  /** RTP timestamp, 90 kHz (Wolf sends 0). */
  timestamp: number;
  /** Host processing latency in 0.1 ms units (0 = not reported). */
  hostProcessingLatency: number;
  /** Arrival time (µs, caller's clock) of the first datagram of the frame. */
  arrivalUs: number;
  /** Data shards rebuilt with Reed–Solomon for this frame. */
  recoveredShards: number;
}

/** Inclusive range of frames the host should treat as lost (reference-frame invalidation, control 0x0301). */
export interface FrameLoss {
  firstFrame: number;
  lastFrame: number;
}

export type IdrReason = "no-reference" | "frame-lost" | "corrupt-frame" | "retry";

export interface VideoDepacketizerEvents {
  /** A complete, decodable frame. Called synchronously from `push`. */
  onFrame(frame: VideoFrame): void;
  /** The decoder has no usable reference: ask the host for an IDR (control 0x0302). */
  onIdrNeeded?(reason: IdrReason): void;
  /** Only with `referenceFrameInvalidation`: frames to invalidate (control 0x0301). */
  onFrameLoss?(loss: FrameLoss): void;
}

export interface VideoDepacketizerOptions {
  codec: VideoCodec;
  /** `packetSize` from the SDP; unencrypted datagrams are packetSize + 16 bytes. */
  packetSize: number;
  /** Ask for reference-frame invalidation instead of an IDR after a loss (host must support RFI). Default false. */
  referenceFrameInvalidation?: boolean;
  /** Re-emit `onIdrNeeded` after this many dropped frames while still waiting. Default 60. */
  idrRetryFrames?: number;
  /** Set when the host encrypts video (§5.7). */
  cipher?: VideoCipher;
  /**
   * The caller reuses a datagram's memory once `push` returns (a receive ring): clear datagrams
   * are copied into pooled shard buffers instead of kept. Encrypted ones always are (decryption
   * writes there). Default false.
   */
  copyInput?: boolean;
}

export interface VideoDepacketizerStats {
  /** Datagrams pushed. */
  packets: number;
  dataPackets: number;
  parityPackets: number;
  /** Truncated, not RTP v2 + extension, unknown flags, impossible FEC geometry, oversize. */
  malformed: number;
  /** Behind the window (late, replayed, or parity of an already completed block). */
  stale: number;
  duplicates: number;
  decryptFailures: number;
  /** Data shards rebuilt by Reed–Solomon. */
  fecRecoveries: number;
  /** Frames that needed at least one rebuilt shard. */
  fecRecoveredFrames: number;
  framesEmitted: number;
  /** Complete frames not emitted because no reference was available (waiting for IDR/RFI). */
  framesDropped: number;
  /** Frames that could not be reassembled (missing shards, missing blocks, never seen, corrupt). */
  framesLost: number;
  idrRequests: number;
  lossReports: number;
  resyncs: number;
  listenerErrors: number;
}

/** Out-of-order arrival disables speculative loss reports for this many frames (~5 min at 60 fps). */
const OOS_COOLDOWN_FRAMES = 18000;
/** Consecutive out-of-window datagrams after which the window is re-synchronised. */
const RESYNC_AFTER_REJECTS = 1024;
/** A new frame further ahead than this is treated as garbage (until a resync). */
const MAX_FRAME_JUMP = 1 << 15;
const MAX_FRAME_PARTS = MAX_DATA_SHARDS_PER_BLOCK * 4;

export class VideoDepacketizer {
  readonly #codec: VideoCodec;
  readonly #shardSize: number;
  readonly #rfi: boolean;
  readonly #idrRetryFrames: number;
  readonly #cipher: VideoCipher | undefined;
  readonly #copyInput: boolean;
  readonly #events: VideoDepacketizerEvents;
  readonly #stats: VideoDepacketizerStats = {
    packets: 0,
    dataPackets: 0,
    parityPackets: 0,
    malformed: 0,
    stale: 0,
    duplicates: 0,
    decryptFailures: 0,
    fecRecoveries: 0,
    fecRecoveredFrames: 0,
    framesEmitted: 0,
    framesDropped: 0,
    framesLost: 0,
    idrRequests: 0,
    lossReports: 0,
    resyncs: 0,
    listenerErrors: 0,
  };
  readonly #h = createVideoPacketHeader();
  #closed = false;

  // ---- FEC queue: window and current block ----
  #started = false;
  #currentFrame = 0;
  #currentBlock = 0;
  #windowStartSeq = 0;
  #blockActive = false;
  #blockBase = 0;
  #blockData = 0;
  #blockParity = 0;
  #blockPct = 0;
  #lastBlock = 0;
  #receivedData = 0;
  #receivedParity = 0;
  #highestIndex = -1;
  readonly #shards: (Uint8Array | null)[] = new Array<Uint8Array | null>(MAX_DATA_SHARDS_PER_BLOCK + 1).fill(null);
  readonly #recoverOut: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(RS_MAX_TOTAL_SHARDS).fill(undefined);
  #oosSeenAtFrame = -1;
  #consecutiveRejects = 0;

  // ---- current frame ----
  readonly #parts: Uint8Array[] = [];
  #partCount = 0;
  #frameTimestamp = 0;
  #frameArrivalUs = 0;
  #frameRecovered = 0;
  /** Pool of B-byte buffers for rebuilt shards; `#borrowed` are in use by the current frame. */
  readonly #pool: Uint8Array[] = [];
  readonly #borrowed: Uint8Array[] = [];
  /** The buffer the next encrypted datagram is opened into (kept while datagrams are rejected). */
  #spare: Uint8Array | undefined;

  // ---- depacketizer / reference state ----
  #lastPacketIndex = -1;
  #waitingForIdr = true;
  #waitingForRefInval = false;
  #idrRequested = false;
  #framesSinceIdrRequest = 0;
  #lastDeliveredFrame = -1;
  #lastLostFrame = -1;
  #haveLostFrame = false;
  readonly #segments = new Int32Array(2 * 512);

  constructor(options: VideoDepacketizerOptions, events: VideoDepacketizerEvents) {
    if (!Number.isInteger(options.packetSize) || options.packetSize < 32 || options.packetSize > 65000) {
      throw new RangeError(`packetSize ${options.packetSize} out of range`);
    }
    this.#codec = options.codec;
    this.#shardSize = options.packetSize + 16;
    this.#rfi = options.referenceFrameInvalidation ?? false;
    this.#idrRetryFrames = Math.max(1, options.idrRetryFrames ?? 60);
    this.#cipher = options.cipher;
    this.#copyInput = options.copyInput ?? false;
    this.#events = events;
  }

  /** Live counters (the same object every time; read, don't keep a copy expecting it to change). */
  get stats(): Readonly<VideoDepacketizerStats> {
    return this.#stats;
  }

  /** Whether frames are being dropped until the host sends an IDR. */
  get waitingForIdr(): boolean {
    return this.#waitingForIdr;
  }

  /**
   * Makes the depacketizer drop frames until the next IDR (e.g. a downstream decoder lost state).
   * Emits `onIdrNeeded` unless a request for this outage is already out.
   */
  requireIdr(reason: IdrReason = "no-reference"): void {
    if (this.#closed) return;
    this.#needIdr(reason);
  }

  /** Idempotent; also frees the cipher's libcrypto contexts (the depacketizer is its only user). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#discardBlock();
    this.#discardFrame();
    this.#cipher?.close();
  }

  /** Feeds one datagram as received from the host's video port. */
  push(datagram: Uint8Array, arrivalUs = -1): void {
    const stats = this.#stats;
    stats.packets++;
    if (this.#closed) return;

    let packet = datagram;
    // An encrypted datagram is opened (a clear one copied, with copyInput) into a pooled shard
    // buffer, owned by the block once stored.
    let decrypted: Uint8Array | undefined;
    if (this.#cipher) {
      if (this.#started && this.#cipher.isStale(datagram, this.#currentFrame)) {
        this.#reject();
        return;
      }
      if (datagram.length - VIDEO_ENCRYPTION_PREFIX_SIZE <= this.#shardSize) {
        decrypted = this.#spare ??= this.#pool.pop() ?? new Uint8Array(this.#shardSize);
        const length = this.#cipher.decryptInto(datagram, decrypted);
        if (length < 0) {
          stats.decryptFailures++;
          return;
        }
        // Shards are all shardSize long; a shorter one (never seen from a host) gets a view.
        packet = length === decrypted.length ? decrypted : decrypted.subarray(0, length);
      } else {
        // Too big for a shard: decrypted only to keep the counters as they were (then malformed).
        const plain = this.#cipher.decrypt(datagram);
        if (!plain) {
          stats.decryptFailures++;
          return;
        }
        packet = plain;
      }
    } else if (this.#copyInput && datagram.length <= this.#shardSize) {
      decrypted = this.#spare ??= this.#pool.pop() ?? new Uint8Array(this.#shardSize);
      decrypted.set(datagram);
      packet = datagram.length === decrypted.length ? decrypted : decrypted.subarray(0, datagram.length);
    }

    const h = this.#h;
    if (parseVideoPacketHeader(packet, h) !== null || packet.length > this.#shardSize) {
      stats.malformed++;
      return;
    }
    const parity = parityShardCount(h.dataShards, h.fecPercentage);
    const total = h.dataShards + parity;
    if (
      h.shardIndex >= total ||
      (parity > 0 && total > RS_MAX_TOTAL_SHARDS) ||
      (h.shardIndex < h.dataShards && (h.flags & ~KNOWN_FLAGS) !== 0)
    ) {
      stats.malformed++;
      return;
    }

    if (!this.#started) this.#startWindow(h.frameIndex, h.sequenceNumber, h.shardIndex);

    const seq = h.sequenceNumber;
    const frame = h.frameIndex;
    if (
      isBefore16(seq, this.#windowStartSeq) ||
      isBefore32(frame, this.#currentFrame) ||
      (frame === this.#currentFrame && h.blockIndex < this.#currentBlock) ||
      frame - this.#currentFrame > MAX_FRAME_JUMP
    ) {
      this.#reject();
      return;
    }

    if (!this.#blockActive || frame !== this.#currentFrame || h.blockIndex !== this.#currentBlock) {
      if (!this.#openBlock(arrivalUs)) return;
    } else if (h.dataShards !== this.#blockData || h.fecPercentage !== this.#blockPct || h.lastBlockIndex !== this.#lastBlock) {
      stats.malformed++; // contradicts the block's geometry
      return;
    }

    const index = (seq - this.#blockBase) & 0xffff;
    if (index !== h.shardIndex || index >= this.#blockData + this.#blockParity) {
      stats.malformed++;
      return;
    }
    const shards = this.#shards;
    if (shards[index]) {
      stats.duplicates++;
      return;
    }
    this.#consecutiveRejects = 0;
    shards[index] = packet;
    if (decrypted) {
      this.#borrowed.push(decrypted);
      this.#spare = undefined;
    }
    if (index < this.#blockData) {
      this.#receivedData++;
      stats.dataPackets++;
    } else {
      this.#receivedParity++;
      stats.parityPackets++;
    }
    if (index < this.#highestIndex) this.#oosSeenAtFrame = this.#currentFrame;
    else this.#highestIndex = index;

    if (this.#receivedData === this.#blockData) {
      this.#completeBlock();
    } else if (this.#receivedData + this.#receivedParity >= this.#blockData) {
      if (this.#recoverBlock()) this.#completeBlock();
      else this.#loseCurrentFrame("corrupt-frame");
    } else if (!this.#haveLostFrame || this.#lastLostFrame !== this.#currentFrame) {
      // Speculative loss report: more shards are already missing than parity can repair.
      const missing = this.#highestIndex + 1 - this.#receivedData - this.#receivedParity;
      const recentOos = this.#oosSeenAtFrame >= 0 && this.#currentFrame - this.#oosSeenAtFrame < OOS_COOLDOWN_FRAMES;
      if (missing > this.#blockParity && !recentOos) this.#frameLost(this.#currentFrame, this.#currentFrame, "frame-lost");
    }
  }

  // ------------------------------------------------------------------------------------------
  // FEC queue
  // ------------------------------------------------------------------------------------------

  #startWindow(frame: number, seq: number, shardIndex: number): void {
    this.#started = true;
    this.#currentFrame = frame;
    this.#currentBlock = 0;
    this.#windowStartSeq = (seq - shardIndex) & 0xffff;
    this.#blockActive = false;
    this.#lastPacketIndex = -1;
    this.#consecutiveRejects = 0;
  }

  #reject(): void {
    this.#stats.stale++;
    if (++this.#consecutiveRejects >= RESYNC_AFTER_REJECTS) {
      // Everything has been outside the window for a long time: the host restarted its counters.
      log.warn(`video: ${this.#consecutiveRejects} datagrams outside the window, re-synchronising`);
      this.#stats.resyncs++;
      this.#discardBlock();
      this.#discardFrame();
      this.#started = false;
      this.#haveLostFrame = false;
      this.#consecutiveRejects = 0;
      this.#needIdr("frame-lost");
    }
  }

  /** A datagram of another block or frame arrived (the header is in #h). Returns false if it was consumed as a loss signal. */
  #openBlock(arrivalUs: number): boolean {
    const h = this.#h;
    const frame = h.frameIndex;
    if (this.#blockActive && frame === this.#currentFrame) {
      // A later block of the same frame while the current block is incomplete: blocks must
      // complete in order, so this frame is gone (as in the reference client).
      this.#loseCurrentFrame("frame-lost");
      this.#stats.stale++;
      return false;
    }
    const expectedBlock = frame === this.#currentFrame ? this.#currentBlock : 0;
    if (h.blockIndex !== expectedBlock) {
      // The first blocks of this frame never arrived: frames up to and including it are lost.
      this.#discardBlock();
      this.#discardFrame();
      this.#frameLost(this.#currentFrame, frame, "frame-lost");
      this.#currentFrame = frame + 1;
      this.#currentBlock = 0;
      this.#stats.stale++;
      return false;
    }
    if (frame !== this.#currentFrame) {
      // The current frame (if started) and any frames in between will never complete.
      this.#discardBlock();
      this.#discardFrame();
      this.#frameLost(this.#currentFrame, frame - 1, "frame-lost");
      this.#currentFrame = frame;
      this.#currentBlock = 0;
    }
    if (h.blockIndex === 0) {
      this.#frameTimestamp = h.timestamp;
      this.#frameArrivalUs = arrivalUs >= 0 ? arrivalUs : Math.round(performance.now() * 1000);
      this.#frameRecovered = 0;
    }
    this.#blockActive = true;
    this.#blockBase = (h.sequenceNumber - h.shardIndex) & 0xffff;
    this.#windowStartSeq = this.#blockBase;
    this.#blockData = h.dataShards;
    this.#blockPct = h.fecPercentage;
    this.#blockParity = parityShardCount(h.dataShards, h.fecPercentage);
    this.#lastBlock = h.lastBlockIndex;
    this.#receivedData = 0;
    this.#receivedParity = 0;
    this.#highestIndex = -1;
    return true;
  }

  /** Rebuilds the missing data shards of the current block into pooled buffers. */
  #recoverBlock(): boolean {
    const d = this.#blockData;
    const p = this.#blockParity;
    const size = this.#shardSize;
    const out = this.#recoverOut;
    const shards = this.#shards;
    for (let i = 0; i < d; i++) out[i] = shards[i] ? undefined : this.#borrow();
    const code = ReedSolomon.forVideo(d, p);
    if (!code.decode(shards, out, size)) return false;
    const missingBefore = d - this.#receivedData;
    for (let i = 0; i < d; i++) {
      const rebuilt = out[i];
      if (!rebuilt) continue;
      out[i] = undefined;
      // Sanity checks of the reference client: a rebuilt shard must carry the flags its
      // position implies; anything else means the block was not what its headers claimed.
      const flags = rebuilt[24]!;
      if (
        (flags & ~KNOWN_FLAGS) !== 0 ||
        (i === 0 && (flags & FLAG_SOF) === 0) ||
        (i === d - 1 && (flags & FLAG_EOF) === 0) ||
        (i > 0 && i < d - 1 && (flags & FLAG_CONTAINS_PIC_DATA) === 0)
      ) {
        for (let k = i + 1; k < d; k++) out[k] = undefined;
        return false;
      }
      shards[i] = rebuilt;
    }
    this.#receivedData = d;
    this.#stats.fecRecoveries += missingBefore;
    this.#frameRecovered += missingBefore;
    return true;
  }

  #completeBlock(): void {
    const d = this.#blockData;
    const total = d + this.#blockParity;
    const shards = this.#shards;
    for (let i = 0; i < d; i++) {
      if (this.#partCount < MAX_FRAME_PARTS) this.#parts[this.#partCount++] = shards[i]!;
    }
    for (let i = 0; i < total; i++) shards[i] = null;
    this.#blockActive = false;
    this.#windowStartSeq = (this.#blockBase + total) & 0xffff;
    if (this.#currentBlock < this.#lastBlock) {
      this.#currentBlock++;
      return;
    }
    const frame = this.#currentFrame;
    this.#currentFrame = (frame + 1) >>> 0;
    this.#currentBlock = 0;
    this.#depacketize(frame);
    this.#discardFrame();
  }

  #discardBlock(): void {
    if (!this.#blockActive) return;
    // Rebuilt shards stay in #borrowed and go back to the pool with the frame.
    this.#shards.fill(null, 0, this.#blockData + this.#blockParity);
    this.#blockActive = false;
  }

  /** Releases the current frame's parts and rebuilt-shard buffers. */
  #discardFrame(): void {
    const parts = this.#parts;
    for (let i = 0; i < this.#partCount; i++) parts[i] = EMPTY;
    this.#partCount = 0;
    const borrowed = this.#borrowed;
    while (borrowed.length > 0) this.#pool.push(borrowed.pop()!);
  }

  #borrow(): Uint8Array {
    const buffer = this.#pool.pop() ?? new Uint8Array(this.#shardSize);
    this.#borrowed.push(buffer);
    return buffer;
  }

  #loseCurrentFrame(reason: IdrReason): void {
    const frame = this.#currentFrame;
    this.#discardBlock();
    this.#discardFrame();
    this.#frameLost(frame, frame, reason);
    this.#currentFrame = (frame + 1) >>> 0;
    this.#currentBlock = 0;
  }

  // ------------------------------------------------------------------------------------------
  // Loss policy
  // ------------------------------------------------------------------------------------------

  #frameLost(first: number, last: number, reason: IdrReason): void {
    if (this.#haveLostFrame && !isBefore32(this.#lastLostFrame, first)) first = (this.#lastLostFrame + 1) >>> 0;
    if (isBefore32(last, first)) return;
    this.#haveLostFrame = true;
    this.#lastLostFrame = last;
    this.#stats.framesLost += Math.min(last - first + 1, MAX_FRAME_JUMP);
    log.debug(`video: lost frame${first === last ? ` ${first}` : `s ${first}…${last}`} (${reason})`);
    if (this.#rfi && !this.#waitingForIdr && this.#lastDeliveredFrame >= 0) {
      this.#waitingForRefInval = true;
      this.#reportLoss(last);
    } else {
      this.#needIdr(reason);
    }
  }

  #reportLoss(last: number): void {
    this.#stats.lossReports++;
    const firstFrame = (this.#lastDeliveredFrame + 1) >>> 0;
    this.#safely(() => this.#events.onFrameLoss?.({ firstFrame, lastFrame: last }));
  }

  #needIdr(reason: IdrReason): void {
    this.#waitingForIdr = true;
    this.#waitingForRefInval = false;
    if (this.#idrRequested) return;
    this.#emitIdrNeeded(reason);
  }

  #emitIdrNeeded(reason: IdrReason): void {
    this.#idrRequested = true;
    this.#framesSinceIdrRequest = 0;
    this.#stats.idrRequests++;
    log.debug(`video: IDR needed (${reason})`);
    this.#safely(() => this.#events.onIdrNeeded?.(reason));
  }

  #safely(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#stats.listenerErrors++;
      log.error("video: listener threw", error);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Depacketizer: frame parts → access unit
  // ------------------------------------------------------------------------------------------

  #depacketize(frameNumber: number): void {
    const parts = this.#parts;
    const count = this.#partCount;
    if (count === 0) return;

    // Packet-index continuity (24-bit): a packet that starts no block must follow its predecessor.
    let last = this.#lastPacketIndex;
    for (let i = 0; i < count; i++) {
      const p = parts[i]!;
      const spi = (p[17]! | (p[18]! << 8) | (p[19]! << 16)) >>> 0;
      const sof = (p[24]! & FLAG_SOF) !== 0;
      if (i === 0 && !sof) return this.#corrupt(frameNumber, spi);
      if (last >= 0) {
        const expected = (last + 1) & 0xffffff;
        if (isBefore24(spi, expected) || (!sof && spi !== expected)) return this.#corrupt(frameNumber, spi);
      }
      last = spi;
    }
    this.#lastPacketIndex = last;

    const first = parts[0]!;
    const header = parseFrameHeader(first, VIDEO_HEADER_SIZE, first.length);
    if (!header) return this.#corrupt(frameNumber, last);

    const codec = this.#codec;
    const segments = this.#segments;
    let segmentCount = 0;
    let isIdr = false;
    const firstEnd = first.length;
    let pos = VIDEO_HEADER_SIZE + header.size;

    if (codec === "av1") {
      isIdr = header.frameType === FRAME_TYPE_IDR;
      segments[0] = pos;
      segments[1] = firstEnd;
      segmentCount = 1;
    } else {
      if (startCodeLength(first, pos, firstEnd) === 0) pos = findStartCode(first, pos, firstEnd);
      if (isAccessUnitDelimiter(codec, nalTypeAt(codec, first, pos, firstEnd))) pos = nextNal(first, pos, firstEnd);
      while (pos < firstEnd && isSei(codec, nalTypeAt(codec, first, pos, firstEnd))) pos = nextNal(first, pos, firstEnd);
      const firstType = nalTypeAt(codec, first, pos, firstEnd);
      if (isKeyFrameStart(codec, firstType)) {
        // Key frame: walk the NAL units of the first packet, dropping any AUD/SEI between the
        // parameter sets, until the IDR slice; from there on everything is kept.
        isIdr = true;
        while (pos < firstEnd) {
          if (startCodeLength(first, pos, firstEnd) === 0) pos = findStartCode(first, pos, firstEnd);
          let type = nalTypeAt(codec, first, pos, firstEnd);
          while (pos < firstEnd && (isAccessUnitDelimiter(codec, type) || isSei(codec, type))) {
            // Only a unit that ends inside this packet can be dropped; one that runs on into the
            // next packet is kept whole (dropping its head would leave its tail as garbage).
            const next = nextNal(first, pos, firstEnd);
            if (next >= firstEnd) break;
            pos = next;
            type = nalTypeAt(codec, first, pos, firstEnd);
          }
          if (pos >= firstEnd) break;
          const start = pos;
          let end: number;
          if (isRandomAccessSlice(codec, type)) {
            end = firstEnd;
          } else {
            end = nextNal(first, pos, firstEnd);
          }
          if (segmentCount > 0 && segments[2 * segmentCount - 1] === start) {
            segments[2 * segmentCount - 1] = end; // adjacent: extend, one copy instead of two
          } else if (segmentCount < segments.length / 2) {
            segments[2 * segmentCount] = start;
            segments[2 * segmentCount + 1] = end;
            segmentCount++;
          }
          pos = end;
        }
      } else {
        if (isPictureParameterSet(codec, firstType)) pos = nextNal(first, pos, firstEnd);
        segments[0] = pos;
        segments[1] = firstEnd;
        segmentCount = 1;
      }
    }

    // AV1 and other codecs cannot take trailing padding: cut the last packet to lastPayloadLength
    // (which counts the frame header when the frame is a single packet).
    let lastEnd = parts[count - 1]!.length;
    if (codec === "av1") {
      const headerInLast = count === 1 ? header.size : 0;
      const payloadStart = VIDEO_HEADER_SIZE + headerInLast;
      const kept = header.lastPayloadLength - headerInLast;
      if (kept <= 0 || payloadStart + kept > lastEnd) return this.#corrupt(frameNumber, last);
      lastEnd = payloadStart + kept;
      if (count === 1) segments[1] = lastEnd;
    }

    // Reference bookkeeping: decide whether this frame can be decoded. Like the reference client,
    // a frame that starts with SPS/VPS is a key frame even when its IDR slice (after large
    // parameter sets or SEI) only begins in a later packet.
    if (isIdr) {
      this.#waitingForIdr = false;
      this.#waitingForRefInval = false;
      this.#idrRequested = false;
    } else if (this.#waitingForRefInval && !this.#waitingForIdr) {
      const t = header.frameType;
      if (t === FRAME_TYPE_IDR || t === FRAME_TYPE_INTRA_REFRESH || t === FRAME_TYPE_AFTER_RFI) this.#waitingForRefInval = false;
    }
    if (this.#waitingForIdr || this.#waitingForRefInval) {
      this.#stats.framesDropped++;
      if (this.#waitingForIdr) {
        if (!this.#idrRequested) this.#emitIdrNeeded("no-reference");
        else if (++this.#framesSinceIdrRequest >= this.#idrRetryFrames) this.#emitIdrNeeded("retry");
      } else {
        this.#reportLoss(frameNumber);
      }
      return;
    }

    // The one copy: payload bytes into the frame buffer.
    let size = 0;
    for (let s = 0; s < segmentCount; s++) size += segments[2 * s + 1]! - segments[2 * s]!;
    for (let i = 1; i < count; i++) size += (i === count - 1 ? lastEnd : parts[i]!.length) - VIDEO_HEADER_SIZE;
    const data = new Uint8Array(size);
    let offset = 0;
    for (let s = 0; s < segmentCount; s++) {
      const a = segments[2 * s]!;
      const b = segments[2 * s + 1]!;
      copyBytes.call(first, data, offset, a, b);
      offset += b - a;
    }
    for (let i = 1; i < count; i++) {
      const p = parts[i]!;
      const end = i === count - 1 ? lastEnd : p.length;
      copyBytes.call(p, data, offset, VIDEO_HEADER_SIZE, end);
      offset += end - VIDEO_HEADER_SIZE;
    }

    if (this.#frameRecovered > 0) this.#stats.fecRecoveredFrames++;
    this.#stats.framesEmitted++;
    this.#lastDeliveredFrame = frameNumber;
    const frame: VideoFrame = {
      data,
      frameNumber,
      isIdr,
      frameType: header.frameType,
      timestamp: this.#frameTimestamp,
      hostProcessingLatency: header.hostProcessingLatency,
      arrivalUs: this.#frameArrivalUs,
      recoveredShards: this.#frameRecovered,
    };
    this.#safely(() => this.#events.onFrame(frame));
  }

  #corrupt(frameNumber: number, packetIndex: number): void {
    this.#lastPacketIndex = packetIndex;
    this.#frameLost(frameNumber, frameNumber, "corrupt-frame");
  }
}

const EMPTY = new Uint8Array(0);
/** Buffer's copy works on any Uint8Array and needs no subarray view per part (a third of `set`'s cost). */
const copyBytes = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;
