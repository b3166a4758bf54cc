/** The simulated host's media pieces on their own: AU splitting, the loop source, pacing, Opus packets, pings, ANNOUNCE parsing. */
import { describe, expect, test } from "bun:test";
import { announceAttributes, buildAnnounceSdp, VideoFormat, type AnnounceSettings } from "../../src/moonlight/rtsp/announce-sdp.ts";
import { isIdrAccessUnit, splitNalUnits } from "../../src/moonlight/video/nal.ts";
import { AccessUnitSplitter, splitAccessUnits } from "../../src/sim-host/access-unit-splitter.ts";
import {
  LivePatternSource,
  LoopVideoSource,
  OpusLoop,
  ffmpegAvailable,
  loadOpusLoop,
  loadVideoLoop,
  opusCode3Packet,
  SimMediaError,
  type SimVideoFrame,
} from "../../src/sim-host/media-source.ts";
import { Pacer } from "../../src/sim-host/pacer.ts";
import { AnnounceRejectedError, parseStreamConfig } from "../../src/sim-host/stream-config.ts";
import { AV1_OBU, splitObus } from "../../src/moonlight/video/av1-obu.ts";
import { parsePing } from "../../src/sim-host/udp-port.ts";
import { waitFor } from "./media-harness.ts";

const nal = (...bytes: number[]) => [0, 0, 0, 1, ...bytes];

describe("AccessUnitSplitter", () => {
  test("cuts at every access unit delimiter, keeping the AUD, and drops bytes before the first", () => {
    const stream = Uint8Array.from([0xaa, ...nal(0x09, 0x10), ...nal(0x67, 1), ...nal(0x65, 2), ...nal(0x09, 0x30), ...nal(0x41, 3)]);
    const units = splitAccessUnits("h264", stream);
    expect(units.map((u) => Array.from(u))).toEqual([
      [...nal(0x09, 0x10), ...nal(0x67, 1), ...nal(0x65, 2)],
      [...nal(0x09, 0x30), ...nal(0x41, 3)],
    ]);
  });

  test("fed byte by byte it finds the same access units as in one piece", () => {
    const bytes = readFileBytes();
    const whole = splitAccessUnits("h264", bytes);
    const splitter = new AccessUnitSplitter("h264");
    const pieces: Uint8Array[] = [];
    // Odd chunk sizes put start codes across chunk boundaries.
    for (let at = 0; at < bytes.length; at += 997) pieces.push(...splitter.push(bytes.subarray(at, Math.min(bytes.length, at + 997))));
    pieces.push(splitter.flush()!);
    expect(pieces.length).toBe(whole.length);
    for (let i = 0; i < whole.length; i++) expect(Buffer.compare(pieces[i]!, whole[i]!)).toBe(0);
  });
});

function readFileBytes(): Uint8Array {
  // The committed loop itself is the best test stream: 120 real AUs.
  return new Uint8Array(require("node:fs").readFileSync(new URL("../../src/sim-host/assets/loop.h264", import.meta.url)));
}

