/**
 * AV1 over RTP (AOM RTP payload format v1.0): the packetizer's aggregation headers and OBU
 * elements byte by byte, and the round trip packetizer → depacketizer over the sim host's AV1 loop
 * (what a browser or `mlstream join` receives is the host's temporal unit, byte for byte, and ffmpeg
 * decodes it).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AV1_OBU, isAv1KeyTemporalUnit, leb128Length, readLeb128, splitObus, splitTemporalUnits, writeLeb128 } from "../../src/moonlight/video/av1-obu.ts";
import { Av1RtpDepacketizer } from "../../src/peer/av1-rtp-depacketizer.ts";
import { Av1RtpPacketizer } from "../../src/peer/av1-rtp-packetizer.ts";
import type { DepacketizedFrame } from "../../src/peer/rtp-depacketizer.ts";
import type { ServerSignal } from "../../src/peer/signaling.ts";
import { WebRtcViewer } from "../../src/peer/webrtc-viewer.ts";
import { LOOP_STREAM_INFO } from "../support/sim-loop.ts";

const loop = splitTemporalUnits(readFileSync(resolve(import.meta.dir, "../../src/sim-host/assets/loop.av1")));

/** An OBU in low-overhead form: header (size flag set) ‖ LEB128 size ‖ payload. */
function obu(type: number, payload: number[]): number[] {
  const size = new Uint8Array(8);
  const n = writeLeb128(size, 0, payload.length);
  return [(type << 3) | 0x02, ...size.subarray(0, n), ...payload];
}

/** RTP payload (after the 12-byte header and the playout-delay extension when present). */
function payloadOf(packet: Uint8Array): Uint8Array {
  let at = 12;
  if (packet[0]! & 0x10) at += 4 + ((packet[at + 2]! << 8) | packet[at + 3]!) * 4;
  return packet.subarray(at);
}

describe("LEB128", () => {
  test("round-trips the values AV1 sizes take, in the fewest bytes", () => {
    const out = [0];
    for (const value of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21, 0xffffffff]) {
      const buf = new Uint8Array(8);
      const end = writeLeb128(buf, 0, value);
      expect(end).toBe(leb128Length(value));
      expect(readLeb128(buf, 0, end, out)).toBe(value);
      expect(out[0]).toBe(end);
    }
    const two = new Uint8Array(2);
    writeLeb128(two, 0, 300);
    expect(Array.from(two)).toEqual([0xac, 0x02]);
  });

  test("a cut-off or over-long field is refused", () => {
    const out = [0];
    expect(readLeb128(Uint8Array.of(0x80, 0x80), 0, 2, out)).toBe(-1);
    expect(readLeb128(new Uint8Array(9).fill(0x80), 0, 9, out)).toBe(-1);
  });
});

describe("Av1RtpPacketizer", () => {
  const sequenceHeader = obu(AV1_OBU.SEQUENCE_HEADER, [0x00, 0x00, 0x00, 0x0a, 0x0b]);
  // frame header byte 0x10: show_existing_frame 0, frame_type 00 (KEY_FRAME)
  const keyFrame = obu(AV1_OBU.FRAME, [0x10, ...Array.from({ length: 300 }, (_, i) => i & 0xff)]);
  const interFrame = obu(AV1_OBU.FRAME, [0x30, 1, 2, 3]);
  const td = obu(AV1_OBU.TEMPORAL_DELIMITER, []);

  test("one small temporal unit: TD dropped, size fields removed, W counts the elements, N on a new sequence, marker set", () => {
    const tu = Uint8Array.from([...td, ...sequenceHeader, ...obu(AV1_OBU.FRAME, [0x10, 9, 9])]);
    expect(isAv1KeyTemporalUnit(tu)).toBe(true);
    const packetizer = new Av1RtpPacketizer({ payloadType: 45, ssrc: 7, initialSequence: 100 });
    const frame = packetizer.packetize(tu, 9000, true);
    expect(frame.packets).toHaveLength(1);
    const packet = frame.packets[0]!;
    expect(packet[1]).toBe(0x80 | 45); // marker, PT
    const payload = Array.from(payloadOf(packet));
    // Z=0 Y=0 W=2 N=1; element 1 with its length (sequence header: header byte without the size flag, 5 bytes);
    // element 2 (the last) without one.
    expect(payload).toEqual([0x28, 6, AV1_OBU.SEQUENCE_HEADER << 3, 0, 0, 0, 0x0a, 0x0b, AV1_OBU.FRAME << 3, 0x10, 9, 9]);
    expect(frame.bytes).toBe(packet.length);
  });

  test("an inter frame: N clear; a large OBU is fragmented with Y then Z, every packet within the limit", () => {
    const packetizer = new Av1RtpPacketizer({ payloadType: 45, ssrc: 7, maxPayloadBytes: 100, playoutDelayExtensionId: 6 });
    const inter = packetizer.packetize(Uint8Array.from([...td, ...interFrame]), 1, false);
    expect(payloadOf(inter.packets[0]!)[0]).toBe(0x10); // W=1 only

    const big = packetizer.packetize(Uint8Array.from([...td, ...sequenceHeader, ...keyFrame]), 2, true);
    expect(big.packets.length).toBe(4);
    const headers = big.packets.map((p) => payloadOf(p)[0]!);
    expect(headers[0]! & 0x08).toBe(0x08); // N
    expect(headers[0]! & 0x80).toBe(0); // no Z on the first
    for (let i = 0; i < headers.length - 1; i++) {
      expect(headers[i]! & 0x40).toBe(0x40); // Y: continues
      expect(headers[i + 1]! & 0x80).toBe(0x80); // Z: continuation
      expect(headers[i + 1]! & 0x08).toBe(0);
    }
    expect(headers.at(-1)! & 0x40).toBe(0);
    for (const [i, p] of big.packets.entries()) {
      expect(p.length).toBeLessThanOrEqual(12 + 8 + 100);
      expect((p[1]! & 0x80) !== 0).toBe(i === big.packets.length - 1);
    }
    // Sequence numbers run on from the inter frame.
    expect(big.firstSequence).toBe((inter.firstSequence + 1) & 0xffff);
  });

  test("a temporal unit with nothing to send is an error, not an empty frame", () => {
    const packetizer = new Av1RtpPacketizer({ payloadType: 45, ssrc: 7 });
    expect(() => packetizer.packetize(Uint8Array.from(td), 1, false)).toThrow();
  });
});

