import { describe, expect, test } from "bun:test";
import { AUDIO_FEC_HEADER_SIZE, AUDIO_RTP_HEADER_SIZE } from "../../../src/moonlight/audio/audio-packet.ts";
import { GF_EXP, GF_INV, GF_LOG, ReedSolomon, ReedSolomonParameterError, cauchyParityMatrix, gfMul } from "../../../src/moonlight/fec/reed-solomon.ts";
import { createVideoPacketHeader, parityShardCount, parseVideoPacketHeader } from "../../../src/moonlight/video/video-packet.ts";
import { hex, loadMediaFixture, seededRandom, unhex } from "../video/media-fixtures.ts";

describe("GF(256) with polynomial 0x11D", () => {
  test("log and exp tables are inverse and generator 2 has order 255", () => {
    for (let a = 1; a < 256; a++) expect(GF_EXP[GF_LOG[a]!]).toBe(a);
    expect(GF_EXP[8]).toBe(0x1d); // 2^8 = x^4+x^3+x^2+1
    expect(new Set(GF_EXP.subarray(0, 255)).size).toBe(255);
  });

  test("every non-zero element times its inverse is 1", () => {
    for (let a = 1; a < 256; a++) expect(gfMul(a, GF_INV[a]!)).toBe(1);
  });
});

describe("video Reed-Solomon (nanors Cauchy construction)", () => {
  test("the 5+3 parity matrix matches the reference rows", () => {
    expect(hex(cauchyParityMatrix(5, 3))).toBe("f447a77aba" + "8ea747ba7a" + "017aba47a7");
  });

  test("encoding the reference 5+3 vector gives the reference parity", () => {
    const data = ["010c1722", "26313c47", "4b56616c", "707b8691", "95a0abb6"].map(unhex);
    const parity = [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)];
    new ReedSolomon(5, 3).encode(data, parity, 4);
    expect(parity.map(hex)).toEqual(["dfb16fcd", "5e8b7ba2", "f6fcf2b2"]);
  });

  test("any 3 erasures of 5+3 are rebuilt exactly", () => {
    const data = ["010c1722", "26313c47", "4b56616c", "707b8691", "95a0abb6"].map(unhex);
    const parity = [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)];
    const code = new ReedSolomon(5, 3);
    code.encode(data, parity, 4);
    const all = [...data, ...parity];
    for (let a = 0; a < 8; a++)
      for (let b = a + 1; b < 8; b++)
        for (let c = b + 1; c < 8; c++) {
          const shards: (Uint8Array | null)[] = all.map((s, i) => (i === a || i === b || i === c ? null : s));
          const out = data.map((_, i) => (shards[i] ? undefined : new Uint8Array(4)));
          expect(code.decode(shards, out, 4)).toBe(true);
          for (let i = 0; i < 5; i++) if (!shards[i]) expect(hex(out[i]!)).toBe(hex(data[i]!));
        }
  });

  test("decode refuses when fewer than D shards remain", () => {
    const code = new ReedSolomon(4, 2);
    const shards = [null, null, null, new Uint8Array(4), new Uint8Array(4), null];
    expect(code.decode(shards, [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)], 4)).toBe(false);
  });

  test("short shards count as zero-extended, as the client zero-extends short datagrams", () => {
    const random = seededRandom(7);
    const size = 64;
    const full = Array.from({ length: 6 }, () => Uint8Array.from({ length: size }, () => Math.floor(random() * 256)));
    full[5]!.fill(0, 40); // the last data shard's tail is padding
    const parity = [new Uint8Array(size), new Uint8Array(size)];
    const code = ReedSolomon.forVideo(6, 2);
    code.encode(full, parity, size);
    const shards: (Uint8Array | null)[] = [...full.slice(0, 5), full[5]!.subarray(0, 40), ...parity];
    shards[1] = null;
    const out = [undefined, new Uint8Array(size)];
    expect(code.decode(shards, out, size)).toBe(true);
    expect(hex(out[1]!)).toBe(hex(full[1]!));
  });

  test("random geometries up to 255 shards rebuild random erasure patterns", () => {
    const random = seededRandom(11);
    for (const [d, p] of [[1, 2], [3, 2], [7, 2], [30, 6], [212, 43], [100, 155]] as const) {
      const size = 24;
      const data = Array.from({ length: d }, () => Uint8Array.from({ length: size }, () => Math.floor(random() * 256)));
      const parity = Array.from({ length: p }, () => new Uint8Array(size));
      const code = ReedSolomon.forVideo(d, p);
      code.encode(data, parity, size);
      const shards: (Uint8Array | null)[] = [...data, ...parity];
      const order = shards.map((_, i) => i).sort(() => random() - 0.5);
      for (const i of order.slice(0, p)) shards[i] = null;
      const out = data.map((_, i) => (shards[i] ? undefined : new Uint8Array(size)));
      expect(code.decode(shards, out, size)).toBe(true);
      for (let i = 0; i < d; i++) if (!shards[i]) expect(hex(out[i]!)).toBe(hex(data[i]!));
    }
  });

  test("impossible geometries are rejected when a code is built", () => {
    expect(() => new ReedSolomon(0, 2)).toThrow(ReedSolomonParameterError);
    expect(() => new ReedSolomon(250, 6)).toThrow(ReedSolomonParameterError);
  });

  test("codes are cached per (D, P)", () => {
    expect(ReedSolomon.forVideo(9, 2)).toBe(ReedSolomon.forVideo(9, 2));
  });
});

