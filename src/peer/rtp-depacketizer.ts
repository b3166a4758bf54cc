/**
 * The receiving side of rtp-packetizer.ts: RTP packets in (as a WebRTC track delivers them),
 * Annex-B access units out. Used by the terminal viewer and by tests that play the viewer's part.
 *
 * H.264 (RFC 6184): single NAL (1–23), STAP-A (24: [u16 size][NAL]…), FU-A (28: indicator, header
 * S|E|R|type). H.265 (RFC 7798): single NAL, AP (48: 2-byte header then [u16 size][NAL]…), FU (49:
 * 2-byte header, then S|E|type6). A frame ends at the marker bit (or when the timestamp changes);
 * a sequence gap inside a frame drops that frame and every later one until a keyframe.
 */
import { isIdrAccessUnit, type VideoCodec } from "../moonlight/video/nal.ts";
import { createRtpPacketView, readRtpPacket, RtpSequenceGap } from "./rtp-header.ts";

export interface DepacketizedFrame {
  data: Uint8Array;
  timestamp: number;
  keyframe: boolean;
}

export interface RtpDepacketizerStats {
  packets: number;
  frames: number;
  keyframes: number;
  /** Frames discarded because packets were missing (or they referenced a discarded frame). */
  framesDropped: number;
  /** Packets missing by sequence number. */
  packetsLost: number;
  malformed: number;
}

const START_CODE = Uint8Array.of(0, 0, 0, 1);

export class RtpDepacketizer {
  readonly codec: Exclude<VideoCodec, "av1">;
  readonly stats: RtpDepacketizerStats = { packets: 0, frames: 0, keyframes: 0, framesDropped: 0, packetsLost: 0, malformed: 0 };
  readonly #onFrame: (frame: DepacketizedFrame) => void;
  #parts: Uint8Array[] = [];
  #size = 0;
  #timestamp = -1;
  readonly #sequence = new RtpSequenceGap();
  #frameBroken = false;
  #needKeyframe = true;
  #fuOpen = false;
  readonly #rtp = createRtpPacketView();

  constructor(codec: Exclude<VideoCodec, "av1">, onFrame: (frame: DepacketizedFrame) => void) {
    this.codec = codec;
    this.#onFrame = onFrame;
  }

  /** True until a keyframe has been delivered (or after a loss): the viewer should send a PLI. */
  get waitingForKeyframe(): boolean {
    return this.#needKeyframe;
  }

  push(packet: Uint8Array): void {
    this.stats.packets++;
    const rtp = this.#rtp;
    if (!readRtpPacket(packet, rtp)) {
      this.stats.malformed++;
      return;
    }
    const { marker, timestamp } = rtp;
    const gap = this.#sequence.next(rtp.sequence);
    if (gap < 0) return; // late or duplicate packet: already past it
    if (gap > 0) {
      this.stats.packetsLost += gap;
      this.#frameBroken = true;
    }
    if (timestamp !== this.#timestamp) {
      if (this.#size > 0 || this.#frameBroken) this.#finish();
      this.#timestamp = timestamp;
    }
    this.#payload(packet.subarray(rtp.payloadStart, rtp.payloadEnd));
    if (marker) this.#finish();
  }

  #payload(p: Uint8Array): void {
    if (this.codec === "hevc") {
      if (p.length < 3) return void this.stats.malformed++;
      const type = (p[0]! >> 1) & 0x3f;
      if (type === 48) return this.#aggregate(p, 2);
      if (type === 49) {
        const fu = p[2]!;
        if (fu & 0x80) {
          this.#add(START_CODE, Uint8Array.of((p[0]! & 0x81) | ((fu & 0x3f) << 1), p[1]!));
          this.#fuOpen = true;
        } else if (!this.#fuOpen) {
          this.#frameBroken = true;
          return;
        }
        this.#add(p.subarray(3));
        if (fu & 0x40) this.#fuOpen = false;
        return;
      }
      return this.#add(START_CODE, p);
    }
    const type = p[0]! & 0x1f;
    if (type === 24) return this.#aggregate(p, 1);
    if (type === 28) {
      if (p.length < 2) return void this.stats.malformed++;
      const fu = p[1]!;
      if (fu & 0x80) {
        this.#add(START_CODE, Uint8Array.of((p[0]! & 0xe0) | (fu & 0x1f)));
        this.#fuOpen = true;
      } else if (!this.#fuOpen) {
        this.#frameBroken = true;
        return;
      }
      this.#add(p.subarray(2));
      if (fu & 0x40) this.#fuOpen = false;
      return;
    }
    this.#add(START_CODE, p);
  }

  #aggregate(p: Uint8Array, headerBytes: number): void {
    let at = headerBytes;
    while (at + 2 <= p.length) {
      const size = (p[at]! << 8) | p[at + 1]!;
      at += 2;
      if (size === 0 || at + size > p.length) return void this.stats.malformed++;
      this.#add(START_CODE, p.subarray(at, at + size));
      at += size;
    }
  }

  #add(...parts: Uint8Array[]): void {
    for (const part of parts) {
      this.#parts.push(part);
      this.#size += part.length;
    }
  }

  #finish(): void {
    const parts = this.#parts;
    const size = this.#size;
    const broken = this.#frameBroken || this.#fuOpen;
    this.#parts = [];
    this.#size = 0;
    this.#frameBroken = false;
    this.#fuOpen = false;
    if (size === 0) return;
    if (broken) {
      this.stats.framesDropped++;
      this.#needKeyframe = true;
      return;
    }
    const data = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
    const keyframe = isIdrAccessUnit(this.codec, data);
    if (this.#needKeyframe && !keyframe) {
      this.stats.framesDropped++;
      return;
    }
    this.#needKeyframe = false;
    this.stats.frames++;
    if (keyframe) this.stats.keyframes++;
    this.#onFrame({ data, timestamp: this.#timestamp, keyframe });
  }
}
