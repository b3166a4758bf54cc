/**
 * The simulated host's Opus multistream packets (5.1 / 7.1 audio, §6.5): checked with an
 * independent parser of RFC 6716 §3.2 and Appendix B written here, and — when ffmpeg is installed —
 * decoded by ffmpeg (libopus and its native decoder) from an Ogg file with a channel-mapping-family-1
 * OpusHead.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { oggPage, opusTags } from "../../src/peer/ogg-opus-writer.ts";
import { OpusLoop, loadOpusLoop, opusCode3Packet } from "../../src/sim-host/media-source.ts";
import { clientOpusLayout, silentStreamPacket, type OpusLayout } from "../../src/sim-host/opus-multistream.ts";
import { SURROUND_PARAMS, describedSurroundParams, streamOpusLayout } from "../../src/sim-host/stream-config.ts";

// ---------------------------------------------------------------------------------------------
// An Opus packet parser (RFC 6716 §3.2 normal framing, Appendix B self-delimited framing)
// ---------------------------------------------------------------------------------------------

interface ParsedStream {
  toc: number;
  config: number;
  stereo: boolean;
  code: number;
  /** Frame lengths in bytes. */
  frames: number[];
  /** Frame payloads. */
  data: Uint8Array[];
  padding: number;
  /** Bytes of the whole (sub-)packet. */
  length: number;
  /** 48 kHz samples per channel. */
  samples: number;
}

class ParseError extends Error {}

function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!;
  if (config < 16) return config & 1 ? 960 : 480;
  return [120, 240, 480, 960][config & 3]!;
}

/** Parses one stream's packet starting at `start`; normal framing takes everything up to `end`. */
function parseStream(bytes: Uint8Array, start: number, end: number, selfDelimited: boolean): ParsedStream {
  let at = start;
  const need = (n: number) => {
    if (at + n > end) throw new ParseError(`truncated at ${at} (+${n} > ${end})`);
  };
  const readLength = (): number => {
    need(1);
    const first = bytes[at++]!;
    if (first < 252) return first;
    need(1);
    return first + 4 * bytes[at++]!;
  };
  need(1);
  const toc = bytes[at++]!;
  const config = toc >> 3;
  const code = toc & 3;
  let count: number;
  let vbr = false;
  let padding = 0;
  const lengths: number[] = [];
  if (code === 0) count = 1;
  else if (code === 1 || code === 2) count = 2;
  else {
    need(1);
    const flags = bytes[at++]!;
    count = flags & 0x3f;
    vbr = (flags & 0x80) !== 0;
    if (count < 1) throw new ParseError("code 3 with 0 frames");
    if (count * frameSamples(config) > 5760) throw new ParseError("more than 120 ms");
    if (flags & 0x40) {
      for (;;) {
        need(1);
        const b = bytes[at++]!;
        padding += b === 255 ? 254 : b;
        if (b !== 255) break;
      }
    }
  }
  if (code === 2 || (code === 3 && vbr)) for (let i = 0; i < count - 1; i++) lengths.push(readLength());
  let last: number;
  if (selfDelimited) {
    last = readLength();
    if (code === 1 || (code === 3 && !vbr)) lengths.splice(0, lengths.length, ...new Array<number>(count - 1).fill(last));
  } else {
    const rest = end - at - padding - lengths.reduce((a, b) => a + b, 0);
    if (rest < 0) throw new ParseError("frame lengths exceed the packet");
    if (code === 1 || (code === 3 && !vbr)) {
      if (rest % count !== 0) throw new ParseError(`CBR payload ${rest} not divisible by ${count}`);
      last = rest / count;
      lengths.splice(0, lengths.length, ...new Array<number>(count - 1).fill(last));
    } else last = rest;
  }
  lengths.push(last);
  if (lengths.some((n) => n > 1275)) throw new ParseError("frame longer than 1275 bytes");
  const data: Uint8Array[] = [];
  for (const n of lengths) {
    need(n);
    data.push(bytes.subarray(at, at + n));
    at += n;
  }
  need(padding);
  at += padding;
  if (!selfDelimited && at !== end) throw new ParseError(`${end - at} bytes left over`);
  return { toc, config, stereo: (toc & 4) !== 0, code, frames: lengths, data, padding, length: at - start, samples: count * frameSamples(config) };
}

