/**
 * The Ogg/Opus writer of `join --record-audio`: CRCs agree with pages ffmpeg writes, packets of
 * any size lace correctly, and a file of the sim host's Opus loop decodes whole with ffmpeg.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadOpusLoop } from "../../src/sim-host/media-source.ts";
import { createOggOpusFile, oggCrc, oggPage, opusPacketSamples, OggOpusWriter } from "../../src/peer/ogg-opus-writer.ts";
import { tempDir } from "../support/cli.ts";

const dir = tempDir("mlstream-ogg-");
afterAll(() => dir.cleanup());

/** Splits an Ogg file into pages (header fields and body). */
function pages(file: Uint8Array) {
  const out: { flags: number; granule: bigint; sequence: number; crc: number; bytes: Uint8Array; packets: Uint8Array[] }[] = [];
  let at = 0;
  while (at < file.length) {
    const view = new DataView(file.buffer, file.byteOffset + at);
    expect(new TextDecoder().decode(file.subarray(at, at + 4))).toBe("OggS");
    const segments = file[at + 26]!;
    const lacing = file.subarray(at + 27, at + 27 + segments);
    let size = 27 + segments;
    const packets: Uint8Array[] = [];
    let packetStart = size;
    let packetSize = 0;
    for (const l of lacing) {
      packetSize += l;
      if (l < 255) {
        packets.push(file.subarray(at + packetStart, at + packetStart + packetSize));
        packetStart += packetSize;
        packetSize = 0;
      }
    }
    size += lacing.reduce((n, l) => n + l, 0);
    out.push({ flags: file[at + 5]!, granule: view.getBigInt64(6, true), sequence: view.getUint32(18, true), crc: view.getUint32(22, true), bytes: file.subarray(at, at + size), packets });
    at += size;
  }
  return out;
}

function crcOfPage(page: Uint8Array): number {
  const copy = page.slice();
  copy.fill(0, 22, 26);
  return oggCrc(copy);
}

describe("Ogg/Opus writer", () => {
  test("our CRC matches the CRC of every page ffmpeg writes", async () => {
    const path = join(dir.path, "ffmpeg.ogg");
    const ff = Bun.spawnSync(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "libopus", "-y", path]);
    expect(ff.exitCode).toBe(0);
    const written = pages(new Uint8Array(readFileSync(path)));
    expect(written.length).toBeGreaterThanOrEqual(3);
    for (const page of written) expect(crcOfPage(page.bytes)).toBe(page.crc);
  });

  test("TOC bytes give the packet duration", () => {
    expect(opusPacketSamples(Uint8Array.of(0xfc))).toBe(960); // CELT 20 ms, one frame
    expect(opusPacketSamples(Uint8Array.of(0xe0))).toBe(120); // CELT 2.5 ms
    expect(opusPacketSamples(Uint8Array.of(0xe9))).toBe(480); // CELT 5 ms, two frames (code 1)
    expect(opusPacketSamples(Uint8Array.of(0x03, 0x03))).toBe(480 * 3); // SILK 10 ms, code 3, 3 frames
    expect(opusPacketSamples(Uint8Array.of(0x78))).toBe(960); // Hybrid 20 ms
  });

  test("packets of 255 bytes and more lace with a terminating segment", () => {
    const sizes = [1, 254, 255, 256, 510, 600];
    const packets = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
    const page = oggPage({ packets, granule: 42n, serial: 7, sequence: 3, flags: 0 });
    const [parsed] = pages(page);
    expect(parsed!.packets.map((p) => p.length)).toEqual(sizes);
    expect(parsed!.granule).toBe(42n);
    expect(parsed!.sequence).toBe(3);
    expect(crcOfPage(page)).toBe(parsed!.crc);
  });

  test("headers on their own pages, granules that grow, EOS on the last page", () => {
    const out: Uint8Array[] = [];
    const writer = new OggOpusWriter({ channels: 2, write: (p) => out.push(p), serial: 1234 });
    const packet = Uint8Array.of(0xfc, 1, 2, 3); // 20 ms
    for (let i = 0; i < 120; i++) writer.write(packet);
    writer.close();
    writer.close();
    const all = out.flatMap((p) => pages(p));
    expect(new TextDecoder().decode(all[0]!.packets[0]!.subarray(0, 8))).toBe("OpusHead");
    expect(all[0]!.flags).toBe(0x02);
    expect(all[0]!.packets[0]![9]).toBe(2);
    expect(new TextDecoder().decode(all[1]!.packets[0]!.subarray(0, 8))).toBe("OpusTags");
    expect(all.map((p) => p.sequence)).toEqual(all.map((_, i) => i));
    const granules = all.slice(2).map((p) => p.granule);
    expect(granules.at(-1)).toBe(120n * 960n);
    expect([...granules].sort((a, b) => (a < b ? -1 : 1))).toEqual(granules);
    expect(all.at(-1)!.flags & 0x04).toBe(0x04);
  });

  test("the sim host's Opus loop, recorded, decodes with ffmpeg and lasts as long as its packets", () => {
    const path = join(dir.path, "loop.ogg");
    const loop = loadOpusLoop();
    const writer = createOggOpusFile(path, { channels: 2 });
    for (const packet of loop) writer.write(packet);
    writer.closeFile();
    const decode = Bun.spawnSync(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"]);
    expect(decode.exitCode).toBe(0);
    expect(decode.stderr.toString()).toBe("");
    const probe = Bun.spawnSync(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,channels,sample_rate:format=duration", "-of", "json", path]);
    const info = JSON.parse(probe.stdout.toString());
    expect(info.streams[0]).toMatchObject({ codec_name: "opus", channels: 2, sample_rate: "48000" });
    expect(Number(info.format.duration)).toBeCloseTo(loop.reduce((n, p) => n + opusPacketSamples(p), 0) / 48000, 1);
  });
});
