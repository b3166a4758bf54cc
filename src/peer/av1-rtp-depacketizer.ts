/**
 * The receiving side of av1-rtp-packetizer.ts: RTP packets in, AV1 temporal units out in the
 * low-overhead format a decoder (ffmpeg's `obu` demuxer, WebCodecs) takes — a temporal delimiter,
 * then every OBU with its size field put back. Used by the terminal viewer and by tests that play
 * the browser's part.
 *
 * Aggregation header Z|Y|W(2)|N|reserved(3), then OBU elements ([LEB128 length] bytes; with W = 1–3
 * the last element runs to the end of the packet). A fragment continues across packets (Y on the
 * one, Z on the next). A temporal unit ends at the marker bit or when the timestamp changes; a
 * sequence gap drops the unit and every later one until a key temporal unit (N, or a sequence
 * header followed by a key frame).
 */
import { AV1_OBU, isAv1KeyTemporalUnit, leb128Length, readLeb128, writeLeb128 } from "../moonlight/video/av1-obu.ts";
import type { DepacketizedFrame, RtpDepacketizerStats } from "./rtp-depacketizer.ts";
import { createRtpPacketView, readRtpPacket, RtpSequenceGap } from "./rtp-header.ts";

const TEMPORAL_DELIMITER = Uint8Array.of(AV1_OBU.TEMPORAL_DELIMITER << 3 | 0x02, 0);

export class Av1RtpDepacketizer {
  readonly codec = "av1" as const;
  readonly stats: RtpDepacketizerStats = { packets: 0, frames: 0, keyframes: 0, framesDropped: 0, packetsLost: 0, malformed: 0 };
  readonly #onFrame: (frame: DepacketizedFrame) => void;
  /** Complete OBUs of the unit being collected (each without its size field). */
  #obus: Uint8Array[] = [];
  /** Pieces of an OBU fragmented across packets. */
  #fragment: Uint8Array[] = [];
  #timestamp = -1;
  readonly #sequence = new RtpSequenceGap();
  #broken = false;
  #needKeyframe = true;
  readonly #lebLength = [0];
  readonly #rtp = createRtpPacketView();

  constructor(onFrame: (frame: DepacketizedFrame) => void) {
    this.#onFrame = onFrame;
  }

  /** True until a key temporal unit has been delivered (or after a loss): the viewer should send a PLI. */
  get waitingForKeyframe(): boolean {
    return this.#needKeyframe;
  }

  push(packet: Uint8Array): void {
    this.stats.packets++;
    const rtp = this.#rtp;
    if (!readRtpPacket(packet, rtp)) return void this.stats.malformed++;
    const { marker, timestamp } = rtp;
    const gap = this.#sequence.next(rtp.sequence);
    if (gap < 0) return; // late or duplicate: already past it
    this.stats.packetsLost += gap;
    if (timestamp !== this.#timestamp) {
      // A unit still open here never saw its marker: its tail is missing.
      if (this.#obus.length > 0 || this.#fragment.length > 0 || this.#broken) {
        this.#broken = true;
        this.#finish();
      }
      this.#timestamp = timestamp;
    }
    if (gap > 0) this.#broken = true;
    this.#payload(packet, rtp.payloadStart, rtp.payloadEnd);
    if (marker) this.#finish();
  }

  #payload(p: Uint8Array, start: number, end: number): void {
    const aggregation = p[start]!;
    const z = (aggregation & 0x80) !== 0;
    const y = (aggregation & 0x40) !== 0;
    const w = (aggregation >> 4) & 0x03;
    if (!z && this.#fragment.length > 0) {
      // The previous packet promised a continuation that did not come.
      this.#fragment = [];
      this.#broken = true;
    }
    let at = start + 1;
    let element = 0;
    while (at < end) {
      element++;
      let length: number;
      if (w !== 0 && element === w) {
        length = end - at;
      } else {
        length = readLeb128(p, at, end, this.#lebLength);
        if (length < 0 || at + this.#lebLength[0]! + length > end) return this.#malformed();
        at += this.#lebLength[0]!;
      }
      const bytes = p.subarray(at, at + length);
      at += length;
      const first = element === 1;
      const last = at >= end;
      if (first && z) {
        if (this.#fragment.length === 0) {
          // A continuation of a fragment we never saw the start of (its packet was lost).
          this.#broken = true;
        } else {
          this.#fragment.push(bytes);
          if (!(last && y)) this.#obus.push(this.#joinFragment());
        }
        continue;
      }
      if (last && y) this.#fragment.push(bytes);
      else if (length > 0) this.#obus.push(bytes);
    }
  }

  #malformed(): void {
    this.stats.malformed++;
    this.#broken = true;
  }

  #joinFragment(): Uint8Array {
    const parts = this.#fragment;
    this.#fragment = [];
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  #finish(): void {
    const obus = this.#obus;
    const broken = this.#broken || this.#fragment.length > 0;
    this.#obus = [];
    this.#fragment = [];
    this.#broken = false;
    if (obus.length === 0 && !broken) return;
    if (broken) {
      this.stats.framesDropped++;
      this.#needKeyframe = true;
      return;
    }
    // Low-overhead format: temporal delimiter, then each OBU with obu_has_size_field and its size.
    let size = TEMPORAL_DELIMITER.length;
    for (const obu of obus) {
      const headerLength = obu[0]! & 0x04 ? 2 : 1;
      size += obu.length + leb128Length(obu.length - headerLength);
    }
    const data = new Uint8Array(size);
    data.set(TEMPORAL_DELIMITER, 0);
    let at = TEMPORAL_DELIMITER.length;
    for (const obu of obus) {
      const headerLength = obu[0]! & 0x04 ? 2 : 1;
      if (obu.length < headerLength) return this.#malformedUnit();
      data[at] = obu[0]! | 0x02;
      if (headerLength === 2) data[at + 1] = obu[1]!;
      at = writeLeb128(data, at + headerLength, obu.length - headerLength);
      data.set(obu.subarray(headerLength), at);
      at += obu.length - headerLength;
    }
    const keyframe = isAv1KeyTemporalUnit(data);
    if (this.#needKeyframe && !keyframe) {
      this.stats.framesDropped++;
      return;
    }
    this.#needKeyframe = false;
    this.stats.frames++;
    if (keyframe) this.stats.keyframes++;
    this.#onFrame({ data, timestamp: this.#timestamp, keyframe });
  }

  #malformedUnit(): void {
    this.stats.malformed++;
    this.stats.framesDropped++;
    this.#needKeyframe = true;
  }
}
