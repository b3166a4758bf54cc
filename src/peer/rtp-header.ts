/**
 * The fixed RTP header (RFC 3550 §5.1) as a receiver needs it, read into a caller-owned object
 * (one per depacketizer: no allocation per packet).
 *   0: V=2 P X CC | 1: M PT | 2-3: sequence | 4-7: timestamp | 8-11: SSRC | CSRC×CC
 *   [X] profile(2) length(2, in 32-bit words) extension words | payload | [P] padding, last byte = its length
 */
export interface RtpPacketView {
  marker: boolean;
  sequence: number;
  timestamp: number;
  payloadStart: number;
  payloadEnd: number;
}

export function createRtpPacketView(): RtpPacketView {
  return { marker: false, sequence: 0, timestamp: 0, payloadStart: 0, payloadEnd: 0 };
}

/** Fills `out` from `packet`; false when it is not an RTP packet with a non-empty payload. */
export function readRtpPacket(packet: Uint8Array, out: RtpPacketView): boolean {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return false;
  out.marker = (packet[1]! & 0x80) !== 0;
  out.sequence = (packet[2]! << 8) | packet[3]!;
  out.timestamp = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
  let at = 12 + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) {
    if (at + 4 > packet.length) return false;
    at += 4 + ((packet[at + 2]! << 8) | packet[at + 3]!) * 4;
  }
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[end - 1]!;
  if (at >= end) return false;
  out.payloadStart = at;
  out.payloadEnd = end;
  return true;
}

/** Follows one stream's sequence numbers (16-bit, wrapping). */
export class RtpSequenceGap {
  #expected = -1;

  /** Packets missing just before `sequence` (0 = none), or −1 for a late or repeated packet: drop it. */
  next(sequence: number): number {
    let gap = 0;
    if (this.#expected >= 0 && sequence !== this.#expected) {
      gap = (sequence - this.#expected) & 0xffff;
      if (gap > 0x8000) return -1;
    }
    this.#expected = (sequence + 1) & 0xffff;
    return gap;
  }
}