/** Walks a multistream packet of `streams` streams: all self-delimited but the last; all consumed. */
function parseMultistream(packet: Uint8Array, streams: number): ParsedStream[] {
  const out: ParsedStream[] = [];
  let at = 0;
  for (let s = 0; s < streams; s++) {
    const parsed = parseStream(packet, at, packet.length, s < streams - 1);
    out.push(parsed);
    at += parsed.length;
  }
  if (at !== packet.length) throw new ParseError("packet not consumed exactly");
  return out;
}

// ---------------------------------------------------------------------------------------------

const LAYOUTS: { name: string; channels: number; highQuality: boolean; streams: number; coupled: number }[] = [
  { name: "stereo", channels: 2, highQuality: false, streams: 1, coupled: 1 },
  { name: "5.1", channels: 6, highQuality: false, streams: 4, coupled: 2 },
  { name: "7.1", channels: 8, highQuality: false, streams: 5, coupled: 3 },
  { name: "5.1 high quality", channels: 6, highQuality: true, streams: 6, coupled: 0 },
  { name: "7.1 high quality", channels: 8, highQuality: true, streams: 8, coupled: 0 },
];

describe("the parser in this test", () => {
  test("reads self-delimited and normal framing of every code, and rejects inconsistent lengths", () => {
    const sd = parseStream(Uint8Array.from([0xec, 3, 1, 2, 3, 9]), 0, 6, true);
    expect(sd).toMatchObject({ code: 0, frames: [3], length: 5, samples: 240 });
    expect(parseStream(Uint8Array.from([0xed, 1, 2, 3, 4]), 0, 5, false).frames).toEqual([2, 2]);
    expect(parseStream(Uint8Array.from([0xee, 1, 7, 8, 9]), 0, 5, false).frames).toEqual([1, 2]);
    expect(parseStream(Uint8Array.from([0xee, 1, 2, 7, 8, 9]), 0, 6, true).frames).toEqual([1, 2]);
    expect(() => parseStream(Uint8Array.from([0xed, 1, 2, 3]), 0, 4, false)).toThrow(ParseError);
    expect(() => parseStream(Uint8Array.from([0xec, 5, 1]), 0, 3, true)).toThrow(ParseError);
    expect(() => parseMultistream(Uint8Array.from([0xec, 5, 0xe8]), 2)).toThrow(ParseError); // stream 0 overruns
  });
});

describe("Opus multistream packets", () => {
  test("self-delimited code-3 packets: the last frame's length after the VBR lengths, 2-byte form from 252, padding exact", () => {
    const a = new Uint8Array(300).fill(1);
    const b = new Uint8Array(260).fill(2);
    for (const frames of [[a], [a, b], [b, b]]) {
      for (const target of [0, 700, 1000]) {
        const packet = opusCode3Packet(0xec, frames, target, { selfDelimited: true });
        if (target) expect(packet.length).toBe(target);
        const parsed = parseStream(packet, 0, packet.length, true);
        expect(parsed.length).toBe(packet.length);
        expect(parsed.frames).toEqual(frames.map((f) => f.length));
        for (const [i, f] of frames.entries()) expect(Buffer.compare(parsed.data[i]!, f)).toBe(0);
      }
    }
  });

  test("silent streams: zero-length frames, code 0 for one frame and 1 for two, stereo flag as asked", () => {
    expect([...silentStreamPacket(0xec, 1, true, true)]).toEqual([0xec, 0]);
    expect([...silentStreamPacket(0xec, 1, false, false)]).toEqual([0xe8]);
    expect([...silentStreamPacket(0xe8, 2, true, false)]).toEqual([0xed]);
    expect([...silentStreamPacket(0xec, 3, false, true)]).toEqual([0xeb, 3, 0]);
    for (const p of [silentStreamPacket(0xec, 2, false, true), silentStreamPacket(0xec, 3, true, true)]) {
      expect(parseStream(p, 0, p.length, true).frames.every((n) => n === 0)).toBe(true);
    }
  });

  for (const duration of [5, 10]) {
    for (const layout of LAYOUTS) {
      test(`${layout.name}, ${duration} ms: ${layout.streams} streams (${layout.coupled} coupled), the loop on stream 0, one length for all`, () => {
        const stereo = new OpusLoop(duration).packets;
        const loop = new OpusLoop(duration, layout);
        expect(loop.layout).toEqual({ streams: layout.streams, coupled: layout.coupled });
        expect(loop.packets.length).toBe(stereo.length);
        expect(new Set(loop.packets.map((p) => p.length)).size).toBe(1);
        for (const [i, packet] of loop.packets.entries()) {
          const streams = parseMultistream(packet, layout.streams);
          expect(streams.length).toBe(layout.streams);
          const reference = parseStream(stereo[i]!, 0, stereo[i]!.length, false);
          // Stream 0: the stereo loop packet, only re-framed.
          expect(streams[0]!.toc).toBe(reference.toc);
          expect(streams[0]!.frames).toEqual(reference.frames);
          for (const [f, data] of reference.data.entries()) expect(Buffer.compare(streams[0]!.data[f]!, data)).toBe(0);
          expect(streams[0]!.samples).toBe(48 * duration);
          for (const [s, stream] of streams.entries()) {
            expect(stream.samples).toBe(48 * duration); // every stream lasts as long
            if (s === 0) continue;
            expect(stream.config).toBe(reference.config);
            expect(stream.stereo).toBe(s < layout.coupled);
            expect(stream.frames.every((n) => n === 0)).toBe(true);
            expect(stream.padding).toBe(0);
          }
        }
        // Stereo keeps the normal single-stream packets.
        if (layout.streams === 1) for (const [i, p] of loop.packets.entries()) expect(Buffer.compare(p, stereo[i]!)).toBe(0);
      });
    }
  }

  test("bad stream counts are refused", () => {
    expect(() => new OpusLoop(5, { streams: 0, coupled: 0 })).toThrow(RangeError);
    expect(() => new OpusLoop(5, { streams: 2, coupled: 3 })).toThrow(RangeError);
  });
});

