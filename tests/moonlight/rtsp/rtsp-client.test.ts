import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import {
  RtspHandshakeError,
  RtspRequestBuilder,
  negotiateVideoFormat,
  parseDescribeBody,
  parseSetupReply,
  performRtspHandshake,
  rtspTarget,
} from "../../../src/moonlight/rtsp/rtsp-client.ts";
import { VideoFormat } from "../../../src/moonlight/rtsp/announce-sdp.ts";
import {
  completeRequestLength,
  decryptRtspMessage,
  encryptRtspMessage,
  encryptedFrameLength,
  parseRtspMessage,
  serializeRtspMessage,
  type RtspResponse,
} from "../../../src/moonlight/rtsp/rtsp.ts";
import { fixtureSettings, keys, rtspExchanges } from "./rtsp-fixture.ts";

const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * A scripted RTSP host: one request per TCP connection, answers with the next scripted reply,
 * closes. With a key it speaks the encrypted framing.
 */
async function scriptedHost(replies: Uint8Array[], options: { port?: number; key?: Uint8Array } = {}) {
  const received: Uint8Array[] = [];
  let hostSeq = 0;
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      let request: Uint8Array;
      if (options.key) {
        const length = encryptedFrameLength(buffer);
        if (length === undefined) return;
        request = decryptRtspMessage(options.key, buffer.subarray(0, length), "client").plaintext;
      } else {
        const length = completeRequestLength(buffer);
        if (length === undefined) return;
        request = buffer.subarray(0, length);
      }
      const reply = replies[received.length]!;
      received.push(new Uint8Array(request));
      socket.end(options.key ? encryptRtspMessage(options.key, ++hostSeq, "host", reply) : reply);
    });
  });
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
  return { port, received };
}

