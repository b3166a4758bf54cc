import { describe, expect, test } from "bun:test";
import { splitNalUnits, type VideoCodec } from "../../src/moonlight/video/nal.ts";
import { OpusRtpPacketizer, VideoRtpPacketizer } from "../../src/peer/rtp-packetizer.ts";
import { loopAccessUnits } from "../support/sim-loop.ts";


/** NAL payloads (without start codes or trailing zeros) of an access unit. */
function nalPayloads(codec: VideoCodec, au: Uint8Array): string[] {
  return splitNalUnits(codec, au).map((n) => {
    let end = n.end;
    while (end > n.payloadStart && au[end - 1] === 0) end--;
    return Buffer.from(au.subarray(n.payloadStart, end)).toString("hex");
  });
}

/** A receiver's view: reassembles NAL units from RTP packets (RFC 6184 / 7798). */
function depacketize(codec: VideoCodec, packets: readonly Uint8Array[]): string[] {
  const nals: string[] = [];
  let fu: number[] | undefined;
  for (const p of packets) {
    const csrc = p[0]! & 0x0f;
    let at = 12 + csrc * 4;
    if (p[0]! & 0x10) at += 4 + ((p[at + 2]! << 8) | p[at + 3]!) * 4;
    const payload = p.subarray(at);
    const type = codec === "hevc" ? (payload[0]! >> 1) & 0x3f : payload[0]! & 0x1f;
    const fuType = codec === "hevc" ? 49 : 28;
    if (type !== fuType) {
      nals.push(Buffer.from(payload).toString("hex"));
      continue;
    }
    const headerLen = codec === "hevc" ? 3 : 2;
    const fuHeader = payload[headerLen - 1]!;
    if (fuHeader & 0x80) {
      fu =
        codec === "hevc"
          ? [(payload[0]! & 0x81) | ((fuHeader & 0x3f) << 1), payload[1]!]
          : [(payload[0]! & 0xe0) | (fuHeader & 0x1f)];
    }
    fu!.push(...payload.subarray(headerLen));
    if (fuHeader & 0x40) {
      nals.push(Buffer.from(fu!).toString("hex"));
      fu = undefined;
    }
  }
  return nals;
}

describe("VideoRtpPacketizer", () => {
  for (const codec of ["h264", "hevc"] as const) {
    test(`${codec}: every access unit of the sim loop survives packetization byte for byte`, () => {
      const aus = loopAccessUnits(codec);
      expect(aus.length).toBe(120);
      const packetizer = new VideoRtpPacketizer(codec, { payloadType: 96, ssrc: 0x1234, maxPayloadBytes: 1200, initialSequence: 65530 });
      let expectedSeq = 65530;
      for (const [i, au] of aus.entries()) {
        const frame = packetizer.packetize(au, i * 1500, i % 30 === 0);
        expect(depacketize(codec, frame.packets)).toEqual(nalPayloads(codec, au));
        for (const [j, p] of frame.packets.entries()) {
          expect(p.length).toBeLessThanOrEqual(12 + 1200);
          expect((p[2]! << 8) | p[3]!).toBe(expectedSeq);
          expectedSeq = (expectedSeq + 1) & 0xffff;
          expect(Boolean(p[1]! & 0x80)).toBe(j === frame.packets.length - 1); // marker on the last packet only
          expect(p[1]! & 0x7f).toBe(96);
          expect(new DataView(p.buffer, p.byteOffset).getUint32(4)).toBe(i * 1500);
        }
        expect(frame.bytes).toBe(frame.packets.reduce((n, p) => n + p.length, 0));
      }
    });
  }

  test("the playout-delay extension carries min = max = 0 with the negotiated id", () => {
    const packetizer = new VideoRtpPacketizer("h264", { payloadType: 102, ssrc: 7, playoutDelayExtensionId: 6 });
    const au = Uint8Array.of(0, 0, 0, 1, 0x65, ...new Array(3000).fill(0x42), 0, 0);
    const frame = packetizer.packetize(au, 90000, true);
    expect(frame.packets.length).toBe(3);
    for (const p of frame.packets) {
      expect(p[0]).toBe(0x90);
      expect([...p.subarray(12, 20)]).toEqual([0xbe, 0xde, 0, 1, (6 << 4) | 2, 0, 0, 0]);
    }
    expect(depacketize("h264", frame.packets)).toEqual([Buffer.from([0x65, ...new Array(3000).fill(0x42)]).toString("hex")]);
  });

  test("an access unit without a start code is refused", () => {
    const packetizer = new VideoRtpPacketizer("h264", { payloadType: 96, ssrc: 1 });
    expect(() => packetizer.packetize(Uint8Array.of(1, 2, 3, 4), 0, false)).toThrow(/no NAL unit/);
  });
});

describe("OpusRtpPacketizer", () => {
  test("one Opus packet per RTP packet with consecutive sequence numbers", () => {
    const packetizer = new OpusRtpPacketizer({ payloadType: 111, ssrc: 9, initialSequence: 1 });
    const a = packetizer.packetize(Uint8Array.of(0xe8, 1, 2), 240);
    const b = packetizer.packetize(Uint8Array.of(0xe8, 3), 480);
    expect([...a]).toEqual([0x80, 111, 0, 1, 0, 0, 0, 240, 0, 0, 0, 9, 0xe8, 1, 2]);
    expect((b[2]! << 8) | b[3]!).toBe(2);
  });
});
