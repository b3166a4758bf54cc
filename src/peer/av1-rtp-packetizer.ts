/**
 * AV1 over RTP (AOM "RTP Payload Format for AV1", v1.0.0 §4), done once per temporal unit and
 * shared by every viewer like the H.264/HEVC packets (rtp-packetizer.ts).
 *
 * Payload of each RTP packet:
 *   aggregation header: Z(1) Y(1) W(2) N(1) reserved(3)
 *     Z  the first OBU element continues an OBU fragment of the previous packet
 *     Y  the last OBU element continues in the next packet
 *     W  number of OBU elements when 1–3 (the last one then has no length field); 0 = every
 *        element has one
 *     N  first packet of a coded video sequence (a temporal unit with a sequence header and a key
 *        frame); never together with Z
 *   OBU elements: [LEB128 length] OBU bytes (or a fragment of them)
 * The OBUs go without their size field (obu_has_size_field cleared: the element length says it),
 * and temporal delimiters, tile lists and padding are not sent (§5: the receiver knows a new
 * temporal unit by the RTP timestamp). The marker bit ends the temporal unit.
 *
 * Packets are planned first (pieces of OBUs per packet, in reused tables), then written once into
 * one buffer per frame.
 */
import { AV1_OBU, Av1BitstreamError, isAv1KeyTemporalUnit, leb128Length, readLeb128, writeLeb128 } from "../moonlight/video/av1-obu.ts";
import { RtpPacketizationError, RtpStream, type RtpFrame, type RtpStreamOptions } from "./rtp-packetizer.ts";

const Z = 0x80;
const Y = 0x40;
const N = 0x08;

/** Grows a typed table to hold index `i`. */
function fit(table: Int32Array<ArrayBuffer>, i: number): Int32Array<ArrayBuffer> {
  if (i < table.length) return table;
  const grown = new Int32Array(table.length * 2);
  grown.set(table);
  return grown;
}

export class Av1RtpPacketizer extends RtpStream {
  readonly codec = "av1" as const;
  // OBUs kept from the temporal unit: header offset and length, payload range.
  #obuHeader = new Int32Array(32);
  #obuHeaderLength = new Int32Array(32);
  #obuPayload = new Int32Array(32);
  #obuEnd = new Int32Array(32);
  // The plan: piece i is bytes [offset, offset+length) of OBU element #pieceObu[i], in packet #piecePacket[i].
  #pieceObu = new Int32Array(64);
  #pieceOffset = new Int32Array(64);
  #pieceLength = new Int32Array(64);
  #piecePacket = new Int32Array(64);
  readonly #lebLength = [0];

  constructor(options: RtpStreamOptions) {
    super(options);
  }

