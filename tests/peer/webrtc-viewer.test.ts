/**
 * A server-side WebRtcViewer and a WebRtcReceiver (the viewer's side) talking over loopback:
 * offer/answer/candidates, shared RTP packets, keyframe gating, PLI, input on the data channels.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { splitNalUnits } from "../../src/moonlight/video/nal.ts";
import { OpusRtpPacketizer, VideoRtpPacketizer } from "../../src/peer/rtp-packetizer.ts";
import type { StreamInfo } from "../../src/peer/signaling.ts";
import { LOOP_STREAM_INFO, loopAccessUnits } from "../support/sim-loop.ts";
import { WebRtcReceiver } from "../../src/peer/webrtc-receiver.ts";
import { PLAYOUT_DELAY_EXTENSION_ID, WebRtcViewer } from "../../src/peer/webrtc-viewer.ts";

const FRAMES = loopAccessUnits("h264");

const info: StreamInfo = LOOP_STREAM_INFO;

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

function connect(viewOnly = false) {
  let receiver!: WebRtcReceiver;
  const viewer = new WebRtcViewer({
    id: "v1",
    stream: info,
    videoSsrc: 0x1111,
    audioSsrc: 0x2222,
    viewOnly,
    ice: { bindAddress: "127.0.0.1" },
    signal: (m) => queueMicrotask(() => receiver.handleSignal(m)),
  });
  receiver = new WebRtcReceiver({ bindAddress: "127.0.0.1", signal: (m) => queueMicrotask(() => viewer.handleSignal(m)) });
  open.push(viewer, receiver);
  return { viewer, receiver };
}

const until = async (what: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(10);
  }
};

describe("WebRtcViewer ⇄ WebRtcReceiver", () => {
  test("the viewer gets stream info, then frames from its first keyframe on, byte for byte", async () => {
    const { viewer, receiver } = connect();
    const streams: StreamInfo[] = [];
    receiver.on("stream", (s) => streams.push(s));
    const received: Uint8Array[] = [];
    receiver.on("frame", (f) => received.push(f.data));
    const keyframeRequests: string[] = [];
    viewer.on("keyframeRequest", (r) => keyframeRequests.push(r));
    viewer.start();
    await until(() => viewer.receivingVideo || keyframeRequests.includes("track-open"));
    expect(streams[0]).toMatchObject({ width: 1280, codec: "h264", input: true });

    const packetizer = new VideoRtpPacketizer("h264", { payloadType: 102, ssrc: 0x1111, playoutDelayExtensionId: PLAYOUT_DELAY_EXTENSION_ID });
    // Start mid-GOP: frames 5…29 are deltas and must not reach the viewer; 30 is the next IDR.
    for (let i = 5; i < 70; i++) viewer.writeVideo(packetizer.packetize(FRAMES[i]!, i * 1500, i % 30 === 0));
    await until(() => received.length >= 40);
    expect(viewer.stats.framesSkipped).toBe(25);
    expect(viewer.stats.keyframesSent).toBe(2);
    const strip = (au: Uint8Array) => {
      // The receiver rebuilds NALs with 4-byte start codes and no trailing zeros: compare NAL payloads.
      return splitNalUnits("h264", au).map((n) => {
        let end = n.end;
        while (end > n.payloadStart && au[end - 1] === 0) end--;
        return Buffer.from(au.subarray(n.payloadStart, end)).toString("hex");
      });
    };
    for (let i = 0; i < received.length; i++) expect(strip(received[i]!)).toEqual(strip(FRAMES[30 + i]!));
    expect(receiver.videoStats?.keyframes).toBe(2);
    expect(receiver.videoStats?.packetsLost).toBe(0);
  });

  test("a PLI from the viewer becomes a keyframe request", async () => {
    const { viewer, receiver } = connect();
    const reasons: string[] = [];
    viewer.on("keyframeRequest", (r) => reasons.push(r));
    viewer.start();
    await until(() => reasons.includes("track-open"));
    const packetizer = new VideoRtpPacketizer("h264", { payloadType: 102, ssrc: 0x1111 });
    viewer.writeVideo(packetizer.packetize(FRAMES[0]!, 0, true));
    await until(() => receiver.videoStats !== undefined && receiver.videoStats.frames > 0);
    expect(receiver.requestKeyframe()).toBe(true);
    await until(() => reasons.includes("pli"));
    expect(viewer.stats.plis).toBeGreaterThanOrEqual(1);
  });

  test("input sent on the data channels arrives parsed; garbage is counted", async () => {
    const { viewer, receiver } = connect();
    const inputs: unknown[] = [];
    viewer.on("input", (p) => inputs.push(p));
    viewer.start();
    await until(() => receiver.inputReady);
    receiver.sendInput({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 });
    receiver.sendInput({ kind: "mouseMoveAbsolute", x: 10, y: 20, referenceWidth: 1280, referenceHeight: 720 });
    await until(() => inputs.length === 2);
    expect(inputs[0]).toEqual({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 });
    expect(inputs[1]).toMatchObject({ kind: "mouseMoveAbsolute", x: 10, y: 20 });
  });

  test("a view-only viewer's input is ignored", async () => {
    const { viewer, receiver } = connect(true);
    const inputs: unknown[] = [];
    viewer.on("input", (p) => inputs.push(p));
    const streams: StreamInfo[] = [];
    receiver.on("stream", (s) => streams.push(s));
    viewer.start();
    await until(() => receiver.inputReady);
    receiver.sendInput({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 });
    await until(() => viewer.stats.inputMessages === 1);
    expect(inputs).toEqual([]);
    expect(streams[0]?.input).toBe(false);
  });

  test("audio packets arrive with their payload intact", async () => {
    const { viewer, receiver } = connect();
    const audio: string[] = [];
    receiver.on("audio", (opus) => audio.push(Buffer.from(opus).toString("hex")));
    let opened = false;
    viewer.on("open", () => (opened = true));
    viewer.start();
    await until(() => opened);
    await Bun.sleep(50);
    const opus = new OpusRtpPacketizer({ payloadType: 111, ssrc: 0x2222 });
    for (let i = 0; i < 10; i++) viewer.writeAudio(opus.packetize(Uint8Array.of(0xe8, i, i), i * 240), i * 240);
    await until(() => audio.length === 10);
    expect(audio[3]).toBe("e80303");
  });
});

describe("retransmission", () => {
  test("a NACK from the viewer is answered from the shared packets with the viewer's sequence numbers", async () => {
    const { serializeNack } = await import("../../src/peer/rtcp.ts");
    const { viewer, receiver } = connect();
    const seen: number[] = [];
    receiver.on("rtp", (p) => seen.push((p[2]! << 8) | p[3]!));
    let opened = false;
    viewer.on("open", () => (opened = true));
    viewer.start();
    await until(() => opened);
    const packetizer = new VideoRtpPacketizer("h264", { payloadType: 102, ssrc: 0x1111 });
    const sent = [0, 1, 2].map((i) => packetizer.packetize(FRAMES[i]!, i * 1500, i === 0));
    for (const frame of sent) viewer.writeVideo(frame);
    await until(() => seen.length === viewer.stats.videoPacketsSent);
    const wanted = [seen[2]!, seen[seen.length - 1]!];
    // As the video track hands it over when the viewer's NACK arrives.
    viewer.handleFeedback(serializeNack(0x5555, 0x1111, wanted));
    await until(() => viewer.stats.retransmitted === 2);
    // The resent packets went out under the sequence numbers this viewer had for them.
    const seqOf = (p: Uint8Array) => (p[2]! << 8) | p[3]!;
    expect(seqOf(sent[0]!.packets[2]!)).toBe(wanted[0]!);
    expect(seqOf(sent[2]!.packets.at(-1)!)).toBe(wanted[1]!);
    // (The receiver's SRTP replay protection drops a copy of a packet it already has, so what can
    // be checked here is what was resent; over a lossy path the copy fills the hole.)
    viewer.handleFeedback(serializeNack(0x5555, 0x1111, [(seen[0]! - 1000) & 0xffff]));
    expect(viewer.stats.retransmitted).toBe(2);
    expect(viewer.stats.nacks).toBe(3);
  });
});

test("a bad answer or a candidate after close is reported to the viewer, not thrown", () => {
  const signals: unknown[] = [];
  const viewer = new WebRtcViewer({ id: "x", stream: info, videoSsrc: 1, audioSsrc: 2, ice: { bindAddress: "127.0.0.1" }, signal: (m) => signals.push(m) });
  open.push(viewer);
  viewer.start();
  expect(() => viewer.handleSignal({ type: "answer", sdp: "v=0 garbage" })).not.toThrow();
  expect(() => viewer.handleSignal({ type: "candidate", candidate: "candidate:1 1 UDP 1 127.0.0.1 9 typ host", mid: "video" })).not.toThrow();
  expect(viewer.stats.signalErrors).toBeGreaterThanOrEqual(1);
  expect(signals).toContainEqual(expect.objectContaining({ type: "error", error: "bad_signal" }));
});
