/**
 * RTP packetization for the viewer side, done **once per frame** and shared by every viewer: the
 * fan-out writes the same packets to each viewer's track (field notes: one packetizer per viewer
 * was what limited the system we replace).
 *
 * RTP header (RFC 3550), 12 bytes, then an optional RFC 8285 one-byte-header extension block:
 *   0: V=2 P X CC | 1: M PT | 2-3: sequence | 4-7: timestamp | 8-11: SSRC
 *   [X] BE DE | length=1 (words) | id<<4 | len-1=2 | 3 bytes playout delay (min 12 bits, max 12 bits)
 * H.264 payloads (RFC 6184, packetization-mode 1): a single NAL unit, or FU-A fragments
 *   (indicator F|NRI|28, header S|E|R|type). H.265 (RFC 7798): a single NAL unit, or FU fragments
 *   (payload header = NAL header with type 49, then S|E|type6).
 * The playout-delay extension (min = max = 0) asks the browser to render at once instead of letting
 * its jitter buffer creep up (field notes: ~140 ms after a long session).
 */
import { findStartCode, startCodeLength, type VideoCodec } from "../moonlight/video/nal.ts";

export const RTP_HEADER_BYTES = 12;
const EXTENSION_BLOCK_BYTES = 8;
const H264_FU_A = 28;
const HEVC_FU = 49;

export interface RtpStreamOptions {
  payloadType: number;
  ssrc: number;
  /** Largest RTP payload; 1200 keeps datagrams under common path MTUs after SRTP and IP headers. */
  maxPayloadBytes?: number;
  /** RTP header extension id negotiated for playout-delay; omit to send no extension. */
  playoutDelayExtensionId?: number;
  /** First sequence number (random by default, as RFC 3550 asks). */
  initialSequence?: number;
}

/** One frame's RTP packets, in one buffer; `packets[i]` are views into it. */
export interface RtpFrame {
  readonly packets: readonly Uint8Array[];
  readonly bytes: number;
  readonly timestamp: number;
  readonly keyframe: boolean;
  /** Sequence number of the first packet. */
  readonly firstSequence: number;
}

export class RtpPacketizationError extends Error {
  override name = "RtpPacketizationError";
}

export abstract class RtpStream {
  readonly payloadType: number;
  readonly ssrc: number;
  readonly maxPayloadBytes: number;
  readonly playoutDelayExtensionId: number | undefined;
  protected sequence: number;

  constructor(options: RtpStreamOptions) {
    this.payloadType = options.payloadType;
    this.ssrc = options.ssrc >>> 0;
    this.maxPayloadBytes = options.maxPayloadBytes ?? 1200;
    this.playoutDelayExtensionId = options.playoutDelayExtensionId;
    this.sequence = (options.initialSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
    if (this.maxPayloadBytes < 64) throw new RtpPacketizationError("maxPayloadBytes must be at least 64");
  }

  protected get headerBytes(): number {
    return RTP_HEADER_BYTES + (this.playoutDelayExtensionId === undefined ? 0 : EXTENSION_BLOCK_BYTES);
  }

  /** Writes the RTP header at `at`; returns the payload offset. */
  protected writeHeader(buf: Uint8Array, view: DataView, at: number, marker: boolean, timestamp: number): number {
    const ext = this.playoutDelayExtensionId !== undefined;
    buf[at] = ext ? 0x90 : 0x80;
    buf[at + 1] = (marker ? 0x80 : 0) | this.payloadType;
    view.setUint16(at + 2, this.sequence, false);
    this.sequence = (this.sequence + 1) & 0xffff;
    view.setUint32(at + 4, timestamp >>> 0, false);
    view.setUint32(at + 8, this.ssrc, false);
    if (!ext) return at + RTP_HEADER_BYTES;
    const e = at + RTP_HEADER_BYTES;
    buf[e] = 0xbe;
    buf[e + 1] = 0xde;
    buf[e + 2] = 0;
    buf[e + 3] = 1;
    buf[e + 4] = (this.playoutDelayExtensionId! << 4) | 2;
    buf[e + 5] = 0; // min delay 0, max delay 0 (in 10 ms units)
    buf[e + 6] = 0;
    buf[e + 7] = 0;
    return e + EXTENSION_BLOCK_BYTES;
  }

  get nextSequence(): number {
    return this.sequence;
  }
}

/**
 * Cuts Annex-B access units (H.264 or HEVC) into RTP packets. One buffer allocation per frame; no
 * per-packet copies beyond writing each packet once.
 */
export class VideoRtpPacketizer extends RtpStream {
  readonly codec: Exclude<VideoCodec, "av1">;
  /** NAL ranges of the frame being packetized (reused). */
  #nalStarts = new Int32Array(64);
  #nalEnds = new Int32Array(64);

