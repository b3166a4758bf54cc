/**
 * Plane: control (this folder). Owns UDP 47999: an ENet connection (enet/: protocol, peer, host)
 * carrying control messages (control-messages.ts) sealed by control-crypto.ts — keyframe
 * requests, loss statistics, pings, HDR, rumble, termination — and the input packets of ../input.
 *
 * Client side of the Sunshine-gen control stream (reference §4.4): ENet connect to the control
 * port with the RTSP connect data, Start A then Start B, a periodic ping every 100 ms, IDR and
 * reference-frame-invalidation requests on the urgent channel, input packets on their channels,
 * and decoding of host messages (termination, rumble, HDR, …) into typed events.
 *
 * Every message is AES-GCM sealed (control-crypto.ts). Host messages that fail authentication or
 * decoding are counted and dropped, never thrown.
 */
import { EventEmitter } from "node:events";
import { logger } from "../../core/log.ts";
import { ControlCipher, type ControlIvScheme } from "./control-crypto.ts";
import {
  CONTROL_CHANNEL_COUNT,
  ControlChannel,
  ControlMessageType,
  channelForMessage,
  serializeControlMessage,
  terminationReason,
  type ControlMessage,
  type FecStatus,
} from "./control-messages.ts";
import { EnetHost, type EnetHostOptions } from "./enet/host.ts";
import type { DisconnectReason, EnetPeer, PeerTimeouts, SendMode } from "./enet/peer.ts";
import { inputChannel, inputIsReliable, inputPacketLength, writeInputPacket, type InputPacket } from "../input/input.ts";

const log = logger("control");

export interface ControlStreamOptions {
  /** Host address (from the RTSP session) and control port (SETUP control reply, default 47999). */
  address: string;
  port: number;
  /** `X-SS-Connect-Data` from the control SETUP reply; 0 when the host sent none. */
  connectData?: number;
  /** rikey from /launch. */
  key: Uint8Array;
  /** "v2" when we enabled SS_ENC_CONTROL_V2 (host advertised encryptionSupported bit 0x01), else "legacy". */
  ivScheme: ControlIvScheme;
  /** Periodic ping period; Moonlight uses 100 ms. */
  pingIntervalMs?: number;
  /** How long to wait for VERIFY_CONNECT; Moonlight uses 10 s. */
  connectTimeoutMs?: number;
  /** ENet peer timeout once connected; Moonlight sets limit 2, 10 s, 10 s. */
  peerTimeouts?: PeerTimeouts;
  /** How long close() waits for the DISCONNECT to be acknowledged; Moonlight lingers 2 s. */
  disconnectLingerMs?: number;
  /** Local bind address; defaults to loopback for IPv4 hosts, ::1 for IPv6. */
  localAddress?: string;
  /** Loss-injection and timing hooks passed to the ENet host (tests). */
  enet?: Pick<EnetHostOptions, "dropOutgoing" | "dropIncoming" | "serviceIntervalMs">;
}

export interface TerminationEvent {
  /** Moonlight's client error code: 0 graceful, −103, −104, or the host's code unchanged. */
  code: number;
  /** The HRESULT (or legacy 16-bit reason) the host sent. */
  errorCode: number;
  reason: string;
}

export type ControlStreamEndReason = DisconnectReason | "terminated";

export interface ControlStreamEvents {
  /** The host ended the session with a termination message; the stream closes right after. */
  termination: [event: TerminationEvent];
  rumble: [event: Extract<ControlMessage, { kind: "rumble" }>];
  rumbleTriggers: [event: Extract<ControlMessage, { kind: "rumbleTriggers" }>];
  hdrMode: [event: Extract<ControlMessage, { kind: "hdrMode" }>];
  setMotionEventState: [event: Extract<ControlMessage, { kind: "setMotionEventState" }>];
  setControllerLed: [event: Extract<ControlMessage, { kind: "setControllerLed" }>];
  adaptiveTriggers: [event: Extract<ControlMessage, { kind: "adaptiveTriggers" }>];
  /** Every decoded host message, including the ones above and unknown types. */
  message: [message: ControlMessage];
  /** The stream is over (once): closed by us, by the host, by termination, or by timeout. */
  closed: [info: { reason: ControlStreamEndReason }];
}

