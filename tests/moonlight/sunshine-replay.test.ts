/**
 * Replaying real Moonlight ⇄ Sunshine captures (tests/fixtures/sunshine-*): our depacketizers,
 * given the host→client datagrams and the session keys, must hand out exactly what the real
 * client handed its decoders — video byte for byte (encrypted and clear), audio packet for packet.
 */
import { describe, expect, test } from "bun:test";
import { AudioDepacketizer, type AudioPacket } from "../../src/moonlight/audio/audio-depacketizer.ts";
import { AudioCipher } from "../../src/moonlight/audio/audio-packet.ts";
import { VideoCipher } from "../../src/moonlight/video/video-crypto.ts";
import { VideoDepacketizer, type IdrReason, type VideoFrame } from "../../src/moonlight/video/video-depacketizer.ts";
import { hex, loadMediaFixture, unhex, type MediaFixture } from "./video/media-fixtures.ts";

/** Sunshine sends video with UDP GSO; on `lo` tcpdump records the unsegmented send. */
function segments(fx: MediaFixture, wireSize: number): Uint8Array[] {
  return fx.video.flatMap((d) => {
    const out: Uint8Array[] = [];
    for (let at = 0; at < d.payload.length; at += wireSize) out.push(d.payload.subarray(at, Math.min(at + wireSize, d.payload.length)));
    return out;
  });
}

function replayVideo(name: string) {
  const fx = loadMediaFixture(name);
  const encrypted = fx.keys.negotiated.packetSize === 1360;
  const packetSize = fx.keys.negotiated.packetSize;
  // Wire size: 16 RTP + 16 NV + payload (packetSize − 16 NV… the client's packetSize counts NV) + 32 when encrypted.
  const wireSize = packetSize + 16 + (encrypted ? 32 : 0);
  const frames: VideoFrame[] = [];
  const idrRequests: IdrReason[] = [];
  const depacketizer = new VideoDepacketizer(
    { codec: fx.keys.negotiated.codec === "h264" ? "h264" : "hevc", packetSize, ...(encrypted ? { cipher: new VideoCipher(unhex(fx.keys.rikey)) } : {}) },
    { onFrame: (f) => frames.push(f), onIdrNeeded: (r) => idrRequests.push(r) },
  );
  const datagrams = segments(fx, wireSize);
  for (const d of datagrams) depacketizer.push(d);
  return { fx, frames, idrRequests, datagrams, stats: depacketizer.stats, byNumber: new Map(frames.map((f) => [f.frameNumber, f])) };
}

function replayAudio(fx: MediaFixture): { packets: AudioPacket[]; decryptFailures: number; lost: number } {
  const packets: AudioPacket[] = [];
  // Sunshine's sessions here use 5 ms audio packets and (always, on Sunshine) encrypted audio.
  const depacketizer = new AudioDepacketizer({ packetDurationMs: 5, cipher: new AudioCipher(unhex(fx.keys.rikey), fx.keys.rikeyid) }, { onPacket: (p) => packets.push(p) });
  for (const d of fx.audio) depacketizer.push(d.payload, d.timeUs);
  return { packets, decryptFailures: depacketizer.stats.decryptFailures, lost: depacketizer.stats.lost };
}

describe("replaying real Sunshine captures", () => {
  test("sunshine-h264-encrypted: 849 AES-GCM video packets from GSO batches give the client's 254 decode units byte for byte", () => {
    const { fx, frames, byNumber, datagrams, stats, idrRequests } = replayVideo("sunshine-h264-encrypted");
    expect(datagrams).toHaveLength(849);
    expect(fx.expectedFrames).toHaveLength(254);
    for (const expected of fx.expectedFrames) {
      const frame = byNumber.get(expected.frameNumber);
      expect(frame, `frame ${expected.frameNumber}`).toBeDefined();
      expect(frame!.data.length).toBe(expected.size);
      expect(Buffer.compare(frame!.data, expected.bytes)).toBe(0);
      expect(frame!.isIdr).toBe(expected.isIdr);
    }
    // Frames are numbered from 1 and frame 1 is the only IDR (Sunshine sends keyframes only on request).
    expect(frames[0]!.frameNumber).toBe(1);
    expect(frames.filter((f) => f.isIdr).map((f) => f.frameNumber)).toEqual([1]);
    expect(idrRequests).toEqual([]);
    expect(stats.malformed).toBe(0);
    expect(stats.framesLost).toBe(0);
  });

  test("sunshine-hevc-clean: clear HEVC video gives the client's decode units byte for byte", () => {
    const { fx, frames, byNumber, stats } = replayVideo("sunshine-hevc-clean");
    expect(fx.expectedFrames.length).toBeGreaterThan(100);
    for (const expected of fx.expectedFrames) {
      const frame = byNumber.get(expected.frameNumber);
      expect(frame, `frame ${expected.frameNumber}`).toBeDefined();
      expect(Buffer.compare(frame!.data, expected.bytes)).toBe(0);
      expect(frame!.isIdr).toBe(expected.isIdr);
    }
    expect(frames[0]!.frameNumber).toBe(1);
    expect(stats.malformed).toBe(0);
  });

  for (const name of ["sunshine-h264-encrypted", "sunshine-hevc-clean"]) {
    test(`${name}: the AES-CBC audio decrypts to opus-packets.bin, in order, with the same sequence numbers`, () => {
      const fx = loadMediaFixture(name);
      const { packets, decryptFailures, lost } = replayAudio(fx);
      expect(fx.expectedOpus.length).toBeGreaterThan(400);
      // The real client drops the first 500 ms (seq 0…99); we hand out everything, so align by sequence.
      const bySeq = new Map(packets.map((p) => [p.sequenceNumber, p]));
      for (const expected of fx.expectedOpus) {
        const p = bySeq.get(expected.rtpSeq);
        expect(p?.data && hex(p.data)).toBe(hex(expected.bytes));
      }
      expect(decryptFailures).toBe(0);
      expect(lost).toBe(0);
    });
  }
});
