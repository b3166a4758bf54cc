/**
 * Parsing of the RTCP feedback a viewer sends back on a media track (libdatachannel hands us the
 * decrypted compound packet). We act on PLI and FIR (the viewer needs a keyframe) and read NACKs
 * and receiver reports for statistics; everything else is skipped.
 *
 * Common header (RFC 3550): V=2 P RC/FMT(5) | PT | length (32-bit words − 1)
 *   RR  (201): sender SSRC, then RC report blocks of 24 bytes:
 *        SSRC, fraction lost (8) + cumulative lost (24), highest seq, jitter, LSR, DLSR
 *   RTPFB (205) FMT 1 generic NACK (RFC 4585): sender SSRC, media SSRC, then FCI words PID(16) BLP(16)
 *   PSFB  (206) FMT 1 PLI: sender SSRC, media SSRC
 *   PSFB  (206) FMT 4 FIR (RFC 5104): sender SSRC, 0, then entries SSRC(32) seq(8) reserved(24)
 *   PSFB  (206) FMT 15 REMB (draft-alvestrand-rmcat-remb): sender SSRC, 0, "REMB", SSRC count(8)
 *        BR exponent(6) BR mantissa(18) (bitrate = mantissa << exponent, bits/s), then the SSRCs
 */

export interface RtcpFeedback {
  /** A Picture Loss Indication or Full Intra Request was present. */
  keyframeRequested: boolean;
  /** Sequence numbers the viewer reported missing (generic NACK). */
  nackedSequences: number[];
  /** The first receiver-report block, if any. */
  report?: { fractionLost: number; cumulativeLost: number; jitter: number; highestSequence: number };
  /** The receiver's estimate of its link (REMB, bits/s), if it sent one. */
  rembBps?: number;
}

const PT_SR = 200;
const PT_RR = 201;
const PT_RTPFB = 205;
const PT_PSFB = 206;
const FMT_REMB = 15;
/** "REMB" as a big-endian u32. */
const REMB_ID = 0x52454d42;

/**
 * Reads a compound RTCP packet. Malformed input yields what was read before the damage (never
 * throws): the caller counts `ok === false`.
 */
export function parseRtcpFeedback(packet: Uint8Array): RtcpFeedback & { ok: boolean } {
  const out: RtcpFeedback & { ok: boolean } = { keyframeRequested: false, nackedSequences: [], ok: true };
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let at = 0;
  while (at + 4 <= packet.length) {
    const first = packet[at]!;
    if (first >> 6 !== 2) {
      out.ok = false;
      break;
    }
    const count = first & 0x1f;
    const type = packet[at + 1]!;
    const length = (view.getUint16(at + 2) + 1) * 4;
    if (at + length > packet.length) {
      out.ok = false;
      break;
    }
    const body = at + 4;
    if ((type === PT_RR || type === PT_SR) && count > 0 && out.report === undefined) {
      const block = body + 4 + (type === PT_SR ? 20 : 0);
      if (block + 24 <= at + length) {
        const lost = view.getUint32(block + 4);
        out.report = {
          fractionLost: (lost >>> 24) / 256,
          cumulativeLost: lost & 0x00ffffff,
          highestSequence: view.getUint32(block + 8),
          jitter: view.getUint32(block + 12),
        };
      }
    } else if (type === PT_PSFB && (count === 1 || count === 4)) {
      out.keyframeRequested = true;
    } else if (type === PT_PSFB && count === FMT_REMB && body + 16 <= at + length && view.getUint32(body + 8) === REMB_ID) {
      const word = view.getUint32(body + 12);
      out.rembBps = (word & 0x3ffff) * 2 ** ((word >>> 18) & 0x3f);
    } else if (type === PT_RTPFB && count === 1) {
      for (let fci = body + 8; fci + 4 <= at + length; fci += 4) {
        const pid = view.getUint16(fci);
        const blp = view.getUint16(fci + 2);
        out.nackedSequences.push(pid);
        for (let bit = 0; bit < 16; bit++) if (blp & (1 << bit)) out.nackedSequences.push((pid + bit + 1) & 0xffff);
      }
    }
    at += length;
  }
  return out;
}

