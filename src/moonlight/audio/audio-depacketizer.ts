/**
 * Plane: audio (this folder). Owns UDP 48000 (RTP Opus from the host, pings from us): the packet
 * layout (audio-packet.ts), this depacketizer with RS recovery through ../fec and AES-CBC, and the
 * sim host's packetizer (audio-packetizer.ts).
 *
 * Audio receive path: raw datagrams in, Opus packets out, in sequence order, with RS(4+2)
 * recovery and decryption (reference §6.2–6.4). Follows moonlight-common-c's RtpAudioQueue, so
 * replaying a capture yields exactly the packets the reference client decoded:
 *
 * - The first `initialDiscardMs` of data packets (counted, not timed: 500 ms / duration packets of
 *   type 97) are discarded to drain the host's backlog; FEC packets arriving meanwhile go too.
 * - The first packet after that only synchronises: playback starts at the next FEC block boundary.
 * - Packets are grouped in blocks of 4 (base = seq − seq mod 4). An in-order data packet is emitted
 *   at once; otherwise the block waits until 4 of its 6 shards allow RS recovery (parity is over
 *   the encrypted payloads, so recovery precedes decryption). A block still incomplete when a later
 *   block exists is given up — at once if no out-of-order traffic was ever seen, else ~10 ms after
 *   it was first seen — and its missing packets are emitted as losses (`data: null`, for Opus PLC).
 * - Hosts that break the FEC invariants (block base not a multiple of 4, payload sizes differing
 *   inside a block) switch the queue to pass-through, as the reference client does.
 *
 * Synchronous, socket-free. Keeps a reference to each datagram until its block is done (no copy);
 * rebuilt payloads go to pooled buffers. Malformed datagrams are counted and dropped.
 */
import { logger } from "../../core/log.ts";
import {
  AUDIO_DATA_SHARDS,
  AUDIO_FEC_HEADER_SIZE,
  AUDIO_FEC_PAYLOAD_TYPE,
  AUDIO_FEC_SHARDS,
  AUDIO_MAX_DATAGRAM,
  AUDIO_PAYLOAD_TYPE,
  AUDIO_RTP_HEADER_SIZE,
  type AudioCipher,
  createAudioFecHeader,
  createAudioRtpHeader,
  parseAudioFecHeader,
  parseAudioRtpHeader,
} from "./audio-packet.ts";
import { ReedSolomon } from "../fec/reed-solomon.ts";
import { isBefore16 } from "../video/video-packet.ts";

const log = logger("audio");

export interface AudioPacket {
  /** The Opus packet, or null for a packet that was lost (run the decoder's loss concealment). */
  data: Uint8Array | null;
  sequenceNumber: number;
  /** RTP timestamp in milliseconds. */
  timestamp: number;
  /** Rebuilt from FEC rather than received. */
  recovered: boolean;
}

export interface AudioDepacketizerEvents {
  onPacket(packet: AudioPacket): void;
}

export interface AudioDepacketizerOptions {
  /** `x-nv-aqos.packetDuration` in ms (5 or 10). */
  packetDurationMs: number;
  /** Set when the SDP enabled audio encryption (featureFlags 0x20 / encryptionEnabled 0x04). */
  cipher?: AudioCipher;
  /** Data packets to discard at start, as milliseconds of audio. Default 500 (the reference client's drain). */
  initialDiscardMs?: number;
}

export interface AudioDepacketizerStats {
  packets: number;
  dataPackets: number;
  fecPackets: number;
  /** Discarded by the initial drain. */
  discarded: number;
  malformed: number;
  /** From blocks already completed or given up, or before the start. */
  stale: number;
  duplicates: number;
  /** Data packets rebuilt from parity. */
  fecRecoveries: number;
  /** Blocks given up with packets missing. */
  fecFailures: number;
  /** Loss placeholders emitted. */
  lost: number;
  decryptFailures: number;
  emitted: number;
  listenerErrors: number;
}

/** Extra wait before giving up a block once out-of-order packets have been seen (RTPQ_OOS_WAIT_TIME_MS). */
const OOS_WAIT_US = 10_000;
const TOTAL_SHARDS = AUDIO_DATA_SHARDS + AUDIO_FEC_SHARDS;

interface AudioBlock {
  base: number;
  baseTimestamp: number;
  payloadType: number;
  /** Payload length L shared by all six shards. */
  size: number;
  /** 0–3 data payloads, 4–5 parity; null while missing. */
  shards: (Uint8Array | null)[];
  recovered: boolean[];
  /** Pool buffers holding rebuilt payloads, returned when the block is released. */
  rebuilt: (Uint8Array | undefined)[];
  dataReceived: number;
  fecReceived: number;
  nextIndex: number;
  complete: boolean;
  allowDiscontinuity: boolean;
  firstSeenUs: number;
}

