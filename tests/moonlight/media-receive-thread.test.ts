/**
 * The media receive thread (issue 22) against real datagrams over loopback: the real Sunshine
 * captures, sent from UDP sockets standing in for the host, must come out of the worker as the
 * real client's decode units byte for byte and its Opus packets in order — delivered at once, or
 * held for the frames while nobody listens; pings reach the host; garbage is counted and dropped;
 * close() ends the thread and frees both ports.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { AudioPacket } from "../../src/moonlight/audio/audio-depacketizer.ts";
import { MediaReceiveThread } from "../../src/moonlight/media-receive-thread.ts";
import type { IdrReason, VideoFrame } from "../../src/moonlight/video/video-depacketizer.ts";
import { hex, loadMediaFixture, unhex, type MediaFixture } from "./video/media-fixtures.ts";

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

async function openThread(fx: MediaFixture, video: HostSocket, audio: HostSocket, pingPayload?: string) {
  const packetSize = fx.keys.negotiated.packetSize;
  const encrypted = packetSize === 1360;
  const frames: VideoFrame[] = [];
  const audioPackets: AudioPacket[] = [];
  const idrRequests: IdrReason[] = [];
  const errors: Error[] = [];
  const thread = await MediaReceiveThread.open(
    {
      host: "127.0.0.1",
      video: {
        port: video.port,
        ...(pingPayload ? { pingPayload } : {}),
        codec: fx.keys.negotiated.codec === "h264" ? "h264" : "hevc",
        packetSize,
        ...(encrypted ? { key: unhex(fx.keys.rikey) } : {}),
        referenceFrameInvalidation: false,
      },
      // Sunshine always encrypts audio; its sessions here use 5 ms packets.
      audio: { port: audio.port, packetDurationMs: 5, initialDiscardMs: 0, key: unhex(fx.keys.rikey), keyId: fx.keys.rikeyid },
      receiveBufferBytes: 8 << 20,
    },
    { onFrame: (f) => frames.push(f), onAudio: (p) => audioPackets.push(p), onIdrNeeded: (r) => idrRequests.push(r), onError: (e) => errors.push(e) },
  );
  opened.push(thread);
  return { thread, frames, audioPackets, idrRequests, errors, wireSize: packetSize + 16 + (encrypted ? 32 : 0) };
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

describe("media receive thread", () => {
  for (const name of ["sunshine-h264-encrypted", "sunshine-hevc-clean"]) {
    test(`${name}: the capture sent over loopback comes out as the client's decode units byte for byte (on the main thread's clock) and its Opus packets in order`, async () => {
      const fx = loadMediaFixture(name);
      const [videoHost, audioHost] = [await hostSocket(), await hostSocket()];
      const { thread, frames, audioPackets, idrRequests, errors, wireSize } = await openThread(fx, videoHost, audioHost);
      expect(thread.mode).toBe("thread");
      const before = performance.now() * 1000;
      await send(audioHost, thread.audioPort, fx.audio.map((d) => d.payload));
      await send(videoHost, thread.videoPort, wireDatagrams(fx, wireSize));
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
      // The real client dropped its first 500 ms; we hand out everything: align by sequence.
      const bySeq = new Map(audioPackets.map((p) => [p.sequenceNumber, p]));
      for (const expected of fx.expectedOpus) expect(hex(bySeq.get(expected.rtpSeq)?.data ?? new Uint8Array(0))).toBe(hex(expected.bytes));
      const sequences = audioPackets.map((p) => p.sequenceNumber);
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
      expect(idrRequests).toEqual([]);
      expect(errors).toEqual([]);
      await until(() => thread.videoStats.framesEmitted === frames.length, 2000, "counters");
      expect(thread.videoStats.malformed).toBe(0);
      expect(thread.videoStats.framesLost).toBe(0);
      expect(thread.audioStats.decryptFailures).toBe(0);
      expect(thread.audioStats.lost).toBe(0);
      expect(thread.audioStats.emitted).toBe(audioPackets.length);
      expect(thread.videoBytes).toBe(fx.video.reduce((n, d) => n + d.payload.length, 0));
    }, 30_000);
  }

  test("while nobody listens, audio travels with the frames (or waits 100 ms at most); a listener gets each packet at once", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const [videoHost, audioHost] = [await hostSocket(), await hostSocket()];
    const { thread, audioPackets } = await openThread(fx, videoHost, audioHost);
    const arrivals: number[] = [];
    // Data packets only (payload type 97), so that each datagram sent is one Opus packet out.
    const audio = fx.audio.map((d) => d.payload).filter((d) => (d[1]! & 0x7f) === 97);
    // Held: packets sent 5 ms apart come in a handful of batches, not one by one.
    thread.audioPrompt = false;
    expect(thread.audioPrompt).toBe(false);
    let seen = 0;
    for (const datagram of audio.slice(0, 40)) {
      audioHost.send(datagram, thread.audioPort, "127.0.0.1");
      await Bun.sleep(5);
      if (audioPackets.length !== seen) {
        arrivals.push(audioPackets.length - seen);
        seen = audioPackets.length;
      }
    }
    // (The queue starts at a FEC block boundary: the first few only synchronise it.)
    await until(() => thread.audioStats.packets === 40 && audioPackets.length === thread.audioStats.emitted, 1000, "held audio to be let go");
    expect(audioPackets.length).toBeGreaterThan(30);
    expect(arrivals.length).toBeLessThan(10);
    // Prompt: each packet on its own.
    thread.audioPrompt = true;
    const heldCount = audioPackets.length;
    let deliveries = 0;
    for (const datagram of audio.slice(40, 60)) {
      const before = audioPackets.length;
      audioHost.send(datagram, thread.audioPort, "127.0.0.1");
      await until(() => audioPackets.length > before, 1000, "a prompt packet");
      deliveries++;
    }
    expect(deliveries).toBe(20);
    expect(audioPackets.length).toBe(heldCount + 20);
  });

  test("pings the host from its socket with the SETUP payload and a sequence, every 500 ms", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const pings: Buffer[] = [];
    const host = await hostSocket((p) => pings.push(Buffer.from(p)));
    const audioPings: Buffer[] = [];
    const audioHost = await hostSocket((p) => audioPings.push(Buffer.from(p)));
    const { thread } = await openThread(fx, host, audioHost, "0123456789ABCDEF");
    thread.startAudioPings();
    await until(() => audioPings.length >= 1, 3000, "an audio ping");
    expect(pings).toEqual([]); // video pings (which start the host's video) wait for their stage
    thread.startVideoPings();
    await until(() => pings.length >= 2, 3000, "two pings");
    expect(pings[0]!.subarray(0, 16).toString("latin1")).toBe("0123456789ABCDEF");
    expect(pings[0]!.readUInt32BE(16)).toBe(1);
    expect(pings[1]!.readUInt32BE(16)).toBe(2);
  });

  test("garbage and oversize datagrams are counted and dropped; the stream goes on", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const [host, audioHost] = [await hostSocket(), await hostSocket()];
    const { thread, frames, errors, wireSize } = await openThread(fx, host, audioHost);
    host.send(new Uint8Array([1, 2, 3]), thread.videoPort, "127.0.0.1");
    host.send(new Uint8Array(4000).fill(0x80), thread.videoPort, "127.0.0.1");
    audioHost.send(new Uint8Array([1, 2, 3]), thread.audioPort, "127.0.0.1");
    audioHost.send(new Uint8Array(3000).fill(0x80), thread.audioPort, "127.0.0.1");
    await send(host, thread.videoPort, wireDatagrams(fx, wireSize));
    await until(() => frames.length >= fx.expectedFrames.length, 10_000, "frames");
    await until(() => thread.videoStats.packets >= 851 && thread.audioStats.packets >= 2, 2000, "counters");
    // Not decryptable (too short / a forged tag) or not RTP: counted, never a crash.
    expect(thread.videoStats.decryptFailures + thread.videoStats.malformed).toBe(2);
    expect(thread.audioStats.malformed + thread.audioStats.decryptFailures).toBe(2);
    expect(thread.videoStats.framesLost).toBe(0);
    expect(errors).toEqual([]);
  }, 30_000);

  test("close() is idempotent, stops the pings and frees both ports", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const pings: Buffer[] = [];
    const host = await hostSocket((p) => pings.push(p));
    const { thread } = await openThread(fx, host, await hostSocket());
    const ports = [thread.videoPort, thread.audioPort];
    thread.startVideoPings();
    await until(() => pings.length >= 1, 3000, "a ping");
    for (const port of ports) expect(boundUdpPorts().has(port)).toBe(true);
    thread.close();
    thread.close();
    await until(() => ports.every((port) => !boundUdpPorts().has(port)), 2000, "the ports to be freed");
    const seen = pings.length;
    await Bun.sleep(700);
    expect(pings.length).toBe(seen);
  });

  test("after close(), nothing more is delivered, whatever was in flight", async () => {
    const fx = loadMediaFixture("sunshine-h264-encrypted");
    const [host, audioHost] = [await hostSocket(), await hostSocket()];
    const { thread, frames, audioPackets, errors, wireSize } = await openThread(fx, host, audioHost);
    const datagrams = wireDatagrams(fx, wireSize);
    const port = thread.videoPort;
    for (const d of datagrams.slice(0, 400)) host.send(d, port, "127.0.0.1");
    thread.close();
    const [framesAtClose, audioAtClose] = [frames.length, audioPackets.length];
    await Bun.sleep(300);
    expect(frames.length).toBe(framesAtClose);
    expect(audioPackets.length).toBe(audioAtClose);
    expect(errors).toEqual([]);
  });
});
