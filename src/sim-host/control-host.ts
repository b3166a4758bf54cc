/**
 * The simulated host's control stream (§3, §4): an ENet server on the control port, and one
 * `SimControlConnection` per client that the media host matched to a streaming session.
 *
 * A connection opens every client message with the session's rikey (V2 or legacy IVs, as the
 * ANNOUNCE negotiated) and turns it into typed events: Start A/B, periodic pings, IDR requests,
 * reference-frame invalidation, loss/FEC statistics, and input (0x0206, decoded with
 * parseInputPacket). It seals host→client messages (termination, rumble, …) with its own counter.
 *
 * Unlike Sunshine, which ends the session on a GCM failure, the sim counts undecryptable,
 * plaintext and undecodable messages and drops them (§9.4): tests send garbage on purpose.
 */
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import { ControlCipher, type ControlIvScheme } from "../moonlight/control/control-crypto.ts";
import {
  ControlChannel,
  TerminationCode,
  serializeControlMessage,
  type ControlMessage,
} from "../moonlight/control/control-messages.ts";
import { EnetHost } from "../moonlight/control/enet/host.ts";
import type { DisconnectInfo, EnetPeer } from "../moonlight/control/enet/peer.ts";
import { InputPacketFormatError, parseInputPacket, type InputPacket } from "../moonlight/input/input.ts";
import { normalizeAddress } from "./udp-port.ts";

const log = logger("sim-control");

export interface SimControlStats {
  /** ENet connections accepted and matched to a session. */
  connections: number;
  /** ENet connections that matched no session (disconnected at once, as Sunshine does). */
  rejectedConnections: number;
  messagesReceived: number;
  /** Not encrypted, wrong length, or failed GCM authentication. */
  decryptFailures: number;
  /** Decrypted, but a known type with a payload too short for it. */
  malformedMessages: number;
  /** Types the sim does not know. */
  unknownMessages: number;
  inputEvents: number;
  /** 0x0206 messages whose input packet did not parse. */
  malformedInput: number;
  messagesSent: number;
}

export function createControlStats(): SimControlStats {
  return {
    connections: 0,
    rejectedConnections: 0,
    messagesReceived: 0,
    decryptFailures: 0,
    malformedMessages: 0,
    unknownMessages: 0,
    inputEvents: 0,
    malformedInput: 0,
    messagesSent: 0,
  };
}

export interface SimInputEvent {
  /** Date.now() when the host received it. */
  at: number;
  packet: InputPacket;
  /** ENet channel it arrived on. */
  channel: number;
}

export interface SimControlConnectionEvents {
  /** Start A (the first 0x0302 on channel 0). */
  startA: [];
  startB: [];
  periodicPing: [];
  /** 0x0302 after Start A: the client wants a keyframe. */
  idrRequest: [];
  invalidateReferenceFrames: [range: { firstFrameIndex: number; lastFrameIndex: number }];
  input: [event: SimInputEvent];
  /** Every decoded client message. */
  message: [message: ControlMessage, channel: number];
  /** The ENet connection is gone (client left, timeout, or we ended it). */
  disconnect: [info: DisconnectInfo];
}

export class SimControlConnection extends EventEmitter<SimControlConnectionEvents> {
  readonly peer: EnetPeer;
  readonly #cipher: ControlCipher;
  readonly #stats: SimControlStats;
  #startASeen = false;
  #lastReceiveAt = performance.now();
  #ended = false;

