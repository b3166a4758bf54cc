import { describe, expect, test } from "bun:test";
import path from "node:path";
import { type IdrReason, VideoDepacketizer, type VideoDepacketizerOptions, type VideoFrame, type FrameLoss } from "../../../src/moonlight/video/video-depacketizer.ts";
import { VideoPacketizer } from "../../../src/moonlight/video/video-packetizer.ts";
import { setLogLevel } from "../../../src/core/log.ts";
import { readPcap } from "../../support/pcap.ts";
import { FIXTURES, type MediaFixture, loadMediaFixture } from "./media-fixtures.ts";

function replay(fx: MediaFixture, datagrams = fx.video.map((d) => d.payload)) {
  const frames: VideoFrame[] = [];
  const idrRequests: IdrReason[] = [];
  const codec = fx.keys.negotiated.codec === "h265" ? "hevc" : "h264";
  const depacketizer = new VideoDepacketizer(
    { codec, packetSize: fx.keys.negotiated.packetSize },
    { onFrame: (f) => frames.push(f), onIdrNeeded: (r) => idrRequests.push(r) },
  );
  for (const d of datagrams) depacketizer.push(d);
  return { frames, idrRequests, stats: depacketizer.stats, byNumber: new Map(frames.map((f) => [f.frameNumber, f])) };
}

function expectSameBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  if (!actual) throw new Error(`${what}: missing`);
  if (Buffer.compare(actual, expected) !== 0) throw new Error(`${what}: ${actual.length} bytes differ from the expected ${expected.length}`);
}