describe("the committed loop", () => {
  for (const codec of ["h264", "hevc"] as const) {
    test(`${codec}: 120 access units, an IDR every 30 frames, each starting with an AUD and free of SEI`, () => {
      const loop = loadVideoLoop(codec);
      expect(loop.accessUnits.length).toBe(120);
      expect(loop.keyframes).toEqual([0, 30, 60, 90]);
      const aud = codec === "hevc" ? 35 : 9;
      const sei = codec === "hevc" ? [39, 40] : [6];
      for (const au of loop.accessUnits) {
        const types = splitNalUnits(codec, au).map((u) => u.type);
        expect(types[0]).toBe(aud);
        expect(types.some((t) => sei.includes(t))).toBe(false);
      }
    });
  }

  test("hevc main10: the same shape, every SPS Main10 (general_profile_idc 2)", () => {
    const loop = loadVideoLoop("hevc", "periodic", true);
    expect(loop.accessUnits.length).toBe(120);
    expect(loop.keyframes).toEqual([0, 30, 60, 90]);
    for (const k of loop.keyframes) {
      const au = loop.accessUnits[k]!;
      const sps = splitNalUnits("hevc", au).find((u) => u.type === 33)!;
      // NAL header (2), then vps id/sub-layers/nesting (1), then profile space/tier/idc.
      expect(au[sps.payloadStart + 3]! & 0x1f).toBe(2);
    }
  });

  for (const [keyframes, tenBit] of [["periodic", false], ["on-request", false], ["periodic", true], ["on-request", true]] as const) {
    test(`av1${tenBit ? " 10-bit" : ""} (${keyframes}): temporal units that each start with a temporal delimiter; key units carry a sequence header`, () => {
      const loop = loadVideoLoop("av1", keyframes, tenBit);
      expect(loop.accessUnits.length).toBe(keyframes === "periodic" ? 120 : 240);
      expect(loop.keyframes).toEqual(keyframes === "periodic" ? [0, 30, 60, 90] : [0]);
      for (const [i, tu] of loop.accessUnits.entries()) {
        const types = splitObus(tu).map((o) => o.type);
        expect(types[0]).toBe(AV1_OBU.TEMPORAL_DELIMITER);
        expect(types.includes(AV1_OBU.SEQUENCE_HEADER)).toBe(loop.keyframes.includes(i));
      }
    });
  }

  test("no 10-bit H.264 loop: asking for one is an error, not a silent 8-bit stream", () => {
    expect(() => loadVideoLoop("h264", "periodic", true)).toThrow(SimMediaError);
  });

  test("the Opus loop has 401 packets of 5 ms", () => {
    const packets = loadOpusLoop();
    expect(packets.length).toBe(401);
    // TOC config 16–31 (CELT) with frame size 5 ms: (config & 3) === 1.
    for (const p of packets) expect((p[0]! >> 3) & 3).toBe(1);
  });
});

describe("LoopVideoSource", () => {
  async function collect(source: LoopVideoSource, count: number): Promise<SimVideoFrame[]> {
    const frames: SimVideoFrame[] = [];
    source.on("frame", (f) => frames.push(f));
    source.start();
    await waitFor(() => frames.length >= count, 3000, `${count} frames`);
    return frames;
  }

  test("starts on the loop's first IDR and plays the access units in order with 90 kHz timestamps", async () => {
    const source = new LoopVideoSource({ codec: "h264", fps: 120 });
    try {
      const frames = await collect(source, 35);
      expect(frames[0]).toMatchObject({ isIdr: true, idrReason: "start", loopIndex: 0, timestamp: 750 });
      expect(frames.slice(0, 35).map((f) => f.loopIndex)).toEqual(Array.from({ length: 35 }, (_, i) => i));
      expect(frames[30]).toMatchObject({ isIdr: true, idrReason: "loop" });
      expect(frames[1]!.timestamp - frames[0]!.timestamp).toBe(750);
    } finally {
      source.close();
    }
  });

  test("an IDR request jumps to the loop's next keyframe on the very next frame", async () => {
    const source = new LoopVideoSource({ codec: "h264", fps: 120 });
    try {
      const frames = await collect(source, 5);
      source.requestIdr("request");
      const before = frames.length;
      await waitFor(() => frames.length > before, 1000, "next frame");
      const next = frames[before]!;
      expect(next).toMatchObject({ isIdr: true, idrReason: "request", loopIndex: 30 });
      expect(isIdrAccessUnit("h264", next.data)).toBe(true);
    } finally {
      source.close();
    }
  });

  test("close() stops the frames", async () => {
    const source = new LoopVideoSource({ codec: "h264", fps: 200 });
    const frames = await collect(source, 2);
    source.close();
    source.close();
    const count = frames.length;
    await Bun.sleep(50);
    expect(frames.length).toBe(count);
  });
});

describe("Pacer", () => {
  test("does not drift: 5 ms ticks for 600 ms give about 120 ticks", async () => {
    let ticks = 0;
    const pacer = new Pacer({ intervalMs: 5, tick: () => ticks++ });
    pacer.start();
    const start = performance.now();
    await Bun.sleep(600);
    pacer.stop();
    const expected = (performance.now() - start) / 5;
    expect(Math.abs(ticks - expected)).toBeLessThan(6);
    const after = ticks;
    await Bun.sleep(30);
    expect(ticks).toBe(after);
  });

  test("catches up after a short stall in a burst, and restarts the schedule after a long one", async () => {
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // block the event loop like a slow frame would
      }
    };
    let ticks = 0;
    const pacer = new Pacer({ intervalMs: 10, tick: () => ticks++, maxBurst: 4 });
    try {
      pacer.start(); // tick 0 at once
      busy(35); // ticks 1–3 fall due meanwhile
      await Bun.sleep(1);
      expect(ticks).toBeGreaterThanOrEqual(4);
      expect(pacer.stats.skipped).toBe(0);
      busy(200); // 20 periods: too many to replay
      await Bun.sleep(1);
      expect(pacer.stats.skipped).toBeGreaterThan(10);
      expect(ticks).toBeLessThan(12);
    } finally {
      pacer.stop();
    }
  });
});

