import { describe, expect, test } from "bun:test";
import path from "node:path";
import { AudioDepacketizer, type AudioPacket } from "../../../src/moonlight/audio/audio-depacketizer.ts";
import { AudioCipher } from "../../../src/moonlight/audio/audio-packet.ts";
import { AudioPacketizer } from "../../../src/moonlight/audio/audio-packetizer.ts";
import { readPcap } from "../../support/pcap.ts";
import { FIXTURES, type MediaFixture, hex, loadMediaFixture, seededRandom, unhex } from "../video/media-fixtures.ts";

function replay(fx: MediaFixture, datagrams = fx.audio) {
  const packets: AudioPacket[] = [];
  const depacketizer = new AudioDepacketizer(
    { packetDurationMs: fx.keys.negotiated.audio.packetDurationMs, cipher: new AudioCipher(unhex(fx.keys.rikey), fx.keys.rikeyid) },
    { onPacket: (p) => packets.push(p) },
  );
  for (const d of datagrams) depacketizer.push(d.payload, d.timeUs);
  return { packets, stats: depacketizer.stats };
}

describe("replaying real Wolf captures", () => {
  for (const name of ["wolf-h264-clean", "wolf-hevc-clean", "wolf-h264-loss"]) {
    test(`${name}: the Opus packets equal opus-packets.bin, in order, with the same sequence numbers`, () => {
      const fx = loadMediaFixture(name);
      const { packets, stats } = replay(fx);
      // The real client stopped when the session ended; we keep going with what the capture still holds.
      expect(packets.length).toBeGreaterThanOrEqual(fx.expectedOpus.length);
      fx.expectedOpus.forEach((expected, i) => {
        const p = packets[i]!;
        expect(p.sequenceNumber).toBe(expected.rtpSeq);
        expect(p.data && hex(p.data)).toBe(hex(expected.bytes));
        expect(p.recovered).toBe(expected.source === "fec-recovered");
      });
      expect(stats.decryptFailures).toBe(0);
      expect(stats.lost).toBe(0);
    });
  }

  test("wolf-h264-loss: 52 of the played packets come from audio FEC, and playback starts at seq 104 like the client's", () => {
    const fx = loadMediaFixture("wolf-h264-loss");
    const { packets, stats } = replay(fx);
    expect(fx.expectedOpus.filter((e) => e.source === "fec-recovered")).toHaveLength(52);
    expect(packets[0]!.sequenceNumber).toBe(104);
    expect(stats.fecFailures).toBe(0);
    // 55 data packets were dropped; the ones in the drain window are never rebuilt
    expect(stats.fecRecoveries).toBeGreaterThanOrEqual(52);
  });

  test("wolf-h264-loss: rebuilt packets decrypt to the same Opus bytes as the dropped originals", () => {
    const fx = loadMediaFixture("wolf-h264-loss");
    const dropped = readPcap(path.join(FIXTURES, "wolf-h264-loss/dropped.pcap")).udp.filter((d) => d.srcPort === fx.keys.server_ports.audio);
    const seq = (d: Uint8Array) => (d[2]! << 8) | d[3]!;
    const isData = (d: Uint8Array) => (d[1]! & 0x7f) === 97;
    // Ordered by sequence: data packets of a block, then its parity (as sent).
    const order = (d: Uint8Array) => (isData(d) ? seq(d) * 2 : (((d[14]! << 8) | d[15]!) + 3) * 2 + 1);
    const all = [...fx.audio, ...dropped].sort((a, b) => order(a.payload) - order(b.payload));
    const complete = replay(fx, all);
    const recovered = replay(fx);
    const bySeq = new Map(complete.packets.map((p) => [p.sequenceNumber, p]));
    const rebuilt = recovered.packets.filter((p) => p.recovered);
    expect(rebuilt.length).toBeGreaterThanOrEqual(52);
    for (const p of rebuilt) expect(hex(p.data!)).toBe(hex(bySeq.get(p.sequenceNumber)!.data!));
  });
});