describe("RTSP client (Sunshine-gen sequence)", () => {
  test("the request builder reproduces the seven captured requests byte for byte", () => {
    const target = rtspTarget({ address: "127.0.0.1", sessionUrl: keys.rtsp.sessionUrl0, bitrateKbps: 3000, audioChannels: 2, remote: false });
    expect(target).toEqual({ url: "rtsp://0.0.0.0:48010", host: "0.0.0.0", port: 48010, encrypted: false });
    const b = new RtspRequestBuilder(target);
    const sdp = parseRtspMessage(rtspExchanges[5]!.request).body;
    const built = [
      b.options(),
      b.describe(),
      b.setup("audio", undefined),
      b.setup("video", "DEADBEEFCAFE"),
      b.setup("control", "DEADBEEFCAFE"),
      b.announce("DEADBEEFCAFE", sdp),
      b.play("DEADBEEFCAFE"),
    ];
    built.forEach((request, i) => expect(latin1(serializeRtspMessage(request))).toBe(latin1(rtspExchanges[i]!.request)));
  });

  test("the captured host replies parse into ports, session and DESCRIBE features", () => {
    const replies = rtspExchanges.map((e) => parseRtspMessage(e.response) as RtspResponse);
    expect(replies.slice(2, 5).map(parseSetupReply)).toEqual([
      { session: "DEADBEEFCAFE", serverPort: 48200, pingPayload: undefined, connectData: undefined },
      { session: "DEADBEEFCAFE", serverPort: 48100, pingPayload: undefined, connectData: undefined },
      { session: "DEADBEEFCAFE", serverPort: 47999, pingPayload: undefined, connectData: undefined },
    ]);
    const describe = parseDescribeBody(replies[1]!.body);
    expect(describe).toEqual({
      hevcSupported: true,
      av1Supported: false,
      refPicInvalidation: false,
      hostFeatureFlags: 3, // Wolf writes "featureFlags: 3" with a space; strtoul skips it
      encryptionSupported: 0,
      encryptionRequested: 0,
      surroundParams: ["21101", "642014235", "85301423675"],
    });
    expect(negotiateVideoFormat(describe, VideoFormat.h264)).toBe(VideoFormat.h264);
    expect(negotiateVideoFormat(describe, VideoFormat.h264 | VideoFormat.h265 | VideoFormat.h265Main10)).toBe(VideoFormat.h265Main10);
    expect(negotiateVideoFormat({ ...describe, av1Supported: true }, VideoFormat.h264 | VideoFormat.av1Main8)).toBe(VideoFormat.av1Main8);
  });

  test("Sunshine's SETUP extras are picked up (ping payload, connect data)", () => {
    const reply = parseRtspMessage(
      "RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: DEADBEEFCAFE;timeout = 90\r\nTransport: server_port=47999\r\nX-SS-Ping-Payload: 7A1C0F2B93D4E5A6\r\nX-SS-Connect-Data: 3141592653\r\n\r\n",
    ) as RtspResponse;
    expect(parseSetupReply(reply)).toEqual({ session: "DEADBEEFCAFE", serverPort: 47999, pingPayload: "7A1C0F2B93D4E5A6", connectData: 3141592653 });
    const hex = parseDescribeBody("a=x-ss-general.featureFlags:0x3\na=x-ss-general.encryptionSupported:5\na=x-ss-general.encryptionRequested:1\na=x-nv-video[0].refPicInvalidation:1\n");
    expect([hex.hostFeatureFlags, hex.encryptionSupported, hex.encryptionRequested, hex.refPicInvalidation]).toEqual([3, 5, 1, true]);
  });

  test("the full handshake against the captured Wolf replies sends the captured requests", async () => {
    // Port 48010 keeps the request URLs identical to the capture; fall back to any port if busy.
    let host;
    try {
      host = await scriptedHost(rtspExchanges.map((e) => e.response), { port: 48010 });
    } catch {
      host = await scriptedHost(rtspExchanges.map((e) => e.response));
    }
    const audioSetups: number[] = [];
    const result = await performRtspHandshake({
      address: "127.0.0.1",
      sessionUrl: `rtsp://127.0.0.1:${host.port}`,
      settings: fixtureSettings,
      onAudioSetup: (reply) => audioSetups.push(reply.port),
    });
    expect(host.received).toHaveLength(7);
    host.received.forEach((request, i) => {
      expect(latin1(request)).toBe(latin1(rtspExchanges[i]!.request).replaceAll(":48010 ", `:${host.port} `));
    });
    expect(audioSetups).toEqual([48200]);
    expect(result.session).toBe("DEADBEEFCAFE");
    expect([result.audio.port, result.video.port, result.control.port]).toEqual([48200, 48100, 47999]);
    expect(result.control.connectData).toBeUndefined();
    expect(result.controlIvScheme).toBe("legacy");
    expect(result.encryptionEnabled).toBe(0);
    expect(result.audioEncrypted).toBe(true);
    expect(result.videoFormat).toBe(VideoFormat.h264);
  });

  test("rtspenc:// sessions encrypt every request and decrypt every reply", async () => {
    const key = Uint8Array.from(Buffer.from(keys.rikey, "hex"));
    const replies = rtspExchanges.map((e) => e.response);
    replies[1] = Buffer.from(
      "RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\na=x-ss-general.featureFlags:3\na=x-ss-general.encryptionSupported:5\na=x-ss-general.encryptionRequested:1\n",
    );
    const host = await scriptedHost(replies, { key });
    const result = await performRtspHandshake({
      address: "127.0.0.1",
      sessionUrl: `rtspenc://127.0.0.1:${host.port}`,
      key,
      settings: { ...fixtureSettings, bitrateKbps: 20000 },
    });
    expect(host.received.map((r) => latin1(r).split(" ")[0])).toEqual(["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "SETUP", "ANNOUNCE", "PLAY"]);
    // High-quality-audio eligible: the real target and Host are used.
    expect(latin1(host.received[0]!)).toContain(`OPTIONS rtspenc://127.0.0.1:${host.port} RTSP/1.0\r\n`);
    expect(latin1(host.received[0]!)).toContain("Host: 127.0.0.1\r\n");
    expect(result.encryptionEnabled).toBe(5);
    expect(result.controlIvScheme).toBe("v2");
    expect(result.sdp).toContain("a=x-ss-general.encryptionEnabled:5 \r\n");
  });

  test("a non-200 reply aborts the handshake with its status", async () => {
    const replies = rtspExchanges.map((e) => e.response);
    replies[5] = Buffer.from("RTSP/1.0 400 BAD REQUEST\r\nCSeq: 6\r\n\r\n");
    const host = await scriptedHost(replies);
    const attempt = performRtspHandshake({ address: "127.0.0.1", sessionUrl: `rtsp://127.0.0.1:${host.port}`, settings: fixtureSettings });
    await expect(attempt).rejects.toBeInstanceOf(RtspHandshakeError);
    await expect(attempt).rejects.toMatchObject({ statusCode: 400 });
  });

  test("a refused connection is retried until the connect timeout", async () => {
    const probe = net.createServer();
    const port = await new Promise<number>((r) => probe.listen(0, "127.0.0.1", () => r((probe.address() as net.AddressInfo).port)));
    probe.close();
    const started = Date.now();
    await expect(
      performRtspHandshake({ address: "127.0.0.1", sessionUrl: `rtsp://127.0.0.1:${port}`, settings: fixtureSettings, connectTimeoutMs: 1200 }),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});