  constructor(peer: EnetPeer, options: { key: Uint8Array; ivScheme: ControlIvScheme; stats: SimControlStats }) {
    super();
    this.peer = peer;
    this.#cipher = new ControlCipher({ key: options.key, scheme: options.ivScheme, side: "host" });
    this.#stats = options.stats;
    peer.on("receive", (channel, data) => this.#onReceive(channel, data));
    peer.on("disconnect", (info) => {
      this.#ended = true;
      this.#emitSafely("disconnect", info);
    });
  }

  get ivScheme(): ControlIvScheme {
    return this.#cipher.scheme;
  }

  get connected(): boolean {
    return !this.#ended && this.peer.state === "connected";
  }

  /** performance.now() of the last authenticated client message (Sunshine's liveness check). */
  get lastReceiveAt(): number {
    return this.#lastReceiveAt;
  }

  /** Seals and sends one host→client message, reliable on channel 0 like Sunshine. */
  send(message: ControlMessage): boolean {
    if (!this.connected) return false;
    const { type, payload } = serializeControlMessage(message);
    const sent = this.peer.send(ControlChannel.generic, this.#cipher.seal(type, payload), "reliable");
    if (sent) this.#stats.messagesSent++;
    return sent;
  }

  /**
   * Sends the termination message, then disconnects once it has been acknowledged (or after
   * `lingerMs`): an immediate DISCONNECT would overtake the queued termination.
   */
  terminate(errorCode: number = TerminationCode.serverTerminatedClosed, lingerMs = 1000): void {
    if (!this.connected) return;
    this.send({ kind: "termination", errorCode, extended: true });
    this.peer.disconnect(0, lingerMs);
  }

  /** Drops the connection without a termination message. */
  disconnectNow(): void {
    if (this.peer.state !== "disconnected") this.peer.disconnectNow();
  }

  #onReceive(channel: number, data: Uint8Array): void {
    const received = this.#cipher.receive(data);
    if ("dropped" in received) {
      if (received.dropped === "undecryptable") {
        this.#stats.decryptFailures++;
        log.debug(`control: dropped a client message (${received.detail})`);
      } else this.#stats.malformedMessages++;
      return;
    }
    const { message } = received;
    this.#lastReceiveAt = performance.now();
    this.#stats.messagesReceived++;
    this.#emitSafely("message", message, channel);
    switch (message.kind) {
      case "requestIdr":
        // Sunshine-gen clients send Start A as 0x0302 too; both mean "make a keyframe".
        if (!this.#startASeen && channel === ControlChannel.generic) {
          this.#startASeen = true;
          this.#emitSafely("startA");
        } else {
          this.#emitSafely("idrRequest");
        }
        return;
      case "startB":
        this.#emitSafely("startB");
        return;
      case "periodicPing":
        this.#emitSafely("periodicPing");
        return;
      case "invalidateReferenceFrames":
        this.#emitSafely("invalidateReferenceFrames", { firstFrameIndex: message.firstFrameIndex, lastFrameIndex: message.lastFrameIndex });
        return;
      case "input": {
        let packet: InputPacket;
        try {
          packet = parseInputPacket(message.packet);
        } catch (error) {
          if (!(error instanceof InputPacketFormatError)) throw error;
          this.#stats.malformedInput++;
          return;
        }
        this.#stats.inputEvents++;
        this.#emitSafely("input", { at: Date.now(), packet, channel });
        return;
      }
      case "unknown":
        this.#stats.unknownMessages++;
        log.debug(`control: unknown client message type 0x${message.type.toString(16)}`);
        return;
      default:
        // loss stats, FEC status, LTR ACKs: logged by Sunshine, nothing to do here.
        if (message.kind === "lossStats") log.debug("control: loss stats");
        return;
    }
  }

  #emitSafely<K extends keyof SimControlConnectionEvents>(event: K, ...args: SimControlConnectionEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: SimControlConnectionEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      log.error(`control ${String(event)} listener threw`, error);
    }
  }
}

export interface SimControlHostEvents {
  /** A client completed the ENet handshake; `data` is its CONNECT data word (X-SS-Connect-Data). */
  connect: [peer: EnetPeer, info: { data: number; address: string; port: number }];
}

/** The ENet server on the control port. */
export class SimControlHost extends EventEmitter<SimControlHostEvents> {
  readonly #enet: EnetHost;

  private constructor(enet: EnetHost) {
    super();
    this.#enet = enet;
    enet.on("connect", (peer, data) => {
      try {
        this.emit("connect", peer, { data, address: normalizeAddress(peer.address), port: peer.port });
      } catch (error) {
        log.error("control connect listener threw", error);
        peer.disconnectNow();
      }
    });
  }

  static async listen(address: string, port: number): Promise<SimControlHost> {
    // A few peers: a reconnecting client may overlap its old connection for a moment.
    return new SimControlHost(await EnetHost.create({ address, port, acceptIncoming: true, peerLimit: 8, channelLimit: 255 }));
  }

  get port(): number {
    return this.#enet.localAddress.port;
  }

  /** Datagram-level counters (malformed, foreign, …) of the ENet socket. */
  get enetStats(): EnetHost["stats"] {
    return this.#enet.stats;
  }

  /** Disconnects every peer and closes the socket. Idempotent. */
  close(): Promise<void> {
    return this.#enet.close();
  }
}