export class AudioDepacketizer {
  readonly #duration: number;
  readonly #cipher: AudioCipher | undefined;
  readonly #events: AudioDepacketizerEvents;
  readonly #stats: AudioDepacketizerStats = {
    packets: 0,
    dataPackets: 0,
    fecPackets: 0,
    discarded: 0,
    malformed: 0,
    stale: 0,
    duplicates: 0,
    fecRecoveries: 0,
    fecFailures: 0,
    lost: 0,
    decryptFailures: 0,
    emitted: 0,
    listenerErrors: 0,
  };
  readonly #rtp = createAudioRtpHeader();
  readonly #fec = createAudioFecHeader();
  #closed = false;

  #toDiscard: number;
  #synchronizing = true;
  #synchronized = false;
  #passThrough = false;
  #nextSeq = 0;
  #oldestBase = 0;
  #oosSeen = false;
  #lastOosSeq = 0;
  /** Pending blocks sorted by base sequence. */
  readonly #blocks: AudioBlock[] = [];
  readonly #freeBlocks: AudioBlock[] = [];
  readonly #bufferPool: Uint8Array[] = [];
  readonly #recoverOut: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(AUDIO_DATA_SHARDS).fill(undefined);

  constructor(options: AudioDepacketizerOptions, events: AudioDepacketizerEvents) {
    if (!(options.packetDurationMs > 0)) throw new RangeError("packetDurationMs must be positive");
    this.#duration = options.packetDurationMs;
    this.#cipher = options.cipher;
    this.#events = events;
    this.#toDiscard = Math.floor((options.initialDiscardMs ?? 500) / options.packetDurationMs);
  }

  get stats(): Readonly<AudioDepacketizerStats> {
    return this.#stats;
  }

  /** True once the host broke an FEC invariant and packets are passed through unprotected. */
  get passThrough(): boolean {
    return this.#passThrough;
  }

  /** Idempotent; also frees the cipher's libcrypto context (the depacketizer is its only user). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#blocks.length > 0) this.#releaseHead();
    this.#cipher?.close();
  }

  push(datagram: Uint8Array, arrivalUs = -1): void {
    const stats = this.#stats;
    stats.packets++;
    if (this.#closed) return;
    const rtp = this.#rtp;
    if (!parseAudioRtpHeader(datagram, rtp) || datagram.length > AUDIO_MAX_DATAGRAM) {
      stats.malformed++;
      return;
    }
    if (this.#toDiscard > 0) {
      if (rtp.payloadType === AUDIO_PAYLOAD_TYPE) this.#toDiscard--;
      stats.discarded++;
      return;
    }
    if (rtp.payloadType === AUDIO_PAYLOAD_TYPE) {
      stats.dataPackets++;
      if (this.#passThrough) {
        this.#emit(datagram.subarray(AUDIO_RTP_HEADER_SIZE), rtp.sequenceNumber, rtp.timestamp, false);
        return;
      }
      this.#pushData(datagram, arrivalUs);
    } else if (rtp.payloadType === AUDIO_FEC_PAYLOAD_TYPE) {
      stats.fecPackets++;
      if (this.#passThrough) return;
      this.#pushFec(datagram, arrivalUs);
    } else {
      stats.malformed++;
    }
  }

  #pushData(datagram: Uint8Array, arrivalUs: number): void {
    const seq = this.#rtp.sequenceNumber;
    if (!this.#synchronizing && isBefore16(seq, this.#oldestBase)) {
      this.#lastOosSeq = seq;
      if (!this.#oosSeen) log.debug(`audio: out-of-order data (${seq} < ${this.#oldestBase})`);
      this.#oosSeen = true;
    } else if (this.#oosSeen && isBefore16(this.#oldestBase, this.#lastOosSeq)) {
      // 32768 packets without out-of-order data: back to giving up blocks immediately.
      this.#oosSeen = false;
    }
    const base = seq - (seq % AUDIO_DATA_SHARDS);
    const baseTimestamp = (this.#rtp.timestamp - (seq - base) * this.#duration) >>> 0;
    const block = this.#blockFor(base, baseTimestamp, AUDIO_PAYLOAD_TYPE, datagram.length - AUDIO_RTP_HEADER_SIZE, arrivalUs);
    if (!block) return;
    const pos = seq - base;
    if (block.shards[pos]) {
      this.#stats.duplicates++;
      return;
    }
    block.shards[pos] = datagram.subarray(AUDIO_RTP_HEADER_SIZE);
    block.dataReceived++;

    if (seq === this.#nextSeq) {
      // The common case: the next packet in order goes out at once.
      this.#nextSeq = (seq + 1) & 0xffff;
      block.nextIndex++;
      this.#emit(block.shards[pos]!, seq, this.#rtp.timestamp, false);
      if (this.#nextSeq === ((block.base + AUDIO_DATA_SHARDS) & 0xffff) && block === this.#blocks[0]) this.#releaseHead();
      return;
    }
    this.#afterShard(block, arrivalUs);
  }

  #pushFec(datagram: Uint8Array, arrivalUs: number): void {
    const fec = this.#fec;
    if (!parseAudioFecHeader(datagram, fec) || fec.shardIndex >= AUDIO_FEC_SHARDS) {
      this.#stats.malformed++;
      return;
    }
    if (fec.baseSequenceNumber % AUDIO_DATA_SHARDS !== 0) {
      this.#switchToPassThrough(`FEC block base ${fec.baseSequenceNumber} is not a multiple of 4`);
      return;
    }
    const size = datagram.length - AUDIO_RTP_HEADER_SIZE - AUDIO_FEC_HEADER_SIZE;
    const block = this.#blockFor(fec.baseSequenceNumber, fec.baseTimestamp, fec.payloadType, size, arrivalUs);
    if (!block) return;
    const pos = AUDIO_DATA_SHARDS + fec.shardIndex;
    if (block.shards[pos]) {
      this.#stats.duplicates++;
      return;
    }
    block.shards[pos] = datagram.subarray(AUDIO_RTP_HEADER_SIZE + AUDIO_FEC_HEADER_SIZE);
    block.fecReceived++;
    this.#afterShard(block, arrivalUs);
  }

  /** The pending block for `base`, created in order if needed; null if the packet must be dropped. */
  #blockFor(base: number, baseTimestamp: number, payloadType: number, size: number, arrivalUs: number): AudioBlock | null {
    if (this.#synchronizing && !this.#synchronized) {
      // Start on the next block boundary so that playback never begins mid-block.
      this.#synchronized = true;
      this.#nextSeq = this.#oldestBase = (base + AUDIO_DATA_SHARDS) & 0xffff;
      this.#stats.stale++;
      return null;
    }
    if (isBefore16(base, this.#oldestBase)) {
      this.#stats.stale++;
      return null;
    }
    const blocks = this.#blocks;
    let at = 0;
    for (; at < blocks.length; at++) {
      const b = blocks[at]!;
      if (b.base === base) {
        if (b.size !== size) {
          this.#switchToPassThrough(`audio payload size changed inside a block (${size} ≠ ${b.size})`);
          return null;
        }
        if (b.complete) {
          this.#stats.stale++;
          return null;
        }
        return b;
      }
      if (isBefore16(base, b.base)) break;
    }
    const block = this.#freeBlocks.pop() ?? newBlock();
    block.base = base;
    block.baseTimestamp = baseTimestamp;
    block.payloadType = payloadType;
    block.size = size;
    block.shards.fill(null);
    block.recovered.fill(false);
    block.dataReceived = 0;
    block.fecReceived = 0;
    block.nextIndex = 0;
    block.complete = false;
    block.allowDiscontinuity = false;
    block.firstSeenUs = arrivalUs >= 0 ? arrivalUs : nowUs();
    blocks.splice(at, 0, block);
    return block;
  }

  #afterShard(block: AudioBlock, arrivalUs: number): void {
    if (!block.complete && this.#tryComplete(block)) block.complete = true;
    if (!this.#hasPacketReady()) this.#handleMissing(arrivalUs);
    this.#drain();
  }

  #tryComplete(block: AudioBlock): boolean {
    if (block.dataReceived + block.fecReceived < AUDIO_DATA_SHARDS) return false;
    if (block.dataReceived === AUDIO_DATA_SHARDS) return true;
    const out = this.#recoverOut;
    for (let i = 0; i < AUDIO_DATA_SHARDS; i++) out[i] = block.shards[i] ? undefined : this.#borrow(block.size);
    const ok = ReedSolomon.forAudio().decode(block.shards, out, block.size);
    for (let i = 0; i < AUDIO_DATA_SHARDS; i++) {
      const rebuilt = out[i];
      out[i] = undefined;
      if (!rebuilt) continue;
      if (!ok) {
        this.#bufferPool.push(rebuilt);
        continue;
      }
      block.shards[i] = rebuilt.subarray(0, block.size);
      block.recovered[i] = true;
      block.rebuilt[i] = rebuilt;
    }
    if (!ok) return false;
    const rebuiltCount = AUDIO_DATA_SHARDS - block.dataReceived;
    this.#stats.fecRecoveries += rebuiltCount;
    block.dataReceived = AUDIO_DATA_SHARDS;
    log.debug(`audio: recovered ${rebuiltCount} packet(s) of block ${block.base}`);
    return true;
  }

  #hasPacketReady(): boolean {
    const head = this.#blocks[0];
    if (!head) return false;
    if (head.allowDiscontinuity) return true;
    return head.shards[head.nextIndex] !== null && ((head.base + head.nextIndex) & 0xffff) === this.#nextSeq;
  }

  #handleMissing(arrivalUs: number): void {
    const head = this.#blocks[0];
    if (!head) return;
    if (isBefore16(this.#nextSeq, head.base)) {
      // Everything before the oldest pending block is gone: resume there (without discontinuity,
      // so its in-order packets still flow one by one).
      this.#nextSeq = head.base;
      this.#oldestBase = head.base;
      return;
    }
    if (this.#blocks.length < 2) return; // wait until a later block exists
    const now = arrivalUs >= 0 ? arrivalUs : nowUs();
    if (!this.#oosSeen || now - head.firstSeenUs > this.#duration * AUDIO_DATA_SHARDS + OOS_WAIT_US) {
      this.#stats.fecFailures++;
      log.debug(`audio: giving up block ${head.base} (${head.dataReceived}+${head.fecReceived} of 4 needed)`);
      head.allowDiscontinuity = true;
    }
  }

  #drain(): void {
    for (;;) {
      const head = this.#blocks[0];
      if (!head) return;
      if (head.allowDiscontinuity && head.shards[head.nextIndex] === null) {
        const seq = (head.base + head.nextIndex) & 0xffff;
        this.#stats.lost++;
        this.#emitLost(seq, (head.baseTimestamp + head.nextIndex * this.#duration) >>> 0);
      } else if (this.#hasPacketReady()) {
        const i = head.nextIndex;
        const seq = (head.base + i) & 0xffff;
        this.#emit(head.shards[i]!, seq, (head.baseTimestamp + i * this.#duration) >>> 0, head.recovered[i]!);
      } else {
        return;
      }
      head.nextIndex++;
      this.#nextSeq = (this.#nextSeq + 1) & 0xffff;
      if (head.nextIndex === AUDIO_DATA_SHARDS) this.#releaseHead();
    }
  }

  #releaseHead(): void {
    const head = this.#blocks.shift();
    if (!head) return;
    this.#oldestBase = (head.base + AUDIO_DATA_SHARDS) & 0xffff;
    this.#synchronizing = false;
    head.shards.fill(null);
    for (let i = 0; i < AUDIO_DATA_SHARDS; i++) {
      const rebuilt = head.rebuilt[i];
      if (rebuilt) this.#bufferPool.push(rebuilt);
      head.rebuilt[i] = undefined;
    }
    this.#freeBlocks.push(head);
  }

  #borrow(size: number): Uint8Array {
    for (let i = this.#bufferPool.length - 1; i >= 0; i--) {
      const b = this.#bufferPool[i]!;
      if (b.length >= size) {
        this.#bufferPool.splice(i, 1);
        return b;
      }
    }
    return new Uint8Array(Math.max(size, 64));
  }

  #switchToPassThrough(why: string): void {
    if (this.#passThrough) return;
    log.warn(`audio: FEC disabled, ${why}`);
    this.#passThrough = true;
    this.#stats.malformed++;
    while (this.#blocks.length > 0) this.#releaseHead();
  }

  #emit(payload: Uint8Array, sequenceNumber: number, timestamp: number, recovered: boolean): void {
    let data: Uint8Array | null = payload;
    if (this.#cipher) {
      data = this.#cipher.decrypt(sequenceNumber, payload);
      if (!data) {
        this.#stats.decryptFailures++;
        return;
      }
    } else {
      data = payload.slice(); // the datagram may be reused by the caller once its block is done
    }
    this.#stats.emitted++;
    this.#deliver({ data, sequenceNumber, timestamp, recovered });
  }

  #emitLost(sequenceNumber: number, timestamp: number): void {
    this.#deliver({ data: null, sequenceNumber, timestamp, recovered: false });
  }

  #deliver(packet: AudioPacket): void {
    try {
      this.#events.onPacket(packet);
    } catch (error) {
      this.#stats.listenerErrors++;
      log.error("audio: listener threw", error);
    }
  }
}

function newBlock(): AudioBlock {
  return {
    base: 0,
    baseTimestamp: 0,
    payloadType: AUDIO_PAYLOAD_TYPE,
    size: 0,
    shards: new Array<Uint8Array | null>(TOTAL_SHARDS).fill(null),
    recovered: new Array<boolean>(AUDIO_DATA_SHARDS).fill(false),
    rebuilt: new Array<Uint8Array | undefined>(AUDIO_DATA_SHARDS).fill(undefined),
    dataReceived: 0,
    fecReceived: 0,
    nextIndex: 0,
    complete: false,
    allowDiscontinuity: false,
    firstSeenUs: 0,
  };
}

function nowUs(): number {
  return Math.round(performance.now() * 1000);
}
