/**
 * Test support for the simulated host's media half: a started SimHost with a pre-paired client,
 * /launch through our NvHttpClient, the RTSP handshake through our RTSP client, and UDP sockets
 * that ping the host's media ports and collect what comes back.
 */
import dgram from "node:dgram";
import { VideoFormat } from "../../src/moonlight/rtsp/announce-sdp.ts";
import { createClientIdentity, type ClientIdentity } from "../../src/moonlight/http/identity.ts";
import { createSessionKeys, type SessionKeys } from "../../src/moonlight/http/launch.ts";
import { findStartCode, isAccessUnitDelimiter, isSei, nalTypeAt, nextNal, type VideoCodec } from "../../src/moonlight/video/nal.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { performRtspHandshake, type RtspHandshakeResult, type RtspStreamSettings } from "../../src/moonlight/rtsp/rtsp-client.ts";
import { SimHost, type SimHostOptions } from "../../src/sim-host/sim-host.ts";

let sharedIdentity: ClientIdentity | undefined;
/** RSA key generation is slow: one client identity for all media tests. */
export function testIdentity(): ClientIdentity {
  sharedIdentity ??= createClientIdentity();
  return sharedIdentity;
}

export interface SimFixture {
  host: SimHost;
  client: NvHttpClient;
  close(): Promise<void>;
}

export async function startSim(options: SimHostOptions = {}): Promise<SimFixture> {
  const identity = testIdentity();
  const host = new SimHost({ pin: "1234", ...options, pairedClients: [{ uniqueId: identity.uniqueId, certPem: identity.certPem }] });
  const ports = await host.start();
  const client = new NvHttpClient({
    address: options.bindAddress ?? "127.0.0.1",
    httpPort: ports.httpPort,
    httpsPort: ports.httpsPort,
    identity,
    serverCertPem: host.identity.certPem,
    timeoutMs: 5000,
  });
  return { host, client, close: () => host.close() };
}

export const defaultSettings: RtspStreamSettings = {
  width: 1280,
  height: 720,
  fps: 60,
  bitrateKbps: 10000,
  packetSize: 1392,
  audioChannels: 2,
  videoFormats: VideoFormat.h264,
  encryptAudio: true,
};

export interface LaunchedStream {
  keys: SessionKeys;
  sessionUrl: string;
  rtsp: RtspHandshakeResult;
}

/** /launch (or /resume when an app runs) then the whole RTSP handshake. */
export async function launchAndHandshake(fixture: SimFixture, settings: Partial<RtspStreamSettings> = {}): Promise<LaunchedStream> {
  const keys = createSessionKeys();
  const full = { ...defaultSettings, ...settings };
  const launchOptions = { appId: fixture.host.apps[0]!.id, width: full.width, height: full.height, fps: full.fps, keys };
  const launched = fixture.host.state.runningApp ? await fixture.client.resume(launchOptions) : await fixture.client.launch(launchOptions);
  const rtsp = await performRtspHandshake({
    address: "127.0.0.1",
    sessionUrl: launched.sessionUrl,
    key: keys.rikey,
    settings: full,
    connectTimeoutMs: 3000,
    responseTimeoutMs: 3000,
  });
  return { keys, sessionUrl: launched.sessionUrl, rtsp };
}

/** A client-side UDP socket: pings a host port and collects the datagrams that come back. */
export class PingingSocket {
  readonly received: Uint8Array[] = [];
  readonly #socket: dgram.Socket;
  #listeners: ((d: Uint8Array) => void)[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #sequence = 0;

  private constructor(socket: dgram.Socket) {
    this.#socket = socket;
    socket.on("message", (msg) => {
      const datagram = new Uint8Array(msg);
      this.received.push(datagram);
      for (const listener of this.#listeners) listener(datagram);
    });
  }

  static async open(): Promise<PingingSocket> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    return new PingingSocket(socket);
  }

  onDatagram(listener: (d: Uint8Array) => void): void {
    this.#listeners.push(listener);
  }

  send(bytes: Uint8Array | string, port: number): void {
    this.#socket.send(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes, port, "127.0.0.1");
  }

  /** Sends a 20-byte SS ping (payload ‖ u32be sequence), or "PING" without a payload; every 500 ms. */
  startPinging(port: number, payload: string | undefined): void {
    const ping = () => {
      if (payload === undefined) return this.send("PING", port);
      const bytes = Buffer.alloc(20);
      bytes.write(payload, 0, "latin1");
      bytes.writeUInt32BE(++this.#sequence, 16);
      this.send(bytes, port);
    };
    ping();
    this.#timer = setInterval(ping, 500);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#socket.close();
  }
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** What the client's depacketizer hands on for an access unit: AUD and SEI NAL units dropped. */
export function expectedDecodeUnit(codec: VideoCodec, au: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let pos = findStartCode(au, 0, au.length); pos < au.length; ) {
    const type = nalTypeAt(codec, au, pos, au.length);
    const next = nextNal(au, pos, au.length);
    if (!isAccessUnitDelimiter(codec, type) && !isSei(codec, type)) parts.push(au.subarray(pos, next));
    pos = next;
  }
  return Buffer.concat(parts);
}

/** True if `data` is `expected` followed only by zero bytes (the padding of the last datagram). */
export function matchesWithPadding(data: Uint8Array, expected: Uint8Array): boolean {
  if (data.length < expected.length) return false;
  if (Buffer.compare(data.subarray(0, expected.length), expected) !== 0) return false;
  for (let i = expected.length; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}
