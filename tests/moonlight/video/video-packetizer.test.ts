import { describe, expect, test } from "bun:test";
import { VideoCipher } from "../../../src/moonlight/video/video-crypto.ts";
import { VideoDepacketizer, type VideoFrame } from "../../../src/moonlight/video/video-depacketizer.ts";
import { createVideoPacketHeader, parseVideoPacketHeader } from "../../../src/moonlight/video/video-packet.ts";
import { VideoPacketizer } from "../../../src/moonlight/video/video-packetizer.ts";
import { hex, seededRandom } from "./media-fixtures.ts";

const IDR_30_BYTES = Uint8Array.from([0, 0, 0, 1, 0x67, ...Array.from({ length: 25 }, (_, i) => i + 1)]);

describe("VideoPacketizer follows Sunshine's method (§5.3)", () => {
  test("the worked example without FEC: one 1408-byte datagram with the reference header bytes", () => {
    const packetizer = new VideoPacketizer({ packetSize: 1392, fecPercentage: 0 });
    const { datagrams, blocks } = packetizer.packetize(IDR_30_BYTES, { isIdr: true, timestamp: 6000 });
    expect(blocks).toEqual([{ dataShards: 1, parityShards: 0, fecPercentage: 0 }]);
    expect(datagrams).toHaveLength(1);
    const d = datagrams[0]!;
    expect(d.length).toBe(1408);
    expect(hex(d.subarray(0, 45))).toBe(
      "90000000" + "00001770" + "0000000000000000" + "00000000" + "01000000" + "07001000" + "00004000" + "0100000226000000" + "0000000167",
    );
    expect(d.subarray(40 + 30).every((b) => b === 0)).toBe(true);
  });

  test("with 20 % FEC and minRequiredFecPackets 2 a one-shard frame gets pct 200 and two parity shards", () => {
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const { datagrams, blocks } = packetizer.packetize(IDR_30_BYTES, { isIdr: true, timestamp: 6000 });
    expect(blocks).toEqual([{ dataShards: 1, parityShards: 2, fecPercentage: 200 }]);
    const fecInfo = (d: Uint8Array) => hex(Uint8Array.from(d.subarray(28, 32)).reverse());
    expect(datagrams.map(fecInfo)).toEqual(["00400c80", "00401c80", "00402c80"]);
    expect(datagrams.map((d) => (d[2]! << 8) | d[3]!)).toEqual([0, 1, 2]);
  });

  test("sequence numbers and packet indices continue across frames, frame indices start at 1", () => {
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const h = createVideoPacketHeader();
    const seen: number[][] = [];
    for (let i = 0; i < 3; i++) {
      for (const d of packetizer.packetize(new Uint8Array(3000).fill(1), { timestamp: i * 1500 }).datagrams) {
        expect(parseVideoPacketHeader(d, h)).toBeNull();
        seen.push([h.frameIndex, h.sequenceNumber, h.shardIndex]);
        if (h.shardIndex < h.dataShards) expect(h.streamPacketIndex).toBe(h.sequenceNumber);
      }
    }
    expect(seen.map((s) => s[1])).toEqual(seen.map((_, i) => i));
    expect(new Set(seen.map((s) => s[0]))).toEqual(new Set([1, 2, 3]));
  });

  test("large frames are split into equal FEC blocks of at most 212 data shards at 20 %", () => {
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const { blocks, datagrams } = packetizer.packetize(new Uint8Array(400000).fill(7), { isIdr: true, timestamp: 0 });
    expect(blocks).toEqual([
      { dataShards: 146, parityShards: 30, fecPercentage: 20 },
      { dataShards: 145, parityShards: 29, fecPercentage: 20 },
    ]);
    const h = createVideoPacketHeader();
    parseVideoPacketHeader(datagrams[176]!, h);
    expect([h.blockIndex, h.lastBlockIndex, h.shardIndex, h.flags]).toEqual([1, 1, 0, 0x05]);
  });

  test("frames that would need more than 4 FEC blocks are sent in 4 blocks without FEC", () => {
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const { blocks } = packetizer.packetize(new Uint8Array(1500000).fill(7), { timestamp: 0 });
    expect(blocks.map((b) => b.parityShards)).toEqual([0, 0, 0, 0]);
    expect(blocks.reduce((n, b) => n + b.dataShards, 0)).toBe(Math.ceil((1500000 + 8) / 1376));
  });
});

function randomAccessUnit(random: () => number, size: number, idr: boolean): Uint8Array {
  const au = Uint8Array.from({ length: size }, () => 1 + Math.floor(random() * 255));
  const head = idr ? [0, 0, 0, 1, 0x67, 0x64, 0, 0x28, 0, 0, 0, 1, 0x68, 0xee, 0, 0, 0, 1, 0x65] : [0, 0, 0, 1, 0x41];
  au.set(head, 0);
  return au;
}

function expectIntact(frame: VideoFrame, au: Uint8Array): void {
  expect(Buffer.compare(frame.data.subarray(0, au.length), au)).toBe(0);
  expect(frame.data.subarray(au.length).every((b) => b === 0)).toBe(true);
}

