/**
 * The video receive thread (issue 22) against real datagrams over loopback: the real Sunshine
 * captures, sent from a UDP socket standing in for the host, must come out of the worker as the
 * real client's decode units byte for byte; pings reach the host; garbage is counted and dropped;
 * close() ends the thread and frees the port.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { IdrReason, VideoFrame } from "../../../src/moonlight/video/video-depacketizer.ts";
import { VideoReceiveThread } from "../../../src/moonlight/video/video-receive-thread.ts";
import { loadMediaFixture, unhex, type MediaFixture } from "./media-fixtures.ts";

type HostSocket = import("bun").udp.Socket<"buffer">;

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

const until = async (what: () => boolean, ms = 10_000, label = "condition") => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await Bun.sleep(10);
  }
};

/** Sunshine sends video with UDP GSO; the capture holds the unsegmented sends. */
function wireDatagrams(fx: MediaFixture, wireSize: number): Uint8Array[] {
  return fx.video.flatMap((d) => {
    const out: Uint8Array[] = [];
    for (let at = 0; at < d.payload.length; at += wireSize) out.push(d.payload.subarray(at, Math.min(at + wireSize, d.payload.length)));
    return out;
  });
}

async function hostSocket(onPing: (ping: Buffer) => void = () => {}): Promise<HostSocket> {
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: (_s, data) => onPing(data) } });
  opened.push(socket);
  return socket;
}

async function openThread(fx: MediaFixture, host: HostSocket, pingPayload?: string) {
  const packetSize = fx.keys.negotiated.packetSize;
  const encrypted = packetSize === 1360;
  const frames: VideoFrame[] = [];
  const idrRequests: IdrReason[] = [];
  const errors: Error[] = [];
  const thread = await VideoReceiveThread.open(
    {
      host: "127.0.0.1",
      port: host.port,
      ...(pingPayload ? { pingPayload } : {}),
      codec: fx.keys.negotiated.codec === "h264" ? "h264" : "hevc",
      packetSize,
      ...(encrypted ? { key: unhex(fx.keys.rikey) } : {}),
      referenceFrameInvalidation: false,
      receiveBufferBytes: 8 << 20,
    },
    { onFrame: (f) => frames.push(f), onIdrNeeded: (r) => idrRequests.push(r), onError: (e) => errors.push(e) },
  );
  opened.push(thread);
  return { thread, frames, idrRequests, errors, wireSize: packetSize + 16 + (encrypted ? 32 : 0) };
}

/** Sends in bursts of a frame's size, as a host does, without overrunning anything. */
async function send(host: HostSocket, port: number, datagrams: Uint8Array[]): Promise<void> {
  for (let i = 0; i < datagrams.length; i++) {
    host.send(datagrams[i]!, port, "127.0.0.1");
    if (i % 32 === 31) await Bun.sleep(1);
  }
}

const boundUdpPorts = () =>
  new Set(
    ["/proc/net/udp", "/proc/net/udp6"].flatMap((file) =>
      readFileSync(file, "latin1")
        .split("\n")
        .slice(1)
        .map((line) => line.trim().split(/\s+/)[1])
        .filter((local): local is string => local !== undefined)
        .map((local) => parseInt(local.split(":")[1]!, 16)),
    ),
  );

describe("video receive thread", () => {
  for (const name of ["sunshine-h264-encrypted", "sunshine-hevc-clean"]) {
    test(`${name}: the capture sent over loopback comes out as the client's decode units, byte for byte, on the main thread's clock`, async () => {
      const fx = loadMediaFixture(name);
      const host = await hostSocket();
      const { thread, frames, idrRequests, errors, wireSize } = await openThread(fx, host);
      expect(thread.mode).toBe("thread");
      const before = performance.now() * 1000;
      await send(host, thread.localPort, wireDatagrams(fx, wireSize));
      await until(() => frames.length >= fx.expectedFrames.length, 10_000, `${fx.expectedFrames.length} frames (have ${frames.length})`);
      const after = performance.now() * 1000;
      const byNumber = new Map(frames.map((f) => [f.frameNumber, f]));
      for (const expected of fx.expectedFrames) {
        const frame = byNumber.get(expected.frameNumber);
        expect(frame, `frame ${expected.frameNumber}`).toBeDefined();
        expect(Buffer.compare(frame!.data, expected.bytes)).toBe(0);
        expect(frame!.isIdr).toBe(expected.isIdr);
        expect(frame!.arrivalUs).toBeGreaterThanOrEqual(before - 1000);
        expect(frame!.arrivalUs).toBeLessThanOrEqual(after + 1000);
      }
      expect(idrRequests).toEqual([]);
      expect(errors).toEqual([]);
      await until(() => thread.stats.framesEmitted === frames.length, 2000, "counters");
      expect(thread.stats.malformed).toBe(0);
      expect(thread.stats.framesLost).toBe(0);
      expect(thread.bytes).toBe(fx.video.reduce((n, d) => n + d.payload.length, 0));
    }, 30_000);
  }

  test("pings the host from its socket with the SETUP payload and a sequence, every 500 ms", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const pings: Buffer[] = [];
    const host = await hostSocket((p) => pings.push(Buffer.from(p)));
    const { thread } = await openThread(fx, host, "0123456789ABCDEF");
    thread.startPings();
    await until(() => pings.length >= 2, 3000, "two pings");
    expect(pings[0]!.subarray(0, 16).toString("latin1")).toBe("0123456789ABCDEF");
    expect(pings[0]!.readUInt32BE(16)).toBe(1);
    expect(pings[1]!.readUInt32BE(16)).toBe(2);
  });

  test("garbage and oversize datagrams are counted and dropped; the stream goes on", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const host = await hostSocket();
    const { thread, frames, errors, wireSize } = await openThread(fx, host);
    host.send(new Uint8Array([1, 2, 3]), thread.localPort, "127.0.0.1");
    host.send(new Uint8Array(4000).fill(0x80), thread.localPort, "127.0.0.1");
    await send(host, thread.localPort, wireDatagrams(fx, wireSize));
    await until(() => frames.length >= fx.expectedFrames.length, 10_000, "frames");
    await until(() => thread.stats.packets >= 851, 2000, "counters");
    // Not decryptable (too short / a forged tag): counted, never a crash.
    expect(thread.stats.decryptFailures + thread.stats.malformed).toBe(2);
    expect(thread.stats.framesLost).toBe(0);
    expect(errors).toEqual([]);
  }, 30_000);

  test("close() is idempotent, stops the pings and frees the port", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const pings: Buffer[] = [];
    const host = await hostSocket((p) => pings.push(p));
    const { thread } = await openThread(fx, host);
    const port = thread.localPort;
    thread.startPings();
    await until(() => pings.length >= 1, 3000, "a ping");
    expect(boundUdpPorts().has(port)).toBe(true);
    thread.close();
    thread.close();
    await until(() => !boundUdpPorts().has(port), 2000, "the port to be freed");
    const seen = pings.length;
    await Bun.sleep(700);
    expect(pings.length).toBe(seen);
  });
});