describe("AV1 round trip over the sim host's loop", () => {
  test("every temporal unit comes out byte for byte, key units marked, and ffmpeg decodes them without error", () => {
    const packetizer = new Av1RtpPacketizer({ payloadType: 45, ssrc: 7, playoutDelayExtensionId: 6 });
    const frames: DepacketizedFrame[] = [];
    const depacketizer = new Av1RtpDepacketizer((frame) => frames.push(frame));
    let packets = 0;
    for (const [i, tu] of loop.entries()) {
      const rtp = packetizer.packetize(tu, i * 1500, isAv1KeyTemporalUnit(tu));
      packets += rtp.packets.length;
      for (const p of rtp.packets) depacketizer.push(p);
    }
    expect(packets).toBeGreaterThan(loop.length * 5);
    expect(frames).toHaveLength(loop.length);
    expect(frames.filter((f) => f.keyframe)).toHaveLength(4);
    for (const [i, frame] of frames.entries()) expect(Buffer.from(frame.data).equals(Buffer.from(loop[i]!))).toBe(true);
    expect(depacketizer.stats.malformed).toBe(0);

    const dir = mkdtempSync(join(tmpdir(), "mlstream-av1-"));
    try {
      const file = join(dir, "out.obu");
      writeFileSync(file, Buffer.concat(frames.map((f) => f.data)));
      const run = Bun.spawnSync(["ffmpeg", "-v", "error", "-f", "obu", "-i", file, "-f", "null", "-"], { stderr: "pipe" });
      expect(run.exitCode).toBe(0);
      expect(run.stderr.toString()).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a lost packet drops its unit and every unit until the next key unit", () => {
    const packetizer = new Av1RtpPacketizer({ payloadType: 45, ssrc: 7 });
    const frames: DepacketizedFrame[] = [];
    const depacketizer = new Av1RtpDepacketizer((frame) => frames.push(frame));
    for (const [i, tu] of loop.slice(0, 40).entries()) {
      const rtp = packetizer.packetize(tu, i * 1500, isAv1KeyTemporalUnit(tu));
      rtp.packets.forEach((p, k) => {
        if (!(i === 5 && k === 0)) depacketizer.push(p);
      });
    }
    // Units 0–4 arrive, 5–29 are lost or undecodable, the key unit 30 and what follows arrive.
    expect(frames.map((f) => f.timestamp / 1500)).toEqual([0, 1, 2, 3, 4, ...Array.from({ length: 10 }, (_, k) => 30 + k)]);
    expect(depacketizer.stats.packetsLost).toBe(1);
    expect(depacketizer.stats.framesDropped).toBe(25);
  });

  test("malformed packets are counted and dropped", () => {
    const depacketizer = new Av1RtpDepacketizer(() => {
      throw new Error("no frame expected");
    });
    depacketizer.push(Uint8Array.of(0x80, 0xad, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0x00, 0x7f)); // element length past the end
    depacketizer.push(Uint8Array.of(0x80, 0xad)); // too short
    expect(depacketizer.stats.malformed).toBe(2);
  });

  test("the loop's OBUs all carry size fields (what the packetizer relies on to strip them)", () => {
    for (const tu of loop) expect(splitObus(tu)[0]!.type).toBe(AV1_OBU.TEMPORAL_DELIMITER);
  });
});

describe("AV1 in the viewer's offer", () => {
  test("AV1/90000 on payload type 45 with nack, nack pli and ccm fir, and the playout-delay extension", async () => {
    const signals: ServerSignal[] = [];
    const viewer = new WebRtcViewer({ id: "av1", stream: { ...LOOP_STREAM_INFO, codec: "av1" }, videoSsrc: 1, audioSsrc: 2, ice: { bindAddress: "127.0.0.1" }, signal: (m) => signals.push(m) });
    try {
      viewer.start();
      const end = Date.now() + 5000;
      while (!signals.some((m) => m.type === "offer") && Date.now() < end) await Bun.sleep(10);
      const offer = signals.find((m): m is Extract<ServerSignal, { type: "offer" }> => m.type === "offer")!;
      const video = offer.sdp.slice(offer.sdp.indexOf("m=video"), offer.sdp.indexOf("m=audio") > offer.sdp.indexOf("m=video") ? offer.sdp.indexOf("m=audio") : undefined);
      expect(video).toMatch(/^m=video \d+ UDP\/TLS\/RTP\/SAVPF 45\r?\n/);
      expect(video).toContain("a=rtpmap:45 AV1/90000");
      expect(video).toContain("a=rtcp-fb:45 nack\r\n");
      expect(video).toContain("a=rtcp-fb:45 nack pli");
      expect(video).toContain("a=rtcp-fb:45 ccm fir");
      expect(video).toContain("playout-delay");
      expect(video).not.toContain("H264");
    } finally {
      viewer.close();
    }
  });
});