/** Minimal RFC 6716 §3.2 reader for code-3 packets: frames, without padding. */
function readCode3(packet: Uint8Array): { config: number; frames: Uint8Array[] } {
  expect(packet[0]! & 3).toBe(3);
  const countByte = packet[1]!;
  const count = countByte & 0x3f;
  const vbr = (countByte & 0x80) !== 0;
  let at = 2;
  let padding = 0;
  if (countByte & 0x40) {
    for (;;) {
      const b = packet[at++]!;
      padding += b === 255 ? 254 : b;
      if (b !== 255) break;
    }
  }
  const lengths: number[] = [];
  if (vbr) {
    for (let i = 0; i < count - 1; i++) {
      const b = packet[at++]!;
      lengths.push(b < 252 ? b : b + 4 * packet[at++]!);
    }
  }
  const end = packet.length - padding;
  if (vbr) lengths.push(end - at - lengths.reduce((a, b) => a + b, 0));
  else for (let i = 0; i < count; i++) lengths.push((end - at) / count);
  const frames = lengths.map((n) => {
    const f = packet.subarray(at, at + n);
    at += n;
    return f;
  });
  expect(at).toBe(end);
  return { config: packet[0]! >> 3, frames };
}

describe("Opus packets", () => {
  test("5 ms packets are the loop's frames, all padded to one length (CBR-like, so audio FEC works)", () => {
    const loop = loadOpusLoop();
    const packets = new OpusLoop(5).packets;
    expect(new Set(packets.map((p) => p.length)).size).toBe(1);
    for (const [i, packet] of packets.entries()) {
      const { config, frames } = readCode3(packet);
      expect(config).toBe(loop[i]![0]! >> 3);
      expect(Buffer.compare(frames[0]!, loop[i]!.subarray(1))).toBe(0);
    }
  });

  test("10 ms packets carry two 5 ms frames each", () => {
    const loop = loadOpusLoop();
    const packets = new OpusLoop(10).packets;
    expect(packets.length).toBe(200);
    expect(new Set(packets.map((p) => p.length)).size).toBe(1);
    const { frames } = readCode3(packets[0]!);
    expect(frames.length).toBe(2);
    expect(Buffer.compare(frames[0]!, loop[0]!.subarray(1))).toBe(0);
  });

  test("padding lengths of 254 and more use the 255-continuation form", () => {
    const frame = new Uint8Array(40).fill(7);
    for (const target of [44, 300, 600]) {
      const packet = opusCode3Packet(0xfc, [frame], target);
      expect(packet.length).toBe(target);
      expect(Buffer.compare(readCode3(packet).frames[0]!, frame)).toBe(0);
    }
  });
});

describe("pings", () => {
  test("recognises PING and SS pings and nothing else", () => {
    const from = { address: "127.0.0.1", port: 5000 };
    expect(parsePing(Buffer.from("PING"), from)?.kind).toBe("legacy");
    const ss = Buffer.alloc(20);
    ss.write("0123456789ABCDEF", 0, "latin1");
    ss.writeUInt32BE(7, 16);
    expect(parsePing(ss, from)).toMatchObject({ kind: "ss", payload: "0123456789ABCDEF", sequence: 7 });
    expect(parsePing(Buffer.from("PONG"), from)).toBeUndefined();
    expect(parsePing(new Uint8Array(20), from)).toBeUndefined();
    expect(parsePing(new Uint8Array(1400).fill(0x41), from)).toBeUndefined();
  });
});