describe("round trip: VideoPacketizer → loss → VideoDepacketizer", () => {
  const sizes = [40, 1368, 1369, 5000, 20000, 60000, 150000, 290000, 500000];

  test("dropping up to P shards of every FEC block at random still yields identical frames", () => {
    const random = seededRandom(2024);
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const frames: VideoFrame[] = [];
    const depacketizer = new VideoDepacketizer({ codec: "h264", packetSize: 1392 }, { onFrame: (f) => frames.push(f) });
    const aus: Uint8Array[] = [];
    for (let round = 0; round < 4; round++) {
      for (const size of sizes) {
        const au = randomAccessUnit(random, size, aus.length === 0);
        aus.push(au);
        const { datagrams, blocks } = packetizer.packetize(au, { isIdr: aus.length === 1, timestamp: aus.length * 1500 });
        let at = 0;
        for (const block of blocks) {
          const n = block.dataShards + block.parityShards;
          const drop = new Set<number>();
          const budget = Math.floor(random() * (block.parityShards + 1));
          while (drop.size < budget) drop.add(Math.floor(random() * n));
          for (let i = 0; i < n; i++) if (!drop.has(i)) depacketizer.push(datagrams[at + i]!);
          at += n;
        }
      }
    }
    expect(frames).toHaveLength(aus.length);
    frames.forEach((f, i) => {
      expect(f.frameNumber).toBe(i + 1);
      expectIntact(f, aus[i]!);
    });
    expect(depacketizer.stats.fecRecoveries).toBeGreaterThan(50);
    expect(depacketizer.stats.framesLost).toBe(0);
  });

  test("3 % random datagram loss: exactly the blocks with more losses than parity are lost, all others intact", () => {
    const random = seededRandom(3);
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const frames: VideoFrame[] = [];
    const depacketizer = new VideoDepacketizer({ codec: "h264", packetSize: 1392 }, { onFrame: (f) => frames.push(f) });
    const aus = new Map<number, Uint8Array>();
    const predictedLost = new Set<number>();
    for (let i = 0; i < 600; i++) {
      // every frame an IDR, so that each one is decodable on its own and losses stay independent
      const size = i % 60 === 0 ? 200000 : 15000 + Math.floor(random() * 40000);
      const au = randomAccessUnit(random, size, true);
      const { frameIndex, datagrams, blocks } = packetizer.packetize(au, { isIdr: true, timestamp: i * 1500 });
      aus.set(frameIndex, au);
      let at = 0;
      for (const block of blocks) {
        const n = block.dataShards + block.parityShards;
        let received = 0;
        for (let k = 0; k < n; k++) {
          if (random() < 0.03) continue;
          received++;
          depacketizer.push(datagrams[at + k]!);
        }
        if (received < block.dataShards) predictedLost.add(frameIndex);
        at += n;
      }
    }
    const emitted = new Set(frames.map((f) => f.frameNumber));
    for (const f of frames) expectIntact(f, aus.get(f.frameNumber)!);
    for (const n of aus.keys()) expect(emitted.has(n)).toBe(!predictedLost.has(n));
    expect(frames.length).toBeGreaterThan(590);
    expect(depacketizer.stats.fecRecoveries).toBeGreaterThan(300);
  });

  test("encrypted video (§5.7) round-trips, and tampered or foreign-key datagrams are rejected", () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    const random = seededRandom(5);
    const packetizer = new VideoPacketizer({ packetSize: 1360, cipher: new VideoCipher(key) });
    const frames: VideoFrame[] = [];
    const depacketizer = new VideoDepacketizer({ codec: "h264", packetSize: 1360, cipher: new VideoCipher(key) }, { onFrame: (f) => frames.push(f) });
    const aus = [randomAccessUnit(random, 9000, true), randomAccessUnit(random, 4000, false)];
    const sent = aus.map((au, i) => packetizer.packetize(au, { isIdr: i === 0, timestamp: i }).datagrams);
    expect(sent[0]![0]!.length).toBe(1360 + 16 + 32);
    const tampered = Uint8Array.from(sent[1]![0]!);
    tampered[40]! ^= 1;
    const foreign = new VideoPacketizer({ packetSize: 1360, cipher: new VideoCipher(new Uint8Array(16)) }).packetize(aus[1]!, { timestamp: 0 }).datagrams[0]!;
    depacketizer.push(tampered);
    depacketizer.push(foreign);
    for (const d of sent[0]!.slice(1)) depacketizer.push(d); // first data shard lost: rebuilt from parity
    for (const d of sent[1]!) depacketizer.push(d);
    expect(depacketizer.stats.decryptFailures).toBe(2);
    expect(frames).toHaveLength(2);
    frames.forEach((f, i) => expectIntact(f, aus[i]!));
    for (const d of sent[0]!) depacketizer.push(d); // stale shards are skipped before decryption
    expect(depacketizer.stats.decryptFailures).toBe(2);
  });
});