  constructor(codec: Exclude<VideoCodec, "av1">, options: RtpStreamOptions) {
    super(options);
    this.codec = codec;
  }

  packetize(accessUnit: Uint8Array, timestamp: number, keyframe: boolean): RtpFrame {
    const nalHeaderBytes = this.codec === "hevc" ? 2 : 1;
    const fuOverhead = this.codec === "hevc" ? 3 : 2;
    const fragmentBytes = this.maxPayloadBytes - fuOverhead;
    const count = this.#findNals(accessUnit);
    const header = this.headerBytes;

    let packetCount = 0;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const len = this.#nalEnds[i]! - this.#nalStarts[i]!;
      if (len <= this.maxPayloadBytes) {
        packetCount++;
        total += header + len;
      } else {
        const body = len - nalHeaderBytes;
        const n = Math.ceil(body / fragmentBytes);
        packetCount += n;
        total += n * (header + fuOverhead) + body;
      }
    }
    const firstSequence = this.sequence;
    const buf = new Uint8Array(total);
    const view = new DataView(buf.buffer);
    const packets: Uint8Array[] = new Array(packetCount);
    let at = 0;
    let p = 0;
    for (let i = 0; i < count; i++) {
      const start = this.#nalStarts[i]!;
      const end = this.#nalEnds[i]!;
      const lastNal = i === count - 1;
      if (end - start <= this.maxPayloadBytes) {
        const payload = this.writeHeader(buf, view, at, lastNal, timestamp);
        buf.set(accessUnit.subarray(start, end), payload);
        const packetEnd = payload + (end - start);
        packets[p++] = buf.subarray(at, packetEnd);
        at = packetEnd;
        continue;
      }
      let src = start + nalHeaderBytes;
      let first = true;
      while (src < end) {
        const take = Math.min(fragmentBytes, end - src);
        const last = src + take === end;
        const payload = this.writeHeader(buf, view, at, last && lastNal, timestamp);
        if (this.codec === "hevc") {
          const h0 = accessUnit[start]!;
          const type = (h0 >> 1) & 0x3f;
          buf[payload] = (h0 & 0x81) | (HEVC_FU << 1);
          buf[payload + 1] = accessUnit[start + 1]!;
          buf[payload + 2] = (first ? 0x80 : 0) | (last ? 0x40 : 0) | type;
        } else {
          const h = accessUnit[start]!;
          buf[payload] = (h & 0xe0) | H264_FU_A;
          buf[payload + 1] = (first ? 0x80 : 0) | (last ? 0x40 : 0) | (h & 0x1f);
        }
        buf.set(accessUnit.subarray(src, src + take), payload + fuOverhead);
        const packetEnd = payload + fuOverhead + take;
        packets[p++] = buf.subarray(at, packetEnd);
        at = packetEnd;
        src += take;
        first = false;
      }
    }
    return { packets, bytes: total, timestamp: timestamp >>> 0, keyframe, firstSequence };
  }

  /** Fills the NAL tables (header byte to last non-zero byte); returns the count. */
  #findNals(au: Uint8Array): number {
    let count = 0;
    const end = au.length;
    let pos = findStartCode(au, 0, end);
    while (pos < end) {
      const start = pos + startCodeLength(au, pos, end);
      const next = findStartCode(au, start, end);
      // Trailing zero bytes belong to the byte stream, not to the NAL unit (hosts pad frames with them).
      let stop = next;
      while (stop > start && au[stop - 1] === 0) stop--;
      if (stop > start) {
        if (count === this.#nalStarts.length) this.#grow();
        this.#nalStarts[count] = start;
        this.#nalEnds[count] = stop;
        count++;
      }
      pos = next;
    }
    if (count === 0) throw new RtpPacketizationError("access unit holds no NAL unit (no Annex-B start code)");
    return count;
  }

  #grow(): void {
    const starts = new Int32Array(this.#nalStarts.length * 2);
    const ends = new Int32Array(this.#nalEnds.length * 2);
    starts.set(this.#nalStarts);
    ends.set(this.#nalEnds);
    this.#nalStarts = starts;
    this.#nalEnds = ends;
  }
}

/** Opus (RFC 7587): one Opus packet per RTP packet, 48 kHz timestamps. */
export class OpusRtpPacketizer extends RtpStream {
  packetize(opus: Uint8Array, timestamp: number): Uint8Array {
    const buf = new Uint8Array(this.headerBytes + opus.length);
    const payload = this.writeHeader(buf, new DataView(buf.buffer), 0, false, timestamp);
    buf.set(opus, payload);
    return buf;
  }
}
