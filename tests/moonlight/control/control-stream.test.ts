import { afterEach, describe, expect, test } from "bun:test";
import { EnetHost } from "../../../src/moonlight/control/enet/host.ts";
import type { EnetPeer } from "../../../src/moonlight/control/enet/peer.ts";
import { ControlCipher, type ControlIvScheme } from "../../../src/moonlight/control/control-crypto.ts";
import { parseControlMessage, serializeControlMessage, type ControlMessage } from "../../../src/moonlight/control/control-messages.ts";
import { ControlStream, type TerminationEvent } from "../../../src/moonlight/control/control-stream.ts";
import { parseInputPacket } from "../../../src/moonlight/input/input.ts";

const KEY = Uint8Array.from(Buffer.from("90e3fc2acb69cb5e44ae612ced7c529f", "hex"));

interface Arrival {
  channel: number;
  seq: number;
  message: ControlMessage;
  at: number;
}

/** A minimal control-port host: accepts one ENet peer, decrypts and logs what arrives. */
async function startTestHost(scheme: ControlIvScheme) {
  const enet = await EnetHost.create({ acceptIncoming: true, peerLimit: 2 });
  const host = new ControlCipher({ key: KEY, scheme, side: "host" });
  const arrivals: Arrival[] = [];
  let connectData = -1;
  const peer = new Promise<EnetPeer>((resolve) =>
    enet.on("connect", (p, data) => {
      connectData = data;
      p.on("receive", (channel, bytes) => {
        const { seq, type, payload } = host.open(bytes);
        arrivals.push({ channel, seq, message: parseControlMessage(type, payload, "client-to-host"), at: Date.now() });
      });
      resolve(p);
    }),
  );
  const send = async (message: ControlMessage) => {
    const { type, payload } = serializeControlMessage(message);
    (await peer).send(0, host.seal(type, payload));
  };
  return { enet, arrivals, peer, send, connectData: () => connectData };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()));
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

async function connectPair(scheme: ControlIvScheme = "v2") {
  const testHost = await startTestHost(scheme);
  cleanups.push(() => testHost.enet.close());
  const stream = await ControlStream.connect({
    address: "127.0.0.1",
    port: testHost.enet.localAddress.port,
    connectData: 0xbb40e64d,
    key: KEY,
    ivScheme: scheme,
  });
  cleanups.push(() => stream.close());
  return { testHost, stream };
}