describe("the client's Opus layout (moonlight-common-c parseOpusConfigurations)", () => {
  const sunshine = describedSurroundParams("");

  test("Sunshine's lines: 5.1 4/2 and 6/0, 7.1 5/3 and 8/0, with the normal-quality mapping re-ordered; stereo 1/1", () => {
    expect(sunshine).toEqual([...SURROUND_PARAMS]);
    expect(clientOpusLayout(sunshine, 2, true)).toEqual({ channels: 2, streams: 1, coupled: 1, mapping: [0, 1] });
    expect(clientOpusLayout(sunshine, 6, false)).toEqual({ channels: 6, streams: 4, coupled: 2, mapping: [0, 1, 2, 3, 4, 5] });
    expect(clientOpusLayout(sunshine, 6, true)).toEqual({ channels: 6, streams: 6, coupled: 0, mapping: [0, 1, 2, 3, 4, 5] });
    expect(clientOpusLayout(sunshine, 8, false)).toEqual({ channels: 8, streams: 5, coupled: 3, mapping: [0, 1, 2, 7, 4, 5, 3, 6] });
    expect(clientOpusLayout(sunshine, 8, true)).toEqual({ channels: 8, streams: 8, coupled: 0, mapping: [0, 1, 2, 3, 4, 5, 6, 7] });
  });

  test("the launch's surroundParams come first (twice) and win for their channel count only", () => {
    const custom = describedSurroundParams("633012345");
    expect(custom.slice(0, 3)).toEqual(["633012345", "633012345", "21101"]);
    expect(clientOpusLayout(custom, 6, false)).toMatchObject({ streams: 3, coupled: 3 });
    expect(clientOpusLayout(custom, 6, true)).toMatchObject({ streams: 3, coupled: 3 });
    expect(clientOpusLayout(custom, 8, false)).toMatchObject({ streams: 5, coupled: 3 });
    expect(streamOpusLayout({ audioChannels: 6, highQualityAudio: false }, "633012345")).toMatchObject({ streams: 3, coupled: 3 });
    expect(streamOpusLayout({ audioChannels: 8, highQualityAudio: true }, "")).toMatchObject({ streams: 8, coupled: 0 });
  });

  test("no line for the channel count: 5.1 falls back to 4/2, 7.1 has none; unusable digits give none", () => {
    expect(clientOpusLayout(["21101"], 6, false)).toEqual({ channels: 6, streams: 4, coupled: 2, mapping: [0, 4, 1, 5, 2, 3] });
    expect(clientOpusLayout(["21101"], 8, false)).toBeUndefined();
    expect(clientOpusLayout(["6420"], 6, false)).toBeUndefined();
    expect(clientOpusLayout(["605012345"], 6, false)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// ffmpeg: decode an Ogg Opus file (channel mapping family 1) of the sim's packets
// ---------------------------------------------------------------------------------------------

/** OpusHead (RFC 7845 §5.1) with channel mapping family 1 and its stream/coupled/mapping table. */
function opusHeadFamily1(layout: OpusLayout): Uint8Array {
  const head = new Uint8Array(21 + layout.channels);
  const view = new DataView(head.buffer);
  head.set(new TextEncoder().encode("OpusHead"), 0);
  head[8] = 1; // version
  head[9] = layout.channels;
  view.setUint16(10, 0, true); // pre-skip
  view.setUint32(12, 48_000, true);
  view.setInt16(16, 0, true); // output gain
  head[18] = 1; // mapping family 1 (Vorbis channel order, up to 8 channels)
  head[19] = layout.streams;
  head[20] = layout.coupled;
  head.set(layout.mapping, 21);
  return head;
}

function oggOpusFile(layout: OpusLayout, packets: Uint8Array[], samplesPerPacket: number): Uint8Array {
  const serial = 0x5eed;
  const pages: Uint8Array[] = [
    oggPage({ packets: [opusHeadFamily1(layout)], granule: 0n, serial, sequence: 0, flags: 2 }),
    oggPage({ packets: [opusTags("mlstream test")], granule: 0n, serial, sequence: 1, flags: 0 }),
  ];
  const perPage = 20;
  for (let i = 0; i < packets.length; i += perPage) {
    const chunk = packets.slice(i, i + perPage);
    const last = i + perPage >= packets.length;
    pages.push(oggPage({ packets: chunk, granule: BigInt((i + chunk.length) * samplesPerPacket), serial, sequence: pages.length, flags: last ? 4 : 0 }));
  }
  return Buffer.concat(pages);
}

function hasFfmpegDecoder(name: string): boolean {
  const r = spawnSync("ffmpeg", ["-hide_banner", "-decoders"], { encoding: "utf8" });
  return r.status === 0 && new RegExp(`^\\s*A\\S*\\s+${name}\\s`, "m").test(r.stdout);
}

const decoders = ["libopus", "opus"].filter(hasFfmpegDecoder);

describe.skipIf(decoders.length === 0)("ffmpeg decodes the multistream packets", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlstream-opus-ms-"));
  // bun test does not run process "exit" handlers: a hook removes the files, as every test must.
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const duration of [5, 10]) {
    for (const spec of LAYOUTS) {
      test(`${spec.name}, ${duration} ms (${decoders.join(", ")})`, () => {
        const layout = clientOpusLayout(SURROUND_PARAMS, spec.channels, spec.highQuality)!;
        expect({ streams: layout.streams, coupled: layout.coupled }).toEqual({ streams: spec.streams, coupled: spec.coupled });
        const packets = new OpusLoop(duration, layout).packets;
        const file = join(dir, `${spec.channels}-${spec.highQuality ? "hq" : "nq"}-${duration}.opus`);
        writeFileSync(file, oggOpusFile(layout, packets, 48 * duration));
        for (const decoder of decoders) {
          const r = spawnSync("ffmpeg", ["-hide_banner", "-v", "error", "-c:a", decoder, "-i", file, "-f", "s16le", "-"], { maxBuffer: 64 << 20 });
          expect(r.stderr.toString()).toBe("");
          expect(r.status).toBe(0);
          // Every packet decoded to packetDuration ms of all channels.
          expect(r.stdout.length).toBe(packets.length * 48 * duration * spec.channels * 2);
        }
      });
    }
  }

  test("the check has teeth: the plain stereo packets under a 5.1 header are refused", () => {
    const layout = clientOpusLayout(SURROUND_PARAMS, 6, false)!;
    const file = join(dir, "stereo-as-51.opus");
    writeFileSync(file, oggOpusFile(layout, new OpusLoop(5).packets.slice(0, 50), 240));
    for (const decoder of decoders) {
      const r = spawnSync("ffmpeg", ["-hide_banner", "-v", "error", "-c:a", decoder, "-i", file, "-f", "s16le", "-"], { maxBuffer: 64 << 20 });
      expect(r.stderr.toString() !== "" || r.status !== 0 || r.stdout.length !== 50 * 240 * 6 * 2).toBe(true);
    }
  });

  test("the original stereo loop decodes the same way (the check itself works)", () => {
    const file = join(dir, "stereo-raw.opus");
    const loop = loadOpusLoop();
    writeFileSync(file, oggOpusFile({ channels: 2, streams: 1, coupled: 1, mapping: [0, 1] }, loop, 240));
    const r = spawnSync("ffmpeg", ["-hide_banner", "-v", "error", "-c:a", decoders[0]!, "-i", file, "-f", "s16le", "-"], { maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(loop.length * 240 * 2 * 2);
  });
});