describe("AudioDepacketizer behaviour", () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  const opus = (seq: number) => Uint8Array.from({ length: 60 }, (_, i) => (seq * 7 + i) & 0xff);

  function stream(count: number, cipher?: AudioCipher) {
    const packetizer = new AudioPacketizer({ packetDurationMs: 5, ...(cipher ? { cipher } : {}) });
    const datagrams: Uint8Array[][] = [];
    for (let s = 0; s < count; s++) datagrams.push(packetizer.packetize(opus(s)));
    return datagrams;
  }

  test("an unrecoverable block is emitted as losses for concealment once a later block arrives", () => {
    const packets: AudioPacket[] = [];
    const depacketizer = new AudioDepacketizer({ packetDurationMs: 5, initialDiscardMs: 0 }, { onPacket: (p) => packets.push(p) });
    const groups = stream(16);
    groups.flat().forEach((d, i) => {
      const seq = (d[2]! << 8) | d[3]!;
      const fec = (d[1]! & 0x7f) === 127;
      if (!fec && (seq === 9 || seq === 10)) return; // two data packets of block 8…11
      if (fec && ((d[14]! << 8) | d[15]!) === 8) return; // and its parity
      depacketizer.push(d, i * 5000);
    });
    // first packet only synchronises: playback starts at block 4
    expect(packets.map((p) => (p.data ? p.sequenceNumber : -p.sequenceNumber))).toEqual([4, 5, 6, 7, 8, -9, -10, 11, 12, 13, 14, 15]);
    expect(depacketizer.stats.fecFailures).toBe(1);
    expect(depacketizer.stats.lost).toBe(2);
  });

  test("random 10 % loss with encryption: every block with ≤ 2 losses plays intact, in order", () => {
    const cipher = new AudioCipher(key, -12345);
    const random = seededRandom(99);
    const packets: AudioPacket[] = [];
    const depacketizer = new AudioDepacketizer({ packetDurationMs: 5, cipher: new AudioCipher(key, -12345), initialDiscardMs: 0 }, { onPacket: (p) => packets.push(p) });
    const datagrams = stream(2000, cipher).flat();
    datagrams.forEach((d, i) => {
      if (i > 0 && random() < 0.1) return;
      depacketizer.push(d, i * 2500);
    });
    const seqs = packets.map((p) => p.sequenceNumber);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    for (const p of packets) if (p.data) expect(hex(p.data)).toBe(hex(opus(p.sequenceNumber)));
    expect(depacketizer.stats.fecRecoveries).toBeGreaterThan(100);
    expect(packets.filter((p) => p.data).length).toBeGreaterThan(1950);
  });

  test("malformed datagrams are counted and dropped; a block-size change switches to pass-through", () => {
    const packets: AudioPacket[] = [];
    const depacketizer = new AudioDepacketizer({ packetDurationMs: 5, initialDiscardMs: 0 }, { onPacket: (p) => packets.push(p) });
    depacketizer.push(new Uint8Array(5));
    depacketizer.push(Uint8Array.of(0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1)); // unknown payload type
    depacketizer.push(new Uint8Array(1500)); // oversize
    expect(depacketizer.stats.malformed).toBe(3);
    const packetizer = new AudioPacketizer({ packetDurationMs: 5 });
    for (let s = 0; s < 8; s++) for (const d of packetizer.packetize(opus(s))) depacketizer.push(d);
    for (const d of packetizer.packetize(new Uint8Array(30).fill(9))) depacketizer.push(d);
    for (const d of packetizer.packetize(opus(9))) depacketizer.push(d); // size differs inside block 8: FEC off, 9 dropped
    expect(depacketizer.passThrough).toBe(true);
    for (const d of packetizer.packetize(opus(10))) depacketizer.push(d);
    expect(packets.map((p) => p.sequenceNumber)).toEqual([4, 5, 6, 7, 8, 10]);
  });

  test("the first 500 ms of data packets are discarded by default", () => {
    const packets: AudioPacket[] = [];
    const depacketizer = new AudioDepacketizer({ packetDurationMs: 5 }, { onPacket: (p) => packets.push(p) });
    for (const d of stream(200).flat()) depacketizer.push(d);
    expect(depacketizer.stats.discarded).toBe(100 + 48); // 100 data packets and the parity sent meanwhile
    // the next packet (parity of block 96) only synchronises; playback starts at the next block
    expect(packets[0]!.sequenceNumber).toBe(100);
  });
});