export interface ControlStreamStats {
  messagesSent: number;
  messagesReceived: number;
  /** Host messages that failed GCM authentication or were not encrypted. */
  decryptFailures: number;
  /** Host messages that decrypted but did not decode. */
  malformedMessages: number;
}

export class ControlStreamClosedError extends Error {
  override name = "ControlStreamClosedError";
}

const MOONLIGHT_PEER_TIMEOUTS: PeerTimeouts = { limit: 2, minimumMs: 10_000, maximumMs: 10_000 };
/** Room for every fixed-size input packet and short text; longer text falls back to allocation. */
const INPUT_SCRATCH_SIZE = 64;

export class ControlStream extends EventEmitter<ControlStreamEvents> {
  readonly stats: ControlStreamStats = { messagesSent: 0, messagesReceived: 0, decryptFailures: 0, malformedMessages: 0 };
  #host: EnetHost;
  #peer: EnetPeer;
  #cipher: ControlCipher;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #lingerMs: number;
  #closing: Promise<void> | undefined;
  #ended = false;
  #inputScratch = new Uint8Array(INPUT_SCRATCH_SIZE);
  #pingPayload = serializeControlMessage({ kind: "periodicPing" }).payload;

  private constructor(host: EnetHost, peer: EnetPeer, cipher: ControlCipher, options: ControlStreamOptions) {
    super();
    this.#host = host;
    this.#peer = peer;
    this.#cipher = cipher;
    this.#lingerMs = options.disconnectLingerMs ?? 2000;
    peer.on("receive", (_channel, data) => this.#onReceive(data));
    peer.on("disconnect", (info) => this.#onPeerDisconnect(info.reason));
  }

  /**
   * Connects, sends Start A and Start B, and starts the periodic ping. Rejects if the ENet
   * connection is not established in time.
   */
  static async connect(options: ControlStreamOptions): Promise<ControlStream> {
    const cipher = new ControlCipher({ key: options.key, scheme: options.ivScheme, side: "client" });
    const localAddress = options.localAddress ?? (options.address.includes(":") ? "::1" : "127.0.0.1");
    const host = await EnetHost.create({ address: localAddress, peerLimit: 1, ...options.enet });
    let peer: EnetPeer;
    try {
      peer = await host.connect(options.address, options.port, {
        channelCount: CONTROL_CHANNEL_COUNT,
        data: options.connectData ?? 0,
        timeoutMs: options.connectTimeoutMs ?? 10_000,
      });
    } catch (error) {
      await host.close();
      throw error;
    }
    peer.setTimeouts(options.peerTimeouts ?? MOONLIGHT_PEER_TIMEOUTS);
    const stream = new ControlStream(host, peer, cipher, options);
    stream.#send({ kind: "requestIdr" }, ControlChannel.generic, "reliable"); // Start A
    stream.#send({ kind: "startB" }, ControlChannel.generic, "reliable");
    stream.#startPing(options.pingIntervalMs ?? 100);
    log.debug(`control stream connected to ${options.address}:${options.port} (${options.ivScheme} IVs)`);
    return stream;
  }

  get connected(): boolean {
    return !this.#ended && this.#peer.state === "connected";
  }

  /** The ENet peer (diagnostics: RTT, retransmissions). */
  get peer(): EnetPeer {
    return this.#peer;
  }

  /** Asks the host for a key frame (0x0302 on the urgent channel). */
  requestIdr(): boolean {
    return this.sendMessage({ kind: "requestIdr" });
  }

  /** Asks the host to stop referencing frames first…last (needs host RFI support). */
  invalidateReferenceFrames(firstFrameIndex: number, lastFrameIndex: number): boolean {
    return this.sendMessage({ kind: "invalidateReferenceFrames", firstFrameIndex, lastFrameIndex });
  }

  /** Legacy loss statistics (only hosts < 7.1.415 want them; Sunshine-gen uses the ping). */
  sendLossStats(lastGoodFrame: number): boolean {
    return this.sendMessage({ kind: "lossStats", lastGoodFrame });
  }

  /** Per-frame FEC status (Sunshine extension), sent unsequenced as Moonlight does. */
  sendFecStatus(status: FecStatus): boolean {
    return this.#send({ kind: "fecStatus", ...status }, ControlChannel.generic, "unsequenced");
  }

  /** Sends one input packet on its channel with Moonlight's reliability choice. */
  sendInput(packet: InputPacket): boolean {
    if (!this.connected) return false;
    const length = inputPacketLength(packet);
    const plaintext = length <= INPUT_SCRATCH_SIZE ? this.#inputScratch.subarray(0, length) : new Uint8Array(length);
    writeInputPacket(plaintext, 0, packet);
    return this.#sendRaw(ControlMessageType.input, plaintext, inputChannel(packet), inputIsReliable(packet) ? "reliable" : "unreliable");
  }

  /** Sends any client→host message on its usual channel (§3.5). */
  sendMessage(message: ControlMessage, mode: SendMode = "reliable"): boolean {
    return this.#send(message, channelForMessage(message), mode);
  }

  /**
   * Graceful teardown: stop pinging, let queued data be acknowledged, DISCONNECT (lingering up to
   * `disconnectLingerMs` for its ACK), close the socket. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#stopPing();
    this.#closing = (async () => {
      if (this.#peer.state !== "disconnected") {
        const done = new Promise<void>((resolve) => this.#peer.once("disconnect", () => resolve()));
        this.#peer.disconnect(0, this.#lingerMs);
        await done;
      }
      await this.#host.close();
      this.#end("local");
    })();
    return this.#closing;
  }

  #send(message: ControlMessage, channel: number, mode: SendMode): boolean {
    const { type, payload } = serializeControlMessage(message);
    return this.#sendRaw(type, payload, channel, mode);
  }

  #sendRaw(type: number, payload: Uint8Array, channel: number, mode: SendMode): boolean {
    if (!this.connected || this.#closing) return false;
    // Moonlight falls back to channel 0 when the host granted fewer channels.
    const target = channel < this.#peer.channelCount ? channel : ControlChannel.generic;
    const sent = this.#peer.send(target, this.#cipher.seal(type, payload), mode);
    if (sent) this.stats.messagesSent++;
    return sent;
  }

  #startPing(intervalMs: number): void {
    const ping = () => this.#sendRaw(ControlMessageType.periodicPing, this.#pingPayload, ControlChannel.generic, "reliable");
    ping();
    this.#pingTimer = setInterval(ping, intervalMs);
  }

  #stopPing(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
  }

  #onReceive(data: Uint8Array): void {
    const received = this.#cipher.receive(data);
    if ("dropped" in received) {
      if (received.dropped === "undecryptable") {
        this.stats.decryptFailures++;
        log.debug(`dropped host control message: ${received.detail}`);
      } else this.stats.malformedMessages++;
      return;
    }
    const { message } = received;
    this.stats.messagesReceived++;
    this.#emitSafely("message", message);
    switch (message.kind) {
      case "termination": {
        const { code, reason } = terminationReason(message.errorCode, message.extended);
        log.info(`host terminated the stream: ${reason}`);
        this.#emitSafely("termination", { code, errorCode: message.errorCode, reason });
        // Moonlight disconnects abortively right after any termination message.
        this.#stopPing();
        this.#end("terminated");
        this.#peer.disconnectNow();
        return;
      }
      case "rumble":
      case "rumbleTriggers":
      case "hdrMode":
      case "setMotionEventState":
      case "setControllerLed":
      case "adaptiveTriggers":
        (this.#emitSafely as (k: string, m: ControlMessage) => void)(message.kind, message);
        return;
      default:
        return;
    }
  }

  #onPeerDisconnect(reason: DisconnectReason): void {
    this.#stopPing();
    if (!this.#ended && !this.#closing) log.info(`control stream lost (${reason})`);
    this.#closing ??= this.#host.close();
    this.#end(reason);
  }

  #end(reason: ControlStreamEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#emitSafely("closed", { reason });
  }

  #emitSafely<K extends keyof ControlStreamEvents>(event: K, ...args: ControlStreamEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ControlStreamEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      log.error(`control stream ${String(event)} listener threw`, error);
    }
  }
}