describe("ANNOUNCE parsing", () => {
  const settings: AnnounceSettings = {
    hostAddress: "127.0.0.1",
    videoPort: 47998,
    width: 1920,
    height: 1080,
    fps: 60,
    packetSize: 1392,
    bitrateKbps: 20000,
    remote: false,
    videoFormat: VideoFormat.h264,
    audioChannels: 2,
    audioChannelMask: 3,
    highQualitySurround: false,
    audioPacketDurationMs: 10,
    encryptionEnabled: 0x05,
    encryptAudio: true,
    decoderSupportsRfi: false,
    clientRefreshRateX100: 6000,
    slicesPerFrame: 1,
    colorSpace: 1,
    colorRange: 0,
  };

  test("takes mode, packet size, codec, encryption and audio settings from the client's SDP", () => {
    const config = parseStreamConfig(buildAnnounceSdp("127.0.0.1", 47998, announceAttributes(settings)), { hevcOffered: false });
    expect(config).toMatchObject({
      width: 1920,
      height: 1080,
      fps: 60,
      packetSize: 1392,
      codec: "h264",
      bitrateKbps: 20000,
      minRequiredFecPackets: 2,
      sessionIdV1: true,
      controlIvScheme: "v2",
      videoEncrypted: false,
      audioEncrypted: true,
      audioPacketDurationMs: 10,
      audioChannels: 2,
    });
  });

  test("legacy control IVs without encryptionEnabled bit 0x01; audio encryption from featureFlags 0x20 alone", () => {
    const config = parseStreamConfig(buildAnnounceSdp("127.0.0.1", 47998, announceAttributes({ ...settings, encryptionEnabled: 0 })), { hevcOffered: false });
    expect(config.controlIvScheme).toBe("legacy");
    expect(config.audioEncrypted).toBe(true);
  });

  test("AV1 is taken only when offered; 10-bit only where the host offered that codec's 10-bit mode", () => {
    const av1 = buildAnnounceSdp("127.0.0.1", 47998, announceAttributes({ ...settings, videoFormat: VideoFormat.av1Main8 }));
    expect(() => parseStreamConfig(av1, { hevcOffered: true })).toThrow(AnnounceRejectedError);
    expect(parseStreamConfig(av1, { hevcOffered: true, av1Offered: true })).toMatchObject({ codec: "av1", tenBit: false });
    const main10 = buildAnnounceSdp("127.0.0.1", 47998, announceAttributes({ ...settings, videoFormat: VideoFormat.h265Main10 }));
    expect(() => parseStreamConfig(main10, { hevcOffered: true })).toThrow(/10-bit hevc/);
    expect(parseStreamConfig(main10, { hevcOffered: true, hevcMain10Offered: true })).toMatchObject({ codec: "hevc", tenBit: true });
    const av1Main10 = buildAnnounceSdp("127.0.0.1", 47998, announceAttributes({ ...settings, videoFormat: VideoFormat.av1Main10 }));
    expect(() => parseStreamConfig(av1Main10, { hevcOffered: true, hevcMain10Offered: true, av1Offered: true })).toThrow(/10-bit av1/);
    expect(parseStreamConfig(av1Main10, { hevcOffered: true, av1Offered: true, av1Main10Offered: true })).toMatchObject({ codec: "av1", tenBit: true });
  });

  test("HEVC is refused unless offered; a missing required attribute is refused", () => {
    const hevc = buildAnnounceSdp("127.0.0.1", 47998, announceAttributes({ ...settings, videoFormat: VideoFormat.h265 }));
    expect(() => parseStreamConfig(hevc, { hevcOffered: false })).toThrow(AnnounceRejectedError);
    expect(parseStreamConfig(hevc, { hevcOffered: true }).codec).toBe("hevc");
    const partial = announceAttributes(settings).filter(([name]) => name !== "x-nv-video[0].packetSize");
    expect(() => parseStreamConfig(buildAnnounceSdp("127.0.0.1", 47998, partial), { hevcOffered: false })).toThrow(AnnounceRejectedError);
  });
});

describe.skipIf(!ffmpegAvailable())("LivePatternSource (ffmpeg)", () => {
  test("streams an ffmpeg test pattern starting with an IDR, and restarts on an IDR request", async () => {
    const source = new LivePatternSource({ width: 320, height: 240, fps: 30, bitrateKbps: 500 });
    const frames: SimVideoFrame[] = [];
    source.on("frame", (f) => frames.push(f));
    try {
      source.start();
      await waitFor(() => frames.length >= 5, 10_000, "5 live frames");
      expect(frames[0]).toMatchObject({ isIdr: true, idrReason: "start" });
      expect(frames.slice(1, 5).every((f) => !f.isIdr)).toBe(true);
      const before = frames.length;
      source.requestIdr("request");
      await waitFor(() => frames.slice(before).some((f) => f.isIdr), 10_000, "requested IDR");
      expect(frames.slice(before).find((f) => f.isIdr)!.idrReason).toBe("request");
    } finally {
      source.close();
    }
  });
});
