import { describe, expect, test } from "bun:test";
import { parseWsMedia, serializeAudio, serializeInput, serializePing, serializeVideo, WsMediaFormatError } from "../../src/peer/ws-media.ts";
import { WsMediaViewer, type BinarySocket } from "../../src/peer/ws-media-viewer.ts";

describe("WebSocket media framing", () => {
  test("video, audio, input and ping round-trip with their fields", () => {
    const au = Uint8Array.of(0, 0, 0, 1, 0x65, 1, 2, 3);
    const video = parseWsMedia(serializeVideo(au, true, "hevc", 4242, 1_795_000_000_123.5));
    expect(video).toMatchObject({ type: "video", keyframe: true, codec: "hevc", frameNumber: 4242, captureTimeMs: 1_795_000_000_123.5 });
    expect([...(video as { data: Uint8Array }).data]).toEqual([...au]);
    expect(parseWsMedia(serializeAudio(Uint8Array.of(0xe8, 9), 2, 7, 35))).toMatchObject({ type: "audio", channels: 2, sequence: 7, timestampMs: 35 });
    expect([...(parseWsMedia(serializeInput(Uint8Array.of(1, 2, 3))) as { packet: Uint8Array }).packet]).toEqual([1, 2, 3]);
    expect(parseWsMedia(serializePing("pong", 12.25))).toEqual({ type: "pong", clockMs: 12.25 });
  });

  test("the header layout is the documented one", () => {
    const bytes = serializeVideo(Uint8Array.of(0xaa), false, "h264", 1, 0);
    expect([...bytes.subarray(0, 8)]).toEqual([0x01, 0x00, 0x01, 0x01, 0, 0, 0, 1]);
    expect(bytes.length).toBe(17);
  });

  test("garbage is refused with a named error", () => {
    expect(() => parseWsMedia(new Uint8Array(0))).toThrow(WsMediaFormatError);
    expect(() => parseWsMedia(Uint8Array.of(0x09))).toThrow(/unknown message type/);
    expect(() => parseWsMedia(Uint8Array.of(0x01, 0, 1, 1))).toThrow(/truncated/);
    const future = serializeVideo(Uint8Array.of(1), false, "h264", 1, 0);
    future[3] = 2;
    expect(() => parseWsMedia(future)).toThrow(/version 2/);
  });
});

/** A socket whose buffer drains only when told to (a throttled viewer). */
class SlowSocket implements BinarySocket {
  buffered = 0;
  sent: Uint8Array[] = [];
  sendBinary(data: Uint8Array): number {
    this.sent.push(data);
    this.buffered += data.length;
    return -1;
  }
  getBufferedAmount(): number {
    return this.buffered;
  }
}

describe("WsMediaViewer", () => {
  const frame = (size: number) => new Uint8Array(size);

  test("a joiner starts at a keyframe", () => {
    const socket = new SlowSocket();
    const viewer = new WsMediaViewer({ id: "a", socket, onKeyframeNeeded: () => {} });
    expect(viewer.writeVideo(frame(100), false)).toBe(false);
    expect(viewer.writeVideo(frame(100), true)).toBe(true);
    expect(viewer.writeVideo(frame(100), false)).toBe(true);
    expect(viewer.stats).toMatchObject({ framesSent: 2, keyframesSent: 1, framesSkipped: 1 });
  });

  test("a viewer that falls behind skips to the next keyframe after draining, and memory stays bounded", () => {
    const socket = new SlowSocket();
    let keyframeRequests = 0;
    const viewer = new WsMediaViewer({ id: "slow", socket, maxBufferedBytes: 10_000, onKeyframeNeeded: () => keyframeRequests++ });
    viewer.writeVideo(frame(4000), true);
    for (let i = 0; i < 100; i++) viewer.writeVideo(frame(4000), i % 30 === 29);
    // Never more than the bound plus the frame that crossed it.
    expect(socket.buffered).toBeLessThanOrEqual(10_000 + 4000);
    expect(viewer.stats.fellBehind).toBe(1);
    expect(keyframeRequests).toBe(1);
    expect(viewer.waitingForKeyframe).toBe(true);
    socket.buffered = 0; // the link catches up
    expect(viewer.writeVideo(frame(4000), false)).toBe(false);
    expect(viewer.writeVideo(frame(4000), true)).toBe(true);
    expect(viewer.waitingForKeyframe).toBe(false);
  });
});
