/**
 * Opus packets into an Ogg file (RFC 7845 on RFC 3533), for `mlstream join --record-audio`.
 *
 * The stream is: one page holding the identification header (OpusHead, BOS), one page holding
 * the comment header (OpusTags), then audio pages. Each audio page ends with the granule position
 * of its last packet: the number of 48 kHz samples decoded so far, counted from each packet's TOC
 * byte (RFC 6716 §3.1). The last page carries EOS.
 *
 * Ogg page header (RFC 3533 §6):
 *
 *   0       4    5       6                14         18        22     26        27
 *   +-------+----+-------+----------------+----------+---------+------+---------+------------+
 *   | OggS  | v0 | flags | granule (i64le) | serial   | seq     | crc  | nsegs   | lacing …   |
 *   +-------+----+-------+----------------+----------+---------+------+---------+------------+
 *
 * The CRC is CRC-32 with polynomial 0x04c11db7, initial value 0, no reflection, computed over the
 * whole page with the CRC field zeroed.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";

const HEADER_BYTES = 27;
const OFFSET_FLAGS = 5;
const OFFSET_GRANULE = 6;
const OFFSET_SERIAL = 14;
const OFFSET_SEQUENCE = 18;
const OFFSET_CRC = 22;
const OFFSET_SEGMENTS = 26;
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;
const MAX_SEGMENTS = 255;

/** Audio pages are flushed at about this many packets (≈ 1 s of 20 ms packets) or bytes. */
const PAGE_PACKETS = 50;
const PAGE_BYTES = 8 * 1024;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let bit = 0; bit < 8; bit++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/** The Ogg CRC-32 of `bytes`. */
export function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  return crc >>> 0;
}

/** Samples (at 48 kHz) in one Opus packet, from its TOC byte and frame count (RFC 6716 §3.1). */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0;
  const toc = packet[0]!;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3]!; // SILK: 10, 20, 40, 60 ms
  else if (config < 16) frameSamples = config & 1 ? 960 : 480; // Hybrid: 10, 20 ms
  else frameSamples = [120, 240, 480, 960][config & 3]!; // CELT: 2.5, 5, 10, 20 ms
  const code = toc & 3;
  const frames = code === 0 ? 1 : code === 3 ? (packet[1] ?? 0) & 0x3f : 2;
  return frameSamples * frames;
}

/** Serializes one Ogg page holding whole packets. */
export function oggPage(options: { packets: Uint8Array[]; granule: bigint; serial: number; sequence: number; flags: number }): Uint8Array {
  const lacing: number[] = [];
  let bodyBytes = 0;
  for (const packet of options.packets) {
    for (let left = packet.length; ; left -= 255) {
      lacing.push(Math.min(left, 255));
      if (left < 255) break;
    }
    bodyBytes += packet.length;
  }
  if (lacing.length > MAX_SEGMENTS) throw new RangeError(`an Ogg page holds at most ${MAX_SEGMENTS} segments`);
  const page = new Uint8Array(HEADER_BYTES + lacing.length + bodyBytes);
  const view = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53], 0); // "OggS", version 0
  page[OFFSET_FLAGS] = options.flags;
  view.setBigInt64(OFFSET_GRANULE, options.granule, true);
  view.setUint32(OFFSET_SERIAL, options.serial, true);
  view.setUint32(OFFSET_SEQUENCE, options.sequence, true);
  page[OFFSET_SEGMENTS] = lacing.length;
  page.set(lacing, HEADER_BYTES);
  let at = HEADER_BYTES + lacing.length;
  for (const packet of options.packets) {
    page.set(packet, at);
    at += packet.length;
  }
  view.setUint32(OFFSET_CRC, oggCrc(page), true);
  return page;
}

/** The identification header (RFC 7845 §5.1), channel mapping family 0 (mono or stereo). */
export function opusHead(options: { channels: number; preSkip: number; inputSampleRate: number }): Uint8Array {
  const head = new Uint8Array(19);
  const view = new DataView(head.buffer);
  head.set(new TextEncoder().encode("OpusHead"), 0);
  head[8] = 1; // version
  head[9] = options.channels;
  view.setUint16(10, options.preSkip, true);
  view.setUint32(12, options.inputSampleRate, true);
  view.setInt16(16, 0, true); // output gain
  head[18] = 0; // mapping family 0
  return head;
}