describe("ControlStream against a loopback ENet host", () => {
  for (const scheme of ["v2", "legacy"] as const) {
    test(`sends Start A, Start B, then periodic pings every 100 ms (${scheme} IVs)`, async () => {
      const { testHost } = await connectPair(scheme);
      await testHost.peer;
      expect(testHost.connectData()).toBe(0xbb40e64d);
      await until(() => testHost.arrivals.length >= 7);
      const [a, b, ...pings] = testHost.arrivals;
      expect(a).toMatchObject({ channel: 0, seq: 0, message: { kind: "requestIdr" } });
      expect(b).toMatchObject({ channel: 0, seq: 1, message: { kind: "startB" } });
      expect(pings.every((p) => p.channel === 0 && p.message.kind === "periodicPing")).toBe(true);
      const gaps = pings.slice(1).map((p, i) => p.at - pings[i]!.at);
      const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
      expect(mean).toBeGreaterThan(60);
      expect(mean).toBeLessThan(160);
    });
  }

  test("IDR requests and RFI travel on the urgent channel 1", async () => {
    const { testHost, stream } = await connectPair();
    expect(stream.requestIdr()).toBe(true);
    expect(stream.invalidateReferenceFrames(100, 104)).toBe(true);
    await until(() => testHost.arrivals.some((a) => a.message.kind === "invalidateReferenceFrames"));
    const urgent = testHost.arrivals.filter((a) => a.channel === 1);
    expect(urgent.map((a) => a.message)).toEqual([
      { kind: "requestIdr" },
      { kind: "invalidateReferenceFrames", firstFrameIndex: 100, lastFrameIndex: 104 },
    ]);
  });

  test("input packets arrive encrypted, on their channels, and parse back on the host", async () => {
    const { testHost, stream } = await connectPair("legacy");
    stream.sendInput({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 });
    stream.sendInput({ kind: "mouseMoveRelative", deltaX: 5, deltaY: -3 });
    stream.sendInput({ kind: "gamepadState", controllerNumber: 1, activeGamepadMask: 2, buttonFlags: 0x1000, leftTrigger: 0, rightTrigger: 0, leftStickX: 0, leftStickY: 0, rightStickX: 0, rightStickY: 0 });
    stream.sendInput({ kind: "touch", eventType: 3, rotation: 0, pointerId: 1, x: 0.5, y: 0.5, pressureOrDistance: 0, contactAreaMajor: 0, contactAreaMinor: 0 });
    stream.sendInput({ kind: "utf8Text", text: "a much longer piece of text than one scratch buffer would hold, on purpose" });
    await until(() => testHost.arrivals.filter((a) => a.message.kind === "input").length === 5);
    const inputs = testHost.arrivals.flatMap((a) => (a.message.kind === "input" ? [{ channel: a.channel, packet: parseInputPacket(a.message.packet) }] : []));
    expect(inputs.map((i) => [i.channel, i.packet.kind])).toEqual([
      [2, "keyboard"],
      [3, "mouseMoveRelative"],
      [0x11, "gamepadState"],
      [5, "touch"],
      [6, "utf8Text"],
    ]);
    expect(inputs[1]!.packet).toEqual({ kind: "mouseMoveRelative", deltaX: 5, deltaY: -3 });
  });

  test("a termination message becomes a termination event with its reason and ends the stream", async () => {
    const { testHost, stream } = await connectPair();
    const termination = new Promise<TerminationEvent>((resolve) => stream.once("termination", resolve));
    const closed = new Promise<{ reason: string }>((resolve) => stream.once("closed", resolve));
    const hostPeer = await testHost.peer;
    const hostSawDisconnect = new Promise((resolve) => hostPeer.once("disconnect", resolve));
    await testHost.send({ kind: "termination", errorCode: 0x80030023, extended: true });
    expect(await termination).toEqual({ code: 0, errorCode: 0x80030023, reason: "host ended the session" });
    expect((await closed).reason).toBe("terminated");
    await hostSawDisconnect;
    expect(stream.connected).toBe(false);
    expect(stream.requestIdr()).toBe(false);
  });

  test("host rumble and HDR messages become typed events; forged messages are counted and dropped", async () => {
    const { testHost, stream } = await connectPair();
    const rumble = new Promise((resolve) => stream.once("rumble", resolve));
    const hdr = new Promise((resolve) => stream.once("hdrMode", resolve));
    (await testHost.peer).send(0, Uint8Array.from([0x01, 0x00, 0x1c, 0x00, ...new Uint8Array(28)]));
    await testHost.send({ kind: "rumble", controllerNumber: 0, lowFrequencyMotor: 0x8000, highFrequencyMotor: 0x4000 });
    await testHost.send({ kind: "hdrMode", enabled: false, metadata: undefined });
    expect(await rumble).toEqual({ kind: "rumble", controllerNumber: 0, lowFrequencyMotor: 0x8000, highFrequencyMotor: 0x4000 });
    expect(await hdr).toEqual({ kind: "hdrMode", enabled: false, metadata: undefined });
    expect(stream.stats.decryptFailures).toBe(1);
    expect(stream.stats.messagesReceived).toBe(2);
  });

  test("close() disconnects gracefully, is idempotent, and stops all traffic", async () => {
    const { testHost, stream } = await connectPair();
    const hostPeer = await testHost.peer;
    const hostSaw = new Promise<{ reason: string }>((resolve) => hostPeer.once("disconnect", resolve));
    const closedEvents: unknown[] = [];
    stream.on("closed", (info) => closedEvents.push(info));
    const first = stream.close();
    expect(stream.close()).toBe(first);
    await first;
    expect((await hostSaw).reason).toBe("remote");
    expect(closedEvents).toEqual([{ reason: "local" }]);
    const count = testHost.arrivals.length;
    await Bun.sleep(250);
    expect(testHost.arrivals.length).toBe(count);
    expect(stream.sendInput({ kind: "enableHaptics" })).toBe(false);
  });

  test("a host that stops answering ends the stream by ENet timeout", async () => {
    let blackhole = false;
    const enet = await EnetHost.create({ acceptIncoming: true, dropIncoming: () => blackhole });
    cleanups.push(() => enet.close());
    const stream = await ControlStream.connect({
      address: "127.0.0.1",
      port: enet.localAddress.port,
      key: KEY,
      ivScheme: "v2",
      peerTimeouts: { limit: 2, minimumMs: 300, maximumMs: 600 },
    });
    cleanups.push(() => stream.close());
    const closed = new Promise<{ reason: string }>((resolve) => stream.once("closed", resolve));
    blackhole = true;
    expect((await closed).reason).toBe("timeout");
  });
});