  /** `tu`: one temporal unit, low-overhead format (every OBU with its size field), as hosts send it. */
  packetize(tu: Uint8Array, timestamp: number, keyframe: boolean): RtpFrame {
    const obuCount = this.#findObus(tu);
    if (obuCount === 0) throw new RtpPacketizationError("temporal unit holds no OBU to send");
    const newSequence = keyframe && isAv1KeyTemporalUnit(tu);
    const capacity = this.maxPayloadBytes - 1;

    // ── plan: greedy fill, counting a length field for every element (W may drop the last one) ──
    let pieces = 0;
    let packetIndex = 0;
    let room = capacity;
    for (let o = 0; o < obuCount; o++) {
      const size = this.#obuHeaderLength[o]! + this.#obuEnd[o]! - this.#obuPayload[o]!;
      let offset = 0;
      while (offset < size) {
        // A length field plus at least a few bytes must fit, or the element goes to a new packet.
        if (room < 4) {
          packetIndex++;
          room = capacity;
        }
        const take = Math.min(size - offset, room - leb128Length(room));
        this.#piece(pieces++, o, offset, take, packetIndex);
        room -= leb128Length(take) + take;
        offset += take;
        if (offset < size) {
          packetIndex++;
          room = capacity;
        }
      }
    }
    const packetCount = packetIndex + 1;

    // ── write ──
    const header = this.headerBytes;
    let bound = 0;
    for (let i = 0; i < pieces; i++) bound += leb128Length(this.#pieceLength[i]!) + this.#pieceLength[i]!;
    const buf = new Uint8Array(bound + packetCount * (header + 1));
    const view = new DataView(buf.buffer);
    const packets: Uint8Array[] = new Array(packetCount);
    const firstSequence = this.sequence;
    let at = 0;
    let i = 0;
    for (let p = 0; p < packetCount; p++) {
      let last = i;
      while (last + 1 < pieces && this.#piecePacket[last + 1] === p) last++;
      const elements = last - i + 1;
      const packetStart = at;
      const payload = this.writeHeader(buf, view, at, p === packetCount - 1, timestamp);
      const lastObu = this.#pieceObu[last]!;
      const lastSize = this.#obuHeaderLength[lastObu]! + this.#obuEnd[lastObu]! - this.#obuPayload[lastObu]!;
      const continues = this.#pieceOffset[last]! + this.#pieceLength[last]! < lastSize;
      const w = elements <= 3 ? elements : 0;
      buf[payload] = (this.#pieceOffset[i]! > 0 ? Z : 0) | (continues ? Y : 0) | (w << 4) | (newSequence && p === 0 ? N : 0);
      at = payload + 1;
      for (let k = i; k <= last; k++) {
        const length = this.#pieceLength[k]!;
        if (!(w !== 0 && k === last)) at = writeLeb128(buf, at, length);
        at = this.#copyElement(tu, buf, at, this.#pieceObu[k]!, this.#pieceOffset[k]!, length);
      }
      packets[p] = buf.subarray(packetStart, at);
      i = last + 1;
    }
    return { packets, bytes: at, timestamp: timestamp >>> 0, keyframe, firstSequence };
  }

  #piece(i: number, obu: number, offset: number, length: number, packet: number): void {
    this.#pieceObu = fit(this.#pieceObu, i);
    this.#pieceOffset = fit(this.#pieceOffset, i);
    this.#pieceLength = fit(this.#pieceLength, i);
    this.#piecePacket = fit(this.#piecePacket, i);
    this.#pieceObu[i] = obu;
    this.#pieceOffset[i] = offset;
    this.#pieceLength[i] = length;
    this.#piecePacket[i] = packet;
  }

  /** Writes bytes [offset, offset+length) of OBU element `o` (header without size flag, then payload). */
  #copyElement(tu: Uint8Array, out: Uint8Array, at: number, o: number, offset: number, length: number): number {
    const headerAt = this.#obuHeader[o]!;
    const headerLength = this.#obuHeaderLength[o]!;
    let from = offset;
    const to = offset + length;
    while (from < to && from < headerLength) {
      out[at++] = from === 0 ? tu[headerAt]! & ~0x02 : tu[headerAt + from]!;
      from++;
    }
    if (from < to) {
      const payload = this.#obuPayload[o]!;
      out.set(tu.subarray(payload + from - headerLength, payload + to - headerLength), at);
      at += to - from;
    }
    return at;
  }

  /** Fills the OBU tables with the OBUs worth sending; returns their count. */
  #findObus(tu: Uint8Array): number {
    let count = 0;
    let at = 0;
    const end = tu.length;
    while (at < end) {
      const header = tu[at]!;
      if (header & 0x80) throw new Av1BitstreamError(`forbidden bit set in the OBU header at ${at}`);
      const headerLength = header & 0x04 ? 2 : 1;
      let payload: number;
      let obuEnd: number;
      if (header & 0x02) {
        const size = readLeb128(tu, at + headerLength, end, this.#lebLength);
        if (size < 0) throw new Av1BitstreamError(`bad OBU size at ${at}`);
        payload = at + headerLength + this.#lebLength[0]!;
        obuEnd = payload + size;
        if (obuEnd > end) throw new Av1BitstreamError(`OBU at ${at} runs past the temporal unit`);
      } else {
        // Without a size field an OBU runs to the end (only the last one may do that).
        payload = at + headerLength;
        obuEnd = end;
      }
      const type = (header >> 3) & 0x0f;
      if (type !== AV1_OBU.TEMPORAL_DELIMITER && type !== AV1_OBU.TILE_LIST && type !== AV1_OBU.PADDING) {
        this.#obuHeader = fit(this.#obuHeader, count);
        this.#obuHeaderLength = fit(this.#obuHeaderLength, count);
        this.#obuPayload = fit(this.#obuPayload, count);
        this.#obuEnd = fit(this.#obuEnd, count);
        this.#obuHeader[count] = at;
        this.#obuHeaderLength[count] = headerLength;
        this.#obuPayload[count] = payload;
        this.#obuEnd[count] = obuEnd;
        count++;
      }
      at = obuEnd;
    }
    return count;
  }
}