/**
 * Serializes a generic NACK (RTPFB FMT 1) for `sequences` (at most 17 per FCI word: a PID and the
 * 16 following in its bitmask).
 */
export function serializeNack(senderSsrc: number, mediaSsrc: number, sequences: readonly number[]): Uint8Array {
  const words: [number, number][] = [];
  const sorted = [...new Set(sequences.map((s) => s & 0xffff))].sort((a, b) => a - b);
  for (const seq of sorted) {
    const last = words.at(-1);
    const offset = last ? (seq - last[0]) & 0xffff : 0;
    if (last && offset >= 1 && offset <= 16) last[1] |= 1 << (offset - 1);
    else words.push([seq, 0]);
  }
  const packet = new Uint8Array(12 + words.length * 4);
  const view = new DataView(packet.buffer);
  packet[0] = 0x81;
  packet[1] = PT_RTPFB;
  view.setUint16(2, packet.length / 4 - 1);
  view.setUint32(4, senderSsrc >>> 0);
  view.setUint32(8, mediaSsrc >>> 0);
  words.forEach(([pid, blp], i) => {
    view.setUint16(12 + i * 4, pid);
    view.setUint16(14 + i * 4, blp);
  });
  return packet;
}

/** Serializes a REMB for `bitrateBps` about `mediaSsrc` (24 bytes: header, sender SSRC, 0, "REMB", count 1 + exponent + mantissa, media SSRC). */
export function serializeRemb(senderSsrc: number, mediaSsrc: number, bitrateBps: number): Uint8Array {
  let exponent = 0;
  let mantissa = Math.max(0, Math.floor(bitrateBps));
  while (mantissa > 0x3ffff) {
    mantissa = Math.floor(mantissa / 2);
    exponent++;
  }
  const packet = new Uint8Array(24);
  const view = new DataView(packet.buffer);
  packet[0] = 0x80 | FMT_REMB;
  packet[1] = PT_PSFB;
  view.setUint16(2, packet.length / 4 - 1);
  view.setUint32(4, senderSsrc >>> 0);
  view.setUint32(12, REMB_ID);
  view.setUint32(16, ((1 << 24) | (exponent << 18) | mantissa) >>> 0);
  view.setUint32(20, mediaSsrc >>> 0);
  return packet;
}

/** Seconds between 1900 (NTP's epoch) and 1970 (Unix's). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/**
 * Serializes a sender report without report blocks (RFC 3550 §6.4.1), 28 bytes:
 *   0x80 | 200 | length 6 | SSRC | NTP seconds | NTP fraction | RTP timestamp | packets | octets
 * An RTP source sends these so that a receiver can map RTP time to wall-clock time and, for Janus's
 * streaming plugin, learn where to send its keyframe requests.
 */
export function serializeSenderReport(ssrc: number, wallClockMs: number, rtpTimestamp: number, packets: number, octets: number): Uint8Array {
  const packet = new Uint8Array(28);
  const view = new DataView(packet.buffer);
  packet[0] = 0x80;
  packet[1] = PT_SR;
  view.setUint16(2, 6);
  view.setUint32(4, ssrc >>> 0);
  const seconds = Math.floor(wallClockMs / 1000);
  view.setUint32(8, (seconds + NTP_UNIX_OFFSET_S) >>> 0);
  view.setUint32(12, Math.floor(((wallClockMs % 1000) / 1000) * 0x1_0000_0000) >>> 0);
  view.setUint32(16, rtpTimestamp >>> 0);
  view.setUint32(20, packets >>> 0);
  view.setUint32(24, octets >>> 0);
  return packet;
}