describe("replaying real Wolf captures", () => {
  test("wolf-h264-clean yields the 158 decode units the real client delivered, byte for byte, frame by frame", () => {
    const fx = loadMediaFixture("wolf-h264-clean");
    const { frames, byNumber, stats, idrRequests } = replay(fx);
    expect(fx.expectedFrames).toHaveLength(158);
    for (const expected of fx.expectedFrames) {
      const frame = byNumber.get(expected.frameNumber);
      expectSameBytes(frame?.data, expected.bytes, `frame ${expected.frameNumber}`);
      expect(frame!.isIdr).toBe(expected.isIdr);
    }
    // The expected output keeps Wolf's zero padding: every unit is D·1376 − 8 bytes.
    for (const expected of fx.expectedFrames) expect(expected.size).toBe(expected.dataShards * 1376 - 8);
    // We also accept Wolf's frame 0 (its spontaneous IDR) and everything after it.
    expect(frames[0]!.frameNumber).toBe(0);
    expect(frames[0]!.isIdr).toBe(true);
    expect(frames.map((f) => f.frameNumber)).toEqual(Array.from({ length: 281 }, (_, i) => i));
    expect(frames.filter((f) => f.isIdr).map((f) => f.frameNumber)).toEqual([0, 122, 250]);
    expect(idrRequests).toEqual([]);
    expect(stats).toMatchObject({ packets: 2505, malformed: 0, framesEmitted: 281, framesDropped: 0, framesLost: 0, fecRecoveries: 0 });
  });

  test("wolf-hevc-clean yields the 159 decode units the real client delivered, byte for byte", () => {
    const fx = loadMediaFixture("wolf-hevc-clean");
    const { frames, byNumber, stats } = replay(fx);
    expect(fx.expectedFrames).toHaveLength(159);
    for (const expected of fx.expectedFrames) {
      const frame = byNumber.get(expected.frameNumber);
      expectSameBytes(frame?.data, expected.bytes, `frame ${expected.frameNumber}`);
      expect(frame!.isIdr).toBe(expected.isIdr);
    }
    expect(frames[0]!.frameNumber).toBe(0);
    expect(frames[0]!.isIdr).toBe(true);
    expect(frames.filter((f) => f.isIdr).map((f) => f.frameNumber)).toEqual([0, 121]);
    expect(stats.framesEmitted).toBe(282);
    expect(stats.malformed).toBe(0);
  });

  test("wolf-h264-loss: FEC rebuilds every rebuildable frame, each identical to the client's, and frame 194 triggers one IDR request", () => {
    const fx = loadMediaFixture("wolf-h264-loss");
    const { frames, byNumber, stats, idrRequests } = replay(fx);
    expect(fx.expectedFrames).toHaveLength(157);
    for (const expected of fx.expectedFrames) {
      const frame = byNumber.get(expected.frameNumber);
      expectSameBytes(frame?.data, expected.bytes, `frame ${expected.frameNumber}`);
      expect(frame!.isIdr).toBe(expected.isIdr);
    }
    // Frames whose data shards were (partly) rebuilt, as the client did them, are among those.
    const rebuilt = fx.expectedFrames.filter((e) => e.dataShardsInCapture < e.dataShards);
    expect(rebuilt.length).toBeGreaterThan(30);
    for (const e of rebuilt) expect(byNumber.get(e.frameNumber)!.recoveredShards).toBe(e.dataShards - e.dataShardsInCapture);

    // 63 shards rebuilt from the capture (the verification's ground truth count); only 194 is lost.
    expect(stats.fecRecoveries).toBe(63);
    expect(stats.framesLost).toBe(1);
    expect(byNumber.has(194)).toBe(false);
    // 195 is complete but has no reference; 196 is Wolf's IDR answering the real client.
    expect(byNumber.has(195)).toBe(false);
    expect(stats.framesDropped).toBe(1);
    expect(byNumber.get(196)!.isIdr).toBe(true);
    expect(idrRequests).toEqual(["frame-lost"]);
    // At least as many intact frames as the real client delivered (it started at 121).
    expect(frames.length).toBeGreaterThanOrEqual(fx.expectedFrames.length);
    expect(frames.map((f) => f.frameNumber)).toEqual([...range(0, 193), ...range(196, 280)]);
  });

  test("wolf-h264-loss: the rebuilt payloads equal the dropped originals in dropped.pcap", () => {
    const fx = loadMediaFixture("wolf-h264-loss");
    const dropped = readPcap(path.join(FIXTURES, "wolf-h264-loss/dropped.pcap")).udp.filter((d) => d.srcPort === fx.keys.server_ports.video);
    expect(dropped).toHaveLength(82);
    // Replaying capture + dropped datagrams in RTP order gives the same frames as FEC did.
    const seq = (d: Uint8Array) => (d[2]! << 8) | d[3]!;
    const all = [...fx.video, ...dropped].map((d) => d.payload).sort((a, b) => seq(a) - seq(b));
    const complete = replay(fx, all);
    const recovered = replay(fx);
    for (const [n, frame] of recovered.byNumber) expectSameBytes(complete.byNumber.get(n)?.data, frame.data, `frame ${n}`);
    expect(complete.stats.fecRecoveries).toBe(0);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// ---------------------------------------------------------------------------------------------
// Synthetic streams (our own packetizer) for behaviour the captures do not exercise.
// ---------------------------------------------------------------------------------------------

function accessUnit(size: number, kind: "idr" | "p", seed: number): Uint8Array {
  const au = new Uint8Array(size);
  for (let i = 0; i < size; i++) au[i] = 1 + ((i * 131 + seed * 17) % 251); // no zero bytes: no accidental start codes
  let o = 0;
  const nal = (...bytes: number[]) => {
    au.set([0, 0, 0, 1, ...bytes], o);
    o += 4 + bytes.length;
  };
  if (kind === "idr") {
    nal(0x67, 0x64, 0x00, 0x28);
    nal(0x68, 0xee, 0x3c);
    nal(0x65, 0x88);
  } else nal(0x41, 0x9a);
  return au;
}

interface Harness {
  frames: VideoFrame[];
  idr: IdrReason[];
  losses: FrameLoss[];
  depacketizer: VideoDepacketizer;
}

function harness(options: Partial<VideoDepacketizerOptions> = {}): Harness {
  const h: Harness = { frames: [], idr: [], losses: [], depacketizer: undefined as unknown as VideoDepacketizer };
  h.depacketizer = new VideoDepacketizer(
    { codec: "h264", packetSize: 1392, ...options },
    { onFrame: (f) => h.frames.push(f), onIdrNeeded: (r) => h.idr.push(r), onFrameLoss: (l) => h.losses.push(l) },
  );
  return h;
}

/** Expected output for an access unit: the AU followed by the zero padding of its last datagram. */
function expectIntact(frame: VideoFrame, au: Uint8Array): void {
  expect(Buffer.compare(frame.data.subarray(0, au.length), au)).toBe(0);
  expect(frame.data.subarray(au.length).every((b) => b === 0)).toBe(true);
  expect((frame.data.length + 8) % 1376).toBe(0);
}

describe("VideoDepacketizer policies", () => {
  test("a stream that starts on a P-frame asks for an IDR at once and drops frames until it comes", () => {
    const h = harness();
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    for (let i = 0; i < 3; i++) for (const d of packetizer.packetize(accessUnit(3000, "p", i), { timestamp: i }).datagrams) h.depacketizer.push(d);
    expect(h.idr).toEqual(["no-reference"]);
    expect(h.frames).toHaveLength(0);
    const idr = accessUnit(9000, "idr", 9);
    for (const d of packetizer.packetize(idr, { isIdr: true, timestamp: 9 }).datagrams) h.depacketizer.push(d);
    expect(h.frames).toHaveLength(1);
    expect(h.frames[0]!.isIdr).toBe(true);
    expectIntact(h.frames[0]!, idr);
    expect(h.depacketizer.stats.framesDropped).toBe(3);
  });

  test("while waiting, the IDR request is repeated every idrRetryFrames dropped frames", () => {
    const h = harness({ idrRetryFrames: 4 });
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    for (let i = 0; i < 9; i++) for (const d of packetizer.packetize(accessUnit(500, "p", i), { timestamp: i }).datagrams) h.depacketizer.push(d);
    expect(h.idr).toEqual(["no-reference", "retry", "retry"]);
  });

  test("an unrecoverable block is reported before the next frame arrives", () => {
    const h = harness();
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    for (const d of packetizer.packetize(accessUnit(5000, "idr", 1), { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d);
    const lossy = packetizer.packetize(accessUnit(20000, "p", 2), { timestamp: 1 }).datagrams;
    // 15 data + 3 parity shards; lose 4 data shards early in the block
    lossy.forEach((d, i) => {
      if (i < 2 || i === 5 || i === 6) return;
      h.depacketizer.push(d);
      if (i === 7) expect(h.idr).toEqual(["frame-lost"]);
    });
    expect(h.frames.map((f) => f.frameNumber)).toEqual([1]);
    for (const d of packetizer.packetize(accessUnit(800, "p", 3), { timestamp: 2 }).datagrams) h.depacketizer.push(d);
    expect(h.frames.map((f) => f.frameNumber)).toEqual([1]); // no reference for frame 3
    expect(h.idr).toEqual(["frame-lost"]); // coalesced: one request per outage
    expect(h.depacketizer.stats.framesLost).toBe(1);
  });

  test("with reference-frame invalidation a loss is reported as a frame range and P-frames resume after a post-RFI frame", () => {
    const h = harness({ referenceFrameInvalidation: true });
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    for (const d of packetizer.packetize(accessUnit(5000, "idr", 1), { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d); // frame 1
    for (const d of packetizer.packetize(accessUnit(800, "p", 2), { timestamp: 1 }).datagrams) h.depacketizer.push(d); // frame 2
    packetizer.packetize(accessUnit(800, "p", 3), { timestamp: 2 }); // frame 3 never arrives
    for (const d of packetizer.packetize(accessUnit(800, "p", 4), { timestamp: 3 }).datagrams) h.depacketizer.push(d); // frame 4: dropped
    for (const d of packetizer.packetize(accessUnit(800, "p", 5), { frameType: 5, timestamp: 4 }).datagrams) h.depacketizer.push(d); // frame 5
    expect(h.idr).toEqual([]);
    expect(h.losses).toEqual([
      { firstFrame: 3, lastFrame: 3 },
      { firstFrame: 3, lastFrame: 4 },
    ]);
    expect(h.frames.map((f) => f.frameNumber)).toEqual([1, 2, 5]);
  });

  test("datagrams reordered inside their FEC block still give intact frames", () => {
    const h = harness();
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const aus = [accessUnit(30000, "idr", 1), accessUnit(12000, "p", 2), accessUnit(400000, "p", 3)];
    for (const [i, au] of aus.entries()) {
      const frame = packetizer.packetize(au, { isIdr: i === 0, timestamp: i });
      let at = 0;
      for (const block of frame.blocks) {
        const datagrams = frame.datagrams.slice(at, at + block.dataShards + block.parityShards);
        at += datagrams.length;
        datagrams.reverse();
        datagrams.splice(3, 1); // and one lost
        for (const d of datagrams) h.depacketizer.push(d);
      }
    }
    expect(h.frames).toHaveLength(3);
    h.frames.forEach((f, i) => expectIntact(f, aus[i]!));
  });

  test("malformed, duplicate and replayed datagrams are counted and dropped without disturbing the stream", () => {
    const h = harness();
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const first = packetizer.packetize(accessUnit(6000, "idr", 1), { isIdr: true, timestamp: 0 }).datagrams;
    const second = packetizer.packetize(accessUnit(6000, "p", 2), { timestamp: 1 }).datagrams;
    const garbage = (mutate: (d: Uint8Array) => void) => {
      const d = Uint8Array.from(second[1]!);
      mutate(d);
      return d;
    };
    h.depacketizer.push(new Uint8Array(0));
    h.depacketizer.push(second[0]!.subarray(0, 20)); // truncated
    h.depacketizer.push(garbage((d) => (d[0] = 0x80))); // no extension bit
    h.depacketizer.push(garbage((d) => d.fill(0xff, 28, 32))); // D = 1023 at 255 %: impossible geometry
    h.depacketizer.push(
      garbage((d) => {
        d[30]! &= 0x3f;
        d[31] = 0;
      }),
    ); // D = 0
    h.depacketizer.push(garbage((d) => (d[24] = 0x81))); // unknown flag bit in a data shard
    h.depacketizer.push(new Uint8Array(2000)); // oversize
    expect(h.depacketizer.stats.malformed).toBe(7);
    for (const d of first) h.depacketizer.push(d);
    h.depacketizer.push(second[0]!);
    h.depacketizer.push(second[0]!); // duplicate
    for (const d of second.slice(1)) h.depacketizer.push(d);
    for (const d of first) h.depacketizer.push(d); // replayed
    expect(h.depacketizer.stats.duplicates).toBe(1);
    expect(h.depacketizer.stats.stale).toBeGreaterThanOrEqual(first.length);
    expect(h.frames.map((f) => f.frameNumber)).toEqual([1, 2]);
  });

  test("a listener that throws is counted, and the next frames still arrive", () => {
    setLogLevel("silent");
    let calls = 0;
    const depacketizer = new VideoDepacketizer(
      { codec: "h264", packetSize: 1392 },
      {
        onFrame: () => {
          calls++;
          throw new Error("listener bug");
        },
      },
    );
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    for (let i = 0; i < 3; i++) for (const d of packetizer.packetize(accessUnit(2000, i === 0 ? "idr" : "p", i), { isIdr: i === 0, timestamp: i }).datagrams) depacketizer.push(d);
    setLogLevel("info");
    expect(calls).toBe(3);
    expect(depacketizer.stats.listenerErrors).toBe(3);
  });

  test("a host that restarts its numbering is followed after a resync", () => {
    const h = harness();
    const a = new VideoPacketizer({ packetSize: 1392 });
    for (let i = 0; i < 5; i++) for (const d of a.packetize(accessUnit(300000, i === 0 ? "idr" : "p", i), { isIdr: i === 0, timestamp: i }).datagrams) h.depacketizer.push(d);
    expect(h.frames).toHaveLength(5);
    const b = new VideoPacketizer({ packetSize: 1392 }); // frame 1, sequence 0 again
    for (let i = 0; i < 8; i++) for (const d of b.packetize(accessUnit(300000, "idr", i), { isIdr: true, timestamp: i }).datagrams) h.depacketizer.push(d);
    expect(h.depacketizer.stats.resyncs).toBe(1);
    expect(h.frames.length).toBeGreaterThan(5);
    expect(h.frames.at(-1)!.frameNumber).toBe(8);
  });

  test("close() is idempotent and later datagrams are ignored", () => {
    const h = harness();
    h.depacketizer.close();
    h.depacketizer.close();
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    for (const d of packetizer.packetize(accessUnit(2000, "idr", 1), { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d);
    expect(h.frames).toHaveLength(0);
  });
});

describe("VideoDepacketizer bitstream handling", () => {
  const nal = (...bytes: number[]) => [0, 0, 0, 1, ...bytes];

  test("a leading AUD and SEI are stripped and an SPS-led frame is an IDR (H.264)", () => {
    const h = harness();
    const au = Uint8Array.from([...nal(0x09, 0xf0), ...nal(0x06, 0x05, 0x01, 0x80), ...nal(0x67, 0x42, 0x00, 0x1f), ...nal(0x68, 0xce), ...nal(0x65, 0x88, 0x84)]);
    for (const d of new VideoPacketizer({ packetSize: 1392 }).packetize(au, { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d);
    expect(h.frames[0]!.isIdr).toBe(true);
    const body = au.subarray(6 + 8);
    expect(Buffer.compare(h.frames[0]!.data.subarray(0, body.length), body)).toBe(0);
  });

  test("SEI between the parameter sets of an IDR is dropped, a leading PPS of a P-frame too", () => {
    const h = harness();
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const idr = Uint8Array.from([...nal(0x67, 0x42, 0x00, 0x1f), ...nal(0x06, 0x05, 0x01), ...nal(0x68, 0xce), ...nal(0x65, 0x88)]);
    const p = Uint8Array.from([...nal(0x68, 0xce), ...nal(0x41, 0x9a, 0x20)]);
    for (const d of packetizer.packetize(idr, { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d);
    for (const d of packetizer.packetize(p, { timestamp: 1 }).datagrams) h.depacketizer.push(d);
    const [first, second] = h.frames;
    expect(Array.from(first!.data.subarray(0, 20))).toEqual([...nal(0x67, 0x42, 0x00, 0x1f), ...nal(0x68, 0xce), ...nal(0x65, 0x88)]);
    expect(Array.from(second!.data.subarray(0, 7))).toEqual(nal(0x41, 0x9a, 0x20));
    expect(second!.isIdr).toBe(false);
  });

  test("HEVC frames are IDR when they start with a VPS", () => {
    const h = harness({ codec: "hevc" });
    const au = Uint8Array.from([...nal(0x40, 0x01, 0x0c), ...nal(0x42, 0x01, 0x01), ...nal(0x44, 0x01, 0xc1), ...nal(0x26, 0x01, 0xaf)]);
    for (const d of new VideoPacketizer({ packetSize: 1392 }).packetize(au, { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d);
    expect(h.frames[0]!.isIdr).toBe(true);
    expect(Buffer.compare(h.frames[0]!.data.subarray(0, au.length), au)).toBe(0);
  });

  test("AV1 frames are cut to lastPayloadLength, without padding", () => {
    const h = harness({ codec: "av1" });
    const packetizer = new VideoPacketizer({ packetSize: 1392 });
    const key = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    const small = Uint8Array.from({ length: 100 }, (_, i) => (i * 3) & 0xff);
    for (const d of packetizer.packetize(key, { isIdr: true, timestamp: 0 }).datagrams) h.depacketizer.push(d);
    for (const d of packetizer.packetize(small, { timestamp: 1 }).datagrams) h.depacketizer.push(d);
    expect(h.frames.map((f) => f.isIdr)).toEqual([true, false]);
    expect(Buffer.compare(h.frames[0]!.data, key)).toBe(0);
    expect(Buffer.compare(h.frames[1]!.data, small)).toBe(0);
  });

  test("frame metadata carries the RTP timestamp, header type and host latency", () => {
    const h = harness();
    const au = Uint8Array.from([...nal(0x67, 0x42, 0x00, 0x1f), ...nal(0x68, 0xce), ...nal(0x65, 0x88)]);
    for (const d of new VideoPacketizer({ packetSize: 1392 }).packetize(au, { isIdr: true, timestamp: 123456, hostProcessingLatency: 42 }).datagrams) h.depacketizer.push(d, 777);
    expect(h.frames[0]).toMatchObject({ frameNumber: 1, timestamp: 123456, frameType: 2, hostProcessingLatency: 42, arrivalUs: 777 });
  });
});

describe("key frames whose slice starts after the first packet", () => {
  test("large parameter sets and SEI before the IDR slice still make a decodable key frame, SEI tail intact", async () => {
    const { VideoPacketizer } = await import("../../../src/moonlight/video/video-packetizer.ts");
    const { VideoDepacketizer } = await import("../../../src/moonlight/video/video-depacketizer.ts");
    const sps = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    const pps = [0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb];
    const sei = [0, 0, 0, 1, 0x06, ...new Array(3000).fill(0x55), 0x80];
    const idr = [0, 0, 0, 1, 0x65, ...new Array(5000).fill(0x33)];
    const p = [0, 0, 0, 1, 0x41, ...new Array(2000).fill(0x22)];
    const packetizer = new VideoPacketizer({ packetSize: 1024, fecPercentage: 0 });
    const frames: { isIdr: boolean; data: Uint8Array }[] = [];
    let idrRequests = 0;
    const depacketizer = new VideoDepacketizer({ codec: "h264", packetSize: 1024 }, { onFrame: (f) => frames.push(f), onIdrNeeded: () => idrRequests++ });
    const key = Uint8Array.from([...sps, ...pps, ...sei, ...idr]);
    for (const au of [key, Uint8Array.from(p)]) {
      const out = packetizer.packetize(au, { isIdr: au === key, timestamp: 0 });
      for (const datagram of out.datagrams) depacketizer.push(datagram);
    }
    expect(idrRequests).toBe(0);
    expect(frames.map((f) => f.isIdr)).toEqual([true, false]);
    // The SEI spans packets, so it is kept whole: the key frame arrives byte for byte.
    expect(Buffer.from(frames[0]!.data.subarray(0, key.length)).equals(Buffer.from(key))).toBe(true);
  });
});