describe("audio Reed-Solomon (fixed OpenFEC matrix)", () => {
  test("encoding the reference 4+2 vector gives the reference parity", () => {
    const data = ["00010203", "10111213", "20212223", "30313233"].map(unhex);
    const parity = [new Uint8Array(4), new Uint8Array(4)];
    ReedSolomon.forAudio().encode(data, parity, 4);
    expect(parity.map(hex)).toEqual(["1a1b1819", "90919293"]);
  });
});

// Bytes of a parity shard that the host overwrites after encoding (RTP header, frame index,
// multi-FEC bytes, fecInfo); everything else must equal the recomputed parity.
const STAMPED = (offset: number) => offset < 16 || (offset >= 20 && offset < 24) || offset >= 26 && offset < 32;

for (const name of ["wolf-h264-clean", "wolf-hevc-clean"]) {
  test(`recomputing every video parity shard of ${name} gives the captured bytes`, () => {
    const fx = loadMediaFixture(name);
    const size = fx.keys.negotiated.packetSize + 16;
    const h = createVideoPacketHeader();
    const blocks = new Map<string, Map<number, Uint8Array>>();
    const geometry = new Map<string, [number, number]>();
    for (const { payload } of fx.video) {
      expect(parseVideoPacketHeader(payload, h)).toBeNull();
      const key = `${h.frameIndex}/${h.blockIndex}`;
      if (!blocks.has(key)) blocks.set(key, new Map());
      blocks.get(key)!.set(h.shardIndex, payload);
      geometry.set(key, [h.dataShards, parityShardCount(h.dataShards, h.fecPercentage)]);
    }
    let compared = 0;
    for (const [key, shards] of blocks) {
      const [d, p] = geometry.get(key)!;
      if (shards.size !== d + p || p === 0) continue;
      const data = Array.from({ length: d }, (_, i) => shards.get(i)!);
      const parity = Array.from({ length: p }, () => new Uint8Array(size));
      ReedSolomon.forVideo(d, p).encode(data, parity, size);
      for (let j = 0; j < p; j++) {
        const captured = shards.get(d + j)!;
        for (let o = 0; o < size; o++) if (!STAMPED(o) && parity[j]![o] !== captured[o]) throw new Error(`${key} parity ${j} differs at ${o}`);
        compared++;
      }
    }
    expect(compared).toBe(name === "wolf-h264-clean" ? 562 : 564);
  });
}

test("recomputing every audio parity packet of wolf-h264-clean gives the captured bytes", () => {
  const fx = loadMediaFixture("wolf-h264-clean");
  const payloads = new Map<number, Uint8Array>();
  const parityPackets: Uint8Array[] = [];
  for (const { payload } of fx.audio) {
    if ((payload[1]! & 0x7f) === 97) payloads.set((payload[2]! << 8) | payload[3]!, payload.subarray(AUDIO_RTP_HEADER_SIZE));
    else parityPackets.push(payload);
  }
  let matched = 0;
  for (const packet of parityPackets) {
    const index = packet[12]!;
    const base = (packet[14]! << 8) | packet[15]!;
    const data = [0, 1, 2, 3].map((i) => payloads.get(base + i)!);
    const parity = packet.subarray(AUDIO_RTP_HEADER_SIZE + AUDIO_FEC_HEADER_SIZE);
    const out = [new Uint8Array(parity.length), new Uint8Array(parity.length)];
    ReedSolomon.forAudio().encode(data, out, parity.length);
    expect(hex(out[index]!)).toBe(hex(parity));
    matched++;
  }
  expect(matched).toBe(888);
});
