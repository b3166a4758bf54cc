/**
 * One UDP media port of the simulated host (video 47998 or audio 48000 on a real host): it hears
 * the client's pings and sends the media datagrams back to where they came from (§5.1, §6.1).
 *
 * Pings are the only thing a client sends here:
 *   - legacy:  the 4 ASCII bytes "PING" (matched to a session by source IP);
 *   - SS_PING: 16 ASCII bytes of X-SS-Ping-Payload ‖ u32be sequence (matched by the payload).
 * Anything else is counted as malformed and dropped; the port never throws on network input.
 */
import dgram from "node:dgram";
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";

const log = logger("sim-udp");

const LEGACY_PING = Uint8Array.from([0x50, 0x49, 0x4e, 0x47]); // "PING"
const SS_PING_PAYLOAD_LENGTH = 16;
const SS_PING_LENGTH = SS_PING_PAYLOAD_LENGTH + 4;
/** Sunshine reads at most this much of a ping datagram; anything bigger is not a ping. */
const MAX_PING_LENGTH = 64;

export interface UdpEndpoint {
  address: string;
  port: number;
}

export type SimPing =
  | ({ kind: "legacy" } & UdpEndpoint)
  | ({ kind: "ss"; payload: string; sequence: number } & UdpEndpoint);

export interface SimUdpPortEvents {
  ping: [ping: SimPing];
}

export interface SimUdpPortStats {
  datagramsReceived: number;
  pings: number;
  /** Neither kind of ping. */
  malformed: number;
  datagramsSent: number;
  bytesSent: number;
  sendErrors: number;
}

/** Parses a ping datagram, or returns undefined. */
export function parsePing(datagram: Uint8Array, from: UdpEndpoint): SimPing | undefined {
  if (datagram.length === LEGACY_PING.length && LEGACY_PING.every((b, i) => datagram[i] === b)) return { kind: "legacy", ...from };
  if (datagram.length < SS_PING_LENGTH || datagram.length > MAX_PING_LENGTH) return undefined;
  for (let i = 0; i < SS_PING_PAYLOAD_LENGTH; i++) {
    const c = datagram[i]!;
    if (c < 0x21 || c > 0x7e) return undefined; // X-SS-Ping-Payload is printable ASCII (hex)
  }
  const payload = Buffer.from(datagram.subarray(0, SS_PING_PAYLOAD_LENGTH)).toString("latin1");
  const sequence = ((datagram[16]! << 24) | (datagram[17]! << 16) | (datagram[18]! << 8) | datagram[19]!) >>> 0;
  return { kind: "ss", payload, sequence, ...from };
}

/** "::ffff:127.0.0.1" → "127.0.0.1", so IPv4 clients of a dual-stack socket compare equal. */
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

export class SimUdpPort extends EventEmitter<SimUdpPortEvents> {
  readonly label: string;
  readonly stats: SimUdpPortStats = { datagramsReceived: 0, pings: 0, malformed: 0, datagramsSent: 0, bytesSent: 0, sendErrors: 0 };
  readonly #socket: dgram.Socket;
  #closing: Promise<void> | undefined;
  /** A second receiver of everything sent (the ingest bench's floor receiver); not counted in stats. */
  mirror: UdpEndpoint | undefined;

  private constructor(name: string, socket: dgram.Socket) {
    super();
    this.label = name;
    this.#socket = socket;
    socket.on("message", (msg, rinfo) => this.#onMessage(msg, rinfo));
    socket.on("error", (error) => log.warn(`${name} socket error: ${error.message}`));
  }

  static async open(name: string, address: string, port: number): Promise<SimUdpPort> {
    const socket = dgram.createSocket({ type: address.includes(":") ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    // Video bursts a whole frame at once; give the kernel room for it.
    try {
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // not fatal: the default buffer is enough on loopback for the loop's frame sizes
    }
    return new SimUdpPort(name, socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  send(datagram: Uint8Array, to: UdpEndpoint): void {
    if (this.#closing) return;
    this.stats.datagramsSent++;
    this.stats.bytesSent += datagram.length;
    try {
      this.#socket.send(datagram, to.port, to.address, (error) => {
        if (error) this.stats.sendErrors++;
      });
      if (this.mirror) this.#socket.send(datagram, this.mirror.port, this.mirror.address);
    } catch {
      this.stats.sendErrors++;
    }
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.#closing;
  }

  #onMessage(msg: Uint8Array, rinfo: dgram.RemoteInfo): void {
    if (this.#closing) return;
    this.stats.datagramsReceived++;
    const ping = parsePing(msg, { address: normalizeAddress(rinfo.address), port: rinfo.port });
    if (ping === undefined) {
      this.stats.malformed++;
      return;
    }
    this.stats.pings++;
    try {
      this.emit("ping", ping);
    } catch (error) {
      log.error(`${this.label} ping listener threw`, error);
    }
  }
}