/** The comment header (RFC 7845 §5.2). */
export function opusTags(vendor: string, comments: string[] = []): Uint8Array {
  const encoder = new TextEncoder();
  const vendorBytes = encoder.encode(vendor);
  const commentBytes = comments.map((c) => encoder.encode(c));
  const tags = new Uint8Array(8 + 4 + vendorBytes.length + 4 + commentBytes.reduce((n, c) => n + 4 + c.length, 0));
  const view = new DataView(tags.buffer);
  tags.set(encoder.encode("OpusTags"), 0);
  let at = 8;
  view.setUint32(at, vendorBytes.length, true);
  tags.set(vendorBytes, (at += 4));
  at += vendorBytes.length;
  view.setUint32(at, commentBytes.length, true);
  at += 4;
  for (const comment of commentBytes) {
    view.setUint32(at, comment.length, true);
    tags.set(comment, (at += 4));
    at += comment.length;
  }
  return tags;
}

export interface OggOpusWriterOptions {
  /** 1 or 2 (channel mapping family 0). */
  channels: number;
  /** Samples to drop at the start of decoding (the encoder's lookahead; unknown here, so 0 by default). */
  preSkip?: number;
  /** Where each finished page goes. */
  write: (page: Uint8Array) => void;
  /** Comments for OpusTags (`KEY=value`). */
  comments?: string[];
  serial?: number;
}

export class OggOpusWriter {
  readonly #options: OggOpusWriterOptions;
  readonly #serial: number;
  #sequence = 0;
  #granule = 0n;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #pendingSegments = 0;
  #closed = false;
  packets = 0;

  constructor(options: OggOpusWriterOptions) {
    if (options.channels !== 1 && options.channels !== 2) throw new RangeError("OggOpusWriter writes mono or stereo (channel mapping family 0)");
    this.#options = options;
    this.#serial = options.serial ?? randomBytes(4).readUInt32LE(0);
    this.#page([opusHead({ channels: options.channels, preSkip: options.preSkip ?? 0, inputSampleRate: 48_000 })], FLAG_BOS);
    this.#page([opusTags("mlstream", options.comments)], 0);
  }

  /** Samples written so far (the granule position of the last packet). */
  get granule(): bigint {
    return this.#granule;
  }

  /** Adds one Opus packet (the payload of one RTP packet). */
  write(packet: Uint8Array): void {
    if (this.#closed || packet.length === 0) return;
    const segments = Math.floor(packet.length / 255) + 1;
    if (this.#pendingSegments + segments > MAX_SEGMENTS) this.#flush(0);
    this.#pending.push(packet.slice());
    this.#pendingBytes += packet.length;
    this.#pendingSegments += segments;
    this.#granule += BigInt(opusPacketSamples(packet));
    this.packets++;
    if (this.#pending.length >= PAGE_PACKETS || this.#pendingBytes >= PAGE_BYTES) this.#flush(0);
  }

  /** Writes the last page (EOS). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush(FLAG_EOS, true);
  }

  #flush(flags: number, force = false): void {
    if (this.#pending.length === 0 && !force) return;
    this.#page(this.#pending, flags, this.#granule);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingSegments = 0;
  }

  #page(packets: Uint8Array[], flags: number, granule = 0n): void {
    this.#options.write(oggPage({ packets, granule, serial: this.#serial, sequence: this.#sequence++, flags }));
  }
}

/** An OggOpusWriter into a file. */
export function createOggOpusFile(path: string, options: Omit<OggOpusWriterOptions, "write">): OggOpusWriter & { closeFile(): void } {
  const fd = openSync(path, "w");
  const writer = new OggOpusWriter({ ...options, write: (page) => writeSync(fd, page) });
  let open = true;
  return Object.assign(writer, {
    closeFile() {
      writer.close();
      if (open) closeSync(fd);
      open = false;
    },
  });
}
