/**
 * The simulated host's media half against our own client pieces over loopback: RTSP client,
 * ControlStream (ENet + AES-GCM), VideoDepacketizer, AudioDepacketizer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { EncryptionFeature } from "../../src/moonlight/rtsp/announce-sdp.ts";
import { AudioCipher } from "../../src/moonlight/audio/audio-packet.ts";
import { AudioDepacketizer, type AudioPacket } from "../../src/moonlight/audio/audio-depacketizer.ts";
import { ControlStream, type TerminationEvent } from "../../src/moonlight/control/control-stream.ts";
import { TerminationCode } from "../../src/moonlight/control/control-messages.ts";
import { GamepadButton, KeyModifier, MouseButton } from "../../src/moonlight/input/input.ts";
import { exchangeOverTcp } from "../../src/moonlight/rtsp/rtsp-client.ts";
import { parseRtspMessage, serializeRtspMessage } from "../../src/moonlight/rtsp/rtsp.ts";
import { OpusLoop, loadVideoLoop } from "../../src/sim-host/media-source.ts";
import { VideoDepacketizer, type VideoFrame } from "../../src/moonlight/video/video-depacketizer.ts";
import { VideoCipher } from "../../src/moonlight/video/video-crypto.ts";
import { SCM } from "../../src/moonlight/http/serverinfo.ts";
import type { SentVideoFrame } from "../../src/sim-host/video-sender.ts";
import {
  PingingSocket,
  expectedDecodeUnit,
  launchAndHandshake,
  matchesWithPadding,
  startSim,
  waitFor,
  type LaunchedStream,
  type SimFixture,
} from "./media-harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function connectControl(fixture: SimFixture, launched: LaunchedStream, key = launched.keys.rikey): Promise<ControlStream> {
  const { rtsp } = launched;
  return ControlStream.connect({
    address: "127.0.0.1",
    port: rtsp.control.port,
    connectData: rtsp.control.connectData ?? 0,
    key,
    ivScheme: rtsp.controlIvScheme,
    connectTimeoutMs: 3000,
    disconnectLingerMs: 200,
  }).then((stream) => {
    cleanups.push(() => stream.close());
    return stream;
  });
}

async function receiveVideo(
  launched: LaunchedStream,
  codec: "h264" | "hevc" = "h264",
  cipher?: VideoCipher,
): Promise<{ frames: VideoFrame[]; socket: PingingSocket; depacketizer: VideoDepacketizer }> {
  const frames: VideoFrame[] = [];
  const packetSize = Number(/x-nv-video\[0\]\.packetSize:(\d+)/.exec(launched.rtsp.sdp)![1]);
  const depacketizer = new VideoDepacketizer({ codec, packetSize, ...(cipher ? { cipher } : {}) }, { onFrame: (f) => frames.push(f) });
  const socket = await PingingSocket.open();
  cleanups.push(() => socket.close());
  socket.onDatagram((d) => depacketizer.push(d));
  socket.startPinging(launched.rtsp.video.port, launched.rtsp.video.pingPayload);
  return { frames, socket, depacketizer };
}

describe("SimHost RTSP server", () => {
  let fixture: SimFixture;
  beforeAll(async () => {
    fixture = await startSim();
  });
  afterAll(() => fixture.close());

  test("refuses RTSP with 503 while no launch session is pending", async () => {
    const request = serializeRtspMessage({ kind: "request", method: "OPTIONS", target: "rtsp://127.0.0.1", headers: [["CSeq", "1"]], body: "" });
    const reply = parseRtspMessage(await exchangeOverTcp("127.0.0.1", fixture.host.media!.ports.rtsp, request, { connectTimeoutMs: 2000 }));
    expect(reply.kind === "response" && reply.statusCode).toBe(503);
    expect(reply.headers[0]).toEqual(["CSeq", "1"]);
  });

  test("answers the client's real request sequence like Sunshine: encryption offers, ports, ping payload, connect data", async () => {
    const launched = await launchAndHandshake(fixture);
    const { rtsp } = launched;
    const ports = fixture.host.media!.ports;
    const launch = fixture.host.state.session!;
    expect(rtsp.requests.map((r) => r.method)).toEqual(["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "SETUP", "ANNOUNCE", "PLAY"]);
    expect(rtsp.session).toBe("DEADBEEFCAFE");
    expect(rtsp.describe.encryptionSupported).toBe(EncryptionFeature.controlV2 | EncryptionFeature.audio);
    expect(rtsp.describe.hevcSupported).toBe(false); // the host advertises H.264 only by default
    expect(rtsp.describe.surroundParams).toContain("642012453");
    expect([rtsp.audio.port, rtsp.video.port, rtsp.control.port]).toEqual([ports.audio, ports.video, ports.control]);
    expect(rtsp.audio.pingPayload).toBe(launch.avPingPayload);
    expect(rtsp.video.pingPayload).toBe(launch.avPingPayload);
    expect(rtsp.control.connectData).toBe(launch.controlConnectData);
    expect(rtsp.controlIvScheme).toBe("v2");
    const stream = fixture.host.media!.stream!;
    expect(stream.config).toMatchObject({ codec: "h264", width: 1280, height: 720, fps: 60, packetSize: 1392, audioEncrypted: true, controlIvScheme: "v2", audioPacketDurationMs: 5 });
  });

  test("an ANNOUNCE that lacks a required attribute or asks for an unoffered codec gets 400", async () => {
    await launchAndHandshake(fixture);
    const port = fixture.host.media!.ports.rtsp;
    const announce = (sdp: string) =>
      serializeRtspMessage({
        kind: "request",
        method: "ANNOUNCE",
        target: "streamid=control/13/0",
        headers: [["CSeq", "6"], ["Session", "DEADBEEFCAFE"], ["Content-type", "application/sdp"], ["Content-length", String(sdp.length)]],
        body: sdp,
      });
    const missing = parseRtspMessage(await exchangeOverTcp("127.0.0.1", port, announce("v=0\r\na=x-nv-video[0].maxFPS:60 \r\n")));
    expect(missing.kind === "response" && missing.statusCode).toBe(400);
    const sdp = fixture.host.media!.stream!.config.attributes;
    const hevc = [...sdp].map(([k, v]) => `a=${k}:${k === "x-nv-vqos[0].bitStreamFormat" ? 1 : v} \r\n`).join("");
    const refused = parseRtspMessage(await exchangeOverTcp("127.0.0.1", port, announce(`v=0\r\n${hevc}`)));
    expect(refused.kind === "response" && refused.statusCode).toBe(400);
    expect(fixture.host.media!.stats.rejectedAnnounces).toBeGreaterThanOrEqual(2);
  });

  test("unknown methods get 404 and garbage is answered with 400 or dropped, never fatal", async () => {
    await launchAndHandshake(fixture);
    const port = fixture.host.media!.ports.rtsp;
    const teardown = serializeRtspMessage({ kind: "request", method: "TEARDOWN", target: "/", headers: [["CSeq", "9"]], body: "" });
    const notFound = parseRtspMessage(await exchangeOverTcp("127.0.0.1", port, teardown));
    expect(notFound.kind === "response" && notFound.statusCode).toBe(404);
    const junk = parseRtspMessage(await exchangeOverTcp("127.0.0.1", port, Buffer.from("\x00\xffGARBAGE\r\nno colon here\r\n\r\n", "latin1")));
    expect(junk.kind === "response" && junk.statusCode).toBe(400);
    const before = fixture.host.media!.stats.rtsp.dropped;
    await exchangeOverTcp("127.0.0.1", port, new Uint8Array(70 * 1024).fill(0x41)).catch(() => undefined);
    await waitFor(() => fixture.host.media!.stats.rtsp.dropped > before, 2000, "oversize request dropped");
    // Still serving.
    await launchAndHandshake(fixture);
  });
});

describe("SimHost encrypted RTSP (rtspenc://)", () => {
  test("a corever=1 client gets rtspenc:// and completes the handshake; plaintext requests are refused", async () => {
    const fixture = await startSim({ encryptedRtsp: true });
    cleanups.push(() => fixture.close());
    const launched = await launchAndHandshake(fixture);
    expect(launched.sessionUrl).toStartWith("rtspenc://");
    expect(fixture.host.media!.stream).toBeDefined();
    const plain = serializeRtspMessage({ kind: "request", method: "OPTIONS", target: "/", headers: [["CSeq", "1"]], body: "" });
    const reply = await exchangeOverTcp("127.0.0.1", fixture.host.media!.ports.rtsp, plain);
    expect(reply.length).toBe(0); // closed without an answer, like Sunshine
  });
});

describe("SimHost streaming (loop)", () => {
  let fixture: SimFixture;
  beforeAll(async () => {
    fixture = await startSim();
  });
  afterAll(() => fixture.close());

  test("video datagrams depacketize into the loop's access units, the first one an IDR numbered 1", async () => {
    const launched = await launchAndHandshake(fixture);
    const { frames, depacketizer } = await receiveVideo(launched);
    await waitFor(() => frames.length >= 40, 5000, "40 frames");
    const loop = loadVideoLoop("h264");
    expect(frames[0]!.isIdr).toBe(true);
    expect(frames[0]!.frameType).toBe(2);
    expect(frames[0]!.frameNumber).toBe(1);
    for (const [i, frame] of frames.slice(0, 40).entries()) {
      expect(frame.frameNumber).toBe(i + 1);
      expect(matchesWithPadding(frame.data, expectedDecodeUnit("h264", loop.accessUnits[i]!))).toBe(true);
      expect(frame.isIdr).toBe(i % 30 === 0);
    }
    expect(depacketizer.stats.framesLost).toBe(0);
    const stats = fixture.host.media!.stats.video;
    expect(stats.idrsSent.start).toBeGreaterThanOrEqual(1);
    expect(stats.datagramsSent).toBeGreaterThan(stats.framesSent);
  });

  test("frames are paced at the session fps", async () => {
    const launched = await launchAndHandshake(fixture, { fps: 30 });
    const { frames } = await receiveVideo(launched);
    await waitFor(() => frames.length >= 1, 3000, "first frame");
    const start = performance.now();
    const first = frames.length;
    await Bun.sleep(1000);
    const rate = ((frames.length - first) * 1000) / (performance.now() - start);
    expect(rate).toBeGreaterThan(26);
    expect(rate).toBeLessThan(34);
  });

  test("an encrypted IDR request on the control stream makes the next video frame a keyframe", async () => {
    const launched = await launchAndHandshake(fixture);
    const { frames } = await receiveVideo(launched);
    const control = await connectControl(fixture, launched);
    await waitFor(() => frames.length >= 3, 3000, "3 frames");
    const stream = fixture.host.media!.stream!;
    // Ask in the middle of a GOP so that only the request can explain the keyframe.
    await waitFor(() => frames.length % 30 === 5, 3000, "mid-GOP");
    const requested = new Promise<number>((resolve) => stream.control!.once("idrRequest", () => resolve(frames.length)));
    const nextSent = new Promise<{ isIdr: boolean; idrReason: string | undefined; frameIndex: number }>((resolve) =>
      stream.control!.once("idrRequest", () => stream.video.once("frame", (f) => resolve(f))),
    );
    expect(control.requestIdr()).toBe(true);
    await requested;
    const sent = await nextSent;
    expect(sent.isIdr).toBe(true);
    expect(sent.idrReason).toBe("request");
    await waitFor(() => frames.some((f) => f.frameNumber === sent.frameIndex), 2000, "the IDR at the client");
    const received = frames.find((f) => f.frameNumber === sent.frameIndex)!;
    expect(received.isIdr).toBe(true);
    expect(received.frameType).toBe(2);
    expect(fixture.host.media!.stats.video.idrsSent.request).toBeGreaterThanOrEqual(1);
  });

  test("audio datagrams decrypt into the loop's Opus packets", async () => {
    const launched = await launchAndHandshake(fixture);
    expect(launched.rtsp.audioEncrypted).toBe(true);
    const packets: AudioPacket[] = [];
    const audio = new AudioDepacketizer(
      { packetDurationMs: 5, cipher: new AudioCipher(launched.keys.rikey, launched.keys.rikeyId), initialDiscardMs: 0 },
      { onPacket: (p) => packets.push(p) },
    );
    const socket = await PingingSocket.open();
    cleanups.push(() => socket.close());
    socket.onDatagram((d) => audio.push(d, Math.round(performance.now() * 1000)));
    socket.startPinging(launched.rtsp.audio.port, launched.rtsp.audio.pingPayload);
    await waitFor(() => packets.length >= 60, 3000, "60 audio packets");
    const loop = new OpusLoop(5).packets;
    for (const packet of packets.slice(0, 60)) {
      expect(packet.data).not.toBeNull();
      expect(Buffer.compare(packet.data!, loop[packet.sequenceNumber % loop.length]!)).toBe(0);
    }
    expect(audio.stats.decryptFailures).toBe(0);
    expect(fixture.host.media!.stats.audio.datagramsSent).toBeGreaterThan(fixture.host.media!.stats.audio.packetsSent); // FEC packets too
    // Paced every 5 ms: about 200 packets a second.
    const before = packets.length;
    await Bun.sleep(500);
    expect(packets.length - before).toBeGreaterThan(85);
    expect(packets.length - before).toBeLessThan(115);
  });

  test("keyboard, mouse and gamepad input sent through the control stream lands in the input log", async () => {
    const launched = await launchAndHandshake(fixture);
    const control = await connectControl(fixture, launched);
    fixture.host.media!.clearInputLog();
    const seen: string[] = [];
    fixture.host.on("input", (e) => seen.push(e.packet.kind));
    control.sendInput({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: KeyModifier.shift, flags: 0 });
    control.sendInput({ kind: "mouseMoveRelative", deltaX: 5, deltaY: -3 });
    control.sendInput({ kind: "mouseButton", action: "down", button: MouseButton.left });
    control.sendInput({
      kind: "gamepadState",
      controllerNumber: 0,
      activeGamepadMask: 1,
      buttonFlags: GamepadButton.a,
      leftTrigger: 10,
      rightTrigger: 20,
      leftStickX: 1000,
      leftStickY: -1000,
      rightStickX: 0,
      rightStickY: 0,
    });
    await waitFor(() => fixture.host.inputLog.length >= 4, 3000, "4 input events");
    const log = fixture.host.inputLog;
    expect(log.map((e) => e.packet.kind).sort()).toEqual(["gamepadState", "keyboard", "mouseButton", "mouseMoveRelative"]);
    expect(log.find((e) => e.packet.kind === "keyboard")!.packet).toMatchObject({ action: "down", keyCode: 0x41, modifiers: KeyModifier.shift });
    expect(log.find((e) => e.packet.kind === "mouseMoveRelative")!.packet).toMatchObject({ deltaX: 5, deltaY: -3 });
    expect(log.find((e) => e.packet.kind === "gamepadState")!.packet).toMatchObject({ buttonFlags: GamepadButton.a, leftStickY: -1000 });
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(fixture.host.media!.stats.control.inputEvents).toBeGreaterThanOrEqual(4);
  });

  test("rumble on demand reaches the client as a decrypted rumble event", async () => {
    const launched = await launchAndHandshake(fixture);
    const control = await connectControl(fixture, launched);
    await waitFor(() => fixture.host.media!.stream?.control !== undefined, 2000, "control attached");
    const rumble = new Promise<{ lowFrequencyMotor: number }>((resolve) => control.once("rumble", resolve));
    expect(fixture.host.media!.sendRumble(0, 0x1234, 0x5678)).toBe(true);
    expect((await rumble).lowFrequencyMotor).toBe(0x1234);
  });

  test("garbage on every socket is counted, not fatal, and the stream keeps flowing", async () => {
    const launched = await launchAndHandshake(fixture);
    const { frames, socket } = await receiveVideo(launched);
    const control = await connectControl(fixture, launched);
    await waitFor(() => frames.length >= 2, 3000, "frames");
    const media = fixture.host.media!;
    const ports = media.ports;
    const before = structuredClone(media.stats);
    socket.send(Uint8Array.from([1, 2, 3]), ports.video);
    socket.send(new Uint8Array(1500).fill(0xee), ports.audio);
    socket.send(Uint8Array.from([0x8f, 0xff, 0, 0, 0x82, 0xff]), ports.control); // truncated CONNECT
    socket.send(new Uint8Array(40).fill(0x7f), ports.control);
    control.peer.send(0, new Uint8Array(30).fill(0x01)); // not a valid envelope
    control.peer.send(0, Uint8Array.from([1, 0, 28, 0, ...new Array(28).fill(9)])); // marker ok, GCM fails
    await exchangeOverTcp("127.0.0.1", ports.rtsp, Buffer.from("\r\n\r\n")).catch(() => undefined);
    await waitFor(
      () =>
        media.stats.videoPort.malformed > before.videoPort.malformed &&
        media.stats.audioPort.malformed > before.audioPort.malformed &&
        media.stats.enet.malformedDatagrams + media.stats.enet.foreignDatagrams >= before.enet.malformedDatagrams + before.enet.foreignDatagrams + 2 &&
        media.stats.control.decryptFailures >= before.control.decryptFailures + 2,
      3000,
      "garbage counted",
    );
    const count = frames.length;
    await waitFor(() => frames.length > count + 5, 2000, "more frames after the garbage");
    expect(control.connected).toBe(true);
  });

  test("endSession() sends termination 0x80030023, the client reports a graceful end, and RTSP is closed until the next launch", async () => {
    const launched = await launchAndHandshake(fixture);
    const { frames } = await receiveVideo(launched);
    const control = await connectControl(fixture, launched);
    await waitFor(() => frames.length >= 2, 3000, "frames");
    const termination = new Promise<TerminationEvent>((resolve) => control.once("termination", resolve));
    const ended = new Promise<string>((resolve) => fixture.host.media!.once("streamEnded", (e) => resolve(e.reason)));
    expect(fixture.host.endSession()).toBe(true);
    const event = await termination;
    expect(event.errorCode).toBe(TerminationCode.serverTerminatedClosed);
    expect(event.code).toBe(0);
    expect(await ended).toBe("terminated");
    await waitFor(() => !control.connected, 2000, "control closed");
    const count = frames.length;
    await Bun.sleep(150);
    expect(frames.length).toBe(count); // video stopped
    // The launch session was used up by the control connection.
    const request = serializeRtspMessage({ kind: "request", method: "OPTIONS", target: "/", headers: [["CSeq", "1"]], body: "" });
    const reply = parseRtspMessage(await exchangeOverTcp("127.0.0.1", fixture.host.media!.ports.rtsp, request));
    expect(reply.kind === "response" && reply.statusCode).toBe(503);
  });

  test("/cancel ends the stream with a termination message", async () => {
    const launched = await launchAndHandshake(fixture);
    const control = await connectControl(fixture, launched);
    await waitFor(() => fixture.host.media!.stream?.control !== undefined, 2000, "control attached");
    const termination = new Promise<TerminationEvent>((resolve) => control.once("termination", resolve));
    await fixture.client.cancel();
    expect((await termination).code).toBe(0);
    expect(fixture.host.state.runningApp).toBeUndefined();
  });

  test("an ENet connection that matches no stream is disconnected at once", async () => {
    const launched = await launchAndHandshake(fixture);
    const rejectedBefore = fixture.host.media!.stats.control.rejectedConnections;
    const wrong = { ...launched, rtsp: { ...launched.rtsp, control: { ...launched.rtsp.control, connectData: (launched.rtsp.control.connectData! + 1) >>> 0 } } };
    const control = await connectControl(fixture, wrong);
    await waitFor(() => !control.connected, 2000, "disconnect");
    expect(fixture.host.media!.stats.control.rejectedConnections).toBe(rejectedBefore + 1);
  });
});

describe("SimHost stream liveness", () => {
  test("a stream whose client never pings ends after the ping timeout", async () => {
    const fixture = await startSim({ media: { pingTimeoutMs: 300 } });
    cleanups.push(() => fixture.close());
    await launchAndHandshake(fixture);
    const reason = await new Promise<string>((resolve) => fixture.host.media!.once("streamEnded", (e) => resolve(e.reason)));
    expect(reason).toBe("timeout");
  });
});

describe("SimHost flavours and codecs", () => {
  test("a Wolf-flavoured host: legacy control IVs, PING pings matched by address, frames from 0", async () => {
    const fixture = await startSim({ media: { flavor: "wolf" } });
    cleanups.push(() => fixture.close());
    const launched = await launchAndHandshake(fixture);
    expect(launched.rtsp.controlIvScheme).toBe("legacy");
    expect(launched.rtsp.video.pingPayload).toBeUndefined();
    expect(launched.rtsp.control.connectData).toBeUndefined();
    const { frames } = await receiveVideo(launched);
    const control = await connectControl(fixture, launched);
    await waitFor(() => frames.length >= 2, 3000, "frames");
    expect(frames[0]!.frameNumber).toBe(0);
    expect(frames[0]!.isIdr).toBe(true);
    control.sendInput({ kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 });
    await waitFor(() => fixture.host.inputLog.length >= 1, 2000, "input over legacy IVs");
    expect(fixture.host.media!.stats.control.decryptFailures).toBe(0);
  });

  test("Wolf flavour: the first frame is 0, and an IDR request during the stream is answered on the next frame", async () => {
    const fixture = await startSim({ media: { flavor: "wolf" } });
    cleanups.push(() => fixture.close());
    const launched = await launchAndHandshake(fixture);
    const stream = fixture.host.media!.stream!;
    const sent: SentVideoFrame[] = [];
    stream.video.on("frame", (frame) => sent.push(frame));
    const { frames } = await receiveVideo(launched);
    const control = await connectControl(fixture, launched);
    await waitFor(() => stream.control !== undefined && frames.length >= 5, 3000, "control and frames");
    expect(sent[0]).toMatchObject({ frameIndex: 0, isIdr: true, idrReason: "start" });
    expect(frames[0]!.frameNumber).toBe(0);
    // Ask away from the loop's own keyframes (every 30 frames), so only the request can explain an IDR.
    await waitFor(() => sent.length > 0 && sent.at(-1)!.loopIndex % 30 >= 5 && sent.at(-1)!.loopIndex % 30 < 20, 3000, "mid-GOP");
    let mark = -1;
    const requestIdrs = fixture.host.media!.stats.video.idrsSent.request; // Start A may have been one
    // The sim's own idrRequest handler ran first (attachControl): the next frame sent is the answer.
    stream.control!.once("idrRequest", () => (mark = sent.length));
    expect(control.requestIdr()).toBe(true);
    await waitFor(() => mark >= 0 && sent.length > mark, 3000, "the frame after the IDR request");
    const answer = sent[mark]!;
    expect(answer).toMatchObject({ isIdr: true, idrReason: "request" });
    expect(answer.frameIndex).toBe(sent[mark - 1]!.frameIndex + 1);
    await waitFor(() => frames.some((f) => f.frameNumber === answer.frameIndex), 2000, "the IDR at the client");
    expect(frames.find((f) => f.frameNumber === answer.frameIndex)!.isIdr).toBe(true);
    expect(fixture.host.media!.stats.video.idrsSent.request).toBe(requestIdrs + 1);
  });

  for (const [channels, bitrateKbps, streams, coupled] of [
    [6, 10000, 4, 2],
    [8, 10000, 5, 3],
    [6, 20000, 6, 0],
    [8, 20000, 8, 0],
  ] as const) {
    const quality = bitrateKbps >= 15000 ? "high" : "normal";
    test(`${channels} channels, ${quality} quality: Opus multistream packets of ${streams} streams / ${coupled} coupled, as the DESCRIBE reply told the client`, async () => {
      const fixture = await startSim();
      cleanups.push(() => fixture.close());
      const launched = await launchAndHandshake(fixture, { audioChannels: channels, bitrateKbps });
      expect(launched.rtsp.highQualitySurround).toBe(quality === "high");
      const stream = fixture.host.media!.stream!;
      expect(stream.config).toMatchObject({ audioChannels: channels, highQualityAudio: quality === "high" });
      expect(stream.audio.layout).toEqual({ streams, coupled });
      const packets: AudioPacket[] = [];
      const audio = new AudioDepacketizer(
        { packetDurationMs: 5, cipher: new AudioCipher(launched.keys.rikey, launched.keys.rikeyId), initialDiscardMs: 0 },
        { onPacket: (p) => packets.push(p) },
      );
      const socket = await PingingSocket.open();
      cleanups.push(() => socket.close());
      socket.onDatagram((d) => audio.push(d, Math.round(performance.now() * 1000)));
      socket.startPinging(launched.rtsp.audio.port, launched.rtsp.audio.pingPayload);
      await waitFor(() => packets.length >= 20, 3000, "20 audio packets");
      const loop = new OpusLoop(5, { streams, coupled }).packets;
      for (const packet of packets.slice(0, 20)) {
        expect(Buffer.compare(packet.data!, loop[packet.sequenceNumber % loop.length]!)).toBe(0);
      }
      expect(fixture.host.media!.stats.audio.datagramsSent).toBeGreaterThan(fixture.host.media!.stats.audio.packetsSent); // FEC still on
    });
  }

  test("HEVC is offered only when the host advertises it, and then streams the HEVC loop", async () => {
    const fixture = await startSim({ codecModeSupport: SCM.H264 | SCM.HEVC, maxLumaPixelsHevc: 1920 * 1080 });
    cleanups.push(() => fixture.close());
    const { VideoFormat } = await import("../../src/moonlight/rtsp/announce-sdp.ts");
    const launched = await launchAndHandshake(fixture, { videoFormats: VideoFormat.h264 | VideoFormat.h265 });
    expect(launched.rtsp.describe.hevcSupported).toBe(true);
    expect(fixture.host.media!.stream!.config.codec).toBe("hevc");
    const { frames } = await receiveVideo(launched, "hevc");
    await waitFor(() => frames.length >= 3, 3000, "HEVC frames");
    const loop = loadVideoLoop("hevc");
    expect(frames[0]!.isIdr).toBe(true);
    for (const [i, frame] of frames.slice(0, 3).entries()) {
      expect(matchesWithPadding(frame.data, expectedDecodeUnit("hevc", loop.accessUnits[i]!))).toBe(true);
    }
  });

  test("with video encryption offered and chosen, every datagram is AES-GCM sealed and decrypts into the loop", async () => {
    const fixture = await startSim({ media: { videoEncryption: "supported" } });
    cleanups.push(() => fixture.close());
    const launched = await launchAndHandshake(fixture, { encryptVideo: true });
    expect(launched.rtsp.encryptionEnabled & EncryptionFeature.video).toBe(EncryptionFeature.video);
    expect(fixture.host.media!.stream!.config).toMatchObject({ videoEncrypted: true, packetSize: 1392 - 32 });
    const { frames, socket, depacketizer } = await receiveVideo(launched, "h264", new VideoCipher(launched.keys.rikey));
    await waitFor(() => frames.length >= 3, 3000, "encrypted frames");
    expect(socket.received[0]!.length).toBe(1392 + 16); // (S − 32) + 16 + 32-byte prefix
    const loop = loadVideoLoop("h264");
    expect(matchesWithPadding(frames[0]!.data, expectedDecodeUnit("h264", loop.accessUnits[0]!))).toBe(true);
    expect(depacketizer.stats.decryptFailures).toBe(0);
  });
});
