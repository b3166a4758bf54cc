/**
 * An ENet host over node:dgram: one UDP socket, a table of peer slots, a service timer. The same
 * class is the client side (`connect()` to the control port; Moonlight uses 1 peer, 48 channels)
 * and the server side (`acceptIncoming: true`, peers announced by the `connect` event), as in
 * ENet where both ends are an ENetHost.
 *
 * Datagram routing follows ENet: peerID 0xFFF carries only CONNECT; any other peerID must name an
 * active slot whose remote address and incoming session ID match. Everything else — garbage,
 * truncated datagrams, wrong peer or session — is counted in `stats` and dropped.
 */
import dgram from "node:dgram";
import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import { logger } from "../../../core/log.ts";
import {
  PROTOCOL_MAXIMUM_CHANNEL_COUNT,
  PROTOCOL_MAXIMUM_MTU,
  PROTOCOL_MAXIMUM_PEER_ID,
  PROTOCOL_MINIMUM_CHANNEL_COUNT,
  PROTOCOL_MINIMUM_MTU,
  parseDatagram,
  type EnetCommandOf,
} from "./protocol.ts";
import { ENET_DEFAULTS, EnetPeer, type PeerTransport } from "./peer.ts";

const log = logger("enet");

/** The longest a host sleeps with nothing due (a safety net: every deadline is computed). */
const MAX_SERVICE_WAIT_MS = 250;

export interface EnetHostOptions {
  /** Local address to bind; loopback by default. */
  address?: string;
  /** Local port; 0 (default) = ephemeral. */
  port?: number;
  /** Number of peer slots (Moonlight's client uses 1). Default 1. */
  peerLimit?: number;
  /** Most channels granted to an incoming peer. Default 255. */
  channelLimit?: number;
  /** Our MTU, clamped to 576–4096. Default 900 as in cgutman/enet. */
  mtu?: number;
  /** Server side: accept CONNECTs from anyone who reaches the socket. Default false. */
  acceptIncoming?: boolean;
  /**
   * The shortest wait between two clock-driven checks (retransmission, keep-alive, timeout);
   * between deadlines the host sleeps, up to MAX_SERVICE_WAIT_MS. Default 10 ms.
   */
  serviceIntervalMs?: number;
  /** Loss injection for tests: return true to drop an outgoing datagram. */
  dropOutgoing?: (datagram: Uint8Array) => boolean;
  /** Loss injection for tests: return true to drop an incoming datagram before parsing. */
  dropIncoming?: (datagram: Uint8Array) => boolean;
}

export interface EnetConnectOptions {
  /** Channels to ask for; Moonlight asks for 48. */
  channelCount?: number;
  /** CONNECT data word (Moonlight: X-SS-Connect-Data, 0 when absent). */
  data?: number;
  /** Give up after this long (Moonlight: 10 s). */
  timeoutMs?: number;
}

export interface EnetHostEvents {
  /** Server side: a peer completed the handshake. `data` is its CONNECT data word. */
  connect: [peer: EnetPeer, data: number];
}

export interface EnetHostStats {
  datagramsReceived: number;
  datagramsSent: number;
  /** Could not be parsed as ENet (garbage, truncated, unknown command). */
  malformedDatagrams: number;
  /** Parsed, but for no active peer: wrong peer ID, address or session, or unexpected CONNECT. */
  foreignDatagrams: number;
  /** Dropped by the dropOutgoing/dropIncoming test hooks. */
  droppedByFilter: number;
  sendErrors: number;
  /** Times the service timer woke (retransmission / keep-alive / timeout deadlines). */
  timerWakeups: number;
}

export class EnetConnectError extends Error {
  override name = "EnetConnectError";
}

export class EnetHostClosedError extends Error {
  override name = "EnetHostClosedError";
}

interface Slot {
  peer: EnetPeer | undefined;
  /** Session IDs this slot used last (0xFF = never), kept across connections as ENet does. */
  incomingSessionID: number;
  outgoingSessionID: number;
}

export class EnetHost extends EventEmitter<EnetHostEvents> {
  readonly stats: EnetHostStats = {
    datagramsReceived: 0,
    datagramsSent: 0,
    malformedDatagrams: 0,
    foreignDatagrams: 0,
    droppedByFilter: 0,
    sendErrors: 0,
    timerWakeups: 0,
  };
  #socket: dgram.Socket;
  #slots: Slot[];
  #mtu: number;
  #channelLimit: number;
  #acceptIncoming: boolean;
  #dropOutgoing: ((d: Uint8Array) => boolean) | undefined;
  #dropIncoming: ((d: Uint8Array) => boolean) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Host ms the armed timer fires at (Infinity: none armed). */
  #timerAt = Number.POSITIVE_INFINITY;
  readonly #servicePeriodMs: number;
  #flushQueued = false;
  #pendingSends = 0;
  #closing: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;
  /** Millisecond clock; starts above 16 bits so the sentTime arithmetic never sees time 0. */
  readonly #epoch = performance.now() - 0x10000;
  readonly #transport: PeerTransport;

  private constructor(socket: dgram.Socket, options: EnetHostOptions) {
    super();
    this.#socket = socket;
    const peerLimit = Math.max(1, Math.min(PROTOCOL_MAXIMUM_PEER_ID, options.peerLimit ?? 1));
    this.#slots = Array.from({ length: peerLimit }, () => ({ peer: undefined, incomingSessionID: 0xff, outgoingSessionID: 0xff }));
    this.#mtu = Math.max(PROTOCOL_MINIMUM_MTU, Math.min(PROTOCOL_MAXIMUM_MTU, options.mtu ?? ENET_DEFAULTS.mtu));
    this.#channelLimit = Math.max(
      PROTOCOL_MINIMUM_CHANNEL_COUNT,
      Math.min(PROTOCOL_MAXIMUM_CHANNEL_COUNT, options.channelLimit ?? PROTOCOL_MAXIMUM_CHANNEL_COUNT),
    );
    this.#acceptIncoming = options.acceptIncoming ?? false;
    this.#dropOutgoing = options.dropOutgoing;
    this.#dropIncoming = options.dropIncoming;
    this.#transport = {
      now: () => this.now(),
      transmit: (peer, datagram) => this.#transmit(peer, datagram),
      scheduleFlush: () => this.#scheduleFlush(),
      released: (peer) => this.#release(peer),
    };
    socket.on("message", (msg, rinfo) => this.#onMessage(msg, rinfo.address, rinfo.port));
    socket.on("error", (error) => log.warn(`enet socket error: ${error.message}`));
    this.#servicePeriodMs = Math.max(1, options.serviceIntervalMs ?? 10);
    this.#arm(this.now(), this.now());
  }

  /** Binds a socket and returns the host once it is listening. */
  static async create(options: EnetHostOptions = {}): Promise<EnetHost> {
    const address = options.address ?? "127.0.0.1";
    const socket = dgram.createSocket({ type: address.includes(":") ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(options.port ?? 0, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new EnetHost(socket, options);
  }

  /** Milliseconds on this host's clock (what goes into sentTime fields). */
  now(): number {
    return Math.floor(performance.now() - this.#epoch);
  }

  get localAddress(): { address: string; port: number } {
    const { address, port } = this.#socket.address();
    return { address, port };
  }

  get peers(): EnetPeer[] {
    return this.#slots.flatMap((slot) => (slot.peer ? [slot.peer] : []));
  }

  /** Client side: connects to `address:port`; resolves once VERIFY_CONNECT arrives. */
  connect(address: string, port: number, options: EnetConnectOptions = {}): Promise<EnetPeer> {
    if (this.#closing) return Promise.reject(new EnetHostClosedError("host is closed"));
    const index = this.#slots.findIndex((slot) => slot.peer === undefined);
    const slot = this.#slots[index];
    if (slot === undefined) return Promise.reject(new EnetConnectError("no free peer slot"));
    const peer = EnetPeer.connecting(
      {
        transport: this.#transport,
        incomingPeerID: index,
        address,
        port,
        hostMtu: this.#mtu,
        previousIncomingSessionID: slot.incomingSessionID,
        previousOutgoingSessionID: slot.outgoingSessionID,
      },
      { channelCount: options.channelCount ?? 48, data: options.data ?? 0, connectID: randomInt(0x100000000) },
    );
    slot.peer = peer;
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise<EnetPeer>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        peer.reset();
        reject(new EnetConnectError(`no VERIFY_CONNECT from ${address}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnect = (): void => {
        cleanup();
        resolve(peer);
      };
      const onDisconnect = (info: { reason: string }): void => {
        cleanup();
        reject(new EnetConnectError(`connection to ${address}:${port} failed (${info.reason})`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        peer.off("connect", onConnect);
        peer.off("disconnect", onDisconnect);
      };
      peer.on("connect", onConnect);
      peer.on("disconnect", onDisconnect);
    });
  }

  /**
   * Sends an immediate DISCONNECT to every peer still connected, then closes the socket once the
   * datagrams are out. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const slot of this.#slots) slot.peer?.disconnectNow();
      const finish = (): void => {
        this.#onDrained = undefined;
        this.#socket.close(() => resolve());
      };
      if (this.#pendingSends === 0) {
        finish();
        return;
      }
      const safety = setTimeout(finish, 200);
      this.#onDrained = () => {
        clearTimeout(safety);
        finish();
      };
    });
    return this.#closing;
  }

  #onMessage(msg: Uint8Array, address: string, port: number): void {
    if (this.#closing) return;
    this.stats.datagramsReceived++;
    if (this.#dropIncoming?.(msg)) {
      this.stats.droppedByFilter++;
      return;
    }
    let datagram;
    try {
      datagram = parseDatagram(msg);
    } catch {
      this.stats.malformedDatagrams++;
      return;
    }
    try {
      const { peerID, sessionID } = datagram.header;
      if (peerID === PROTOCOL_MAXIMUM_PEER_ID) {
        const first = datagram.commands[0];
        if (first?.kind === "connect" && this.#acceptIncoming) this.#accept(first, address, port);
        else this.stats.foreignDatagrams++;
        return;
      }
      const peer = this.#slots[peerID]?.peer;
      if (
        peer === undefined ||
        peer.state === "disconnected" ||
        peer.address !== address ||
        peer.port !== port ||
        (peer.outgoingPeerID < PROTOCOL_MAXIMUM_PEER_ID && sessionID !== peer.incomingSessionID)
      ) {
        this.stats.foreignDatagrams++;
        return;
      }
      peer.handleDatagram(datagram);
    } catch (error) {
      // A bug of ours, not the remote's; never let it escape the socket handler.
      log.error("enet: failed to handle a datagram", error);
    }
  }

  #accept(connect: EnetCommandOf<"connect">, address: string, port: number): void {
    if (connect.channelCount < PROTOCOL_MINIMUM_CHANNEL_COUNT || connect.channelCount > PROTOCOL_MAXIMUM_CHANNEL_COUNT) {
      this.stats.foreignDatagrams++;
      return;
    }
    let free = -1;
    for (let i = 0; i < this.#slots.length; i++) {
      const peer = this.#slots[i]!.peer;
      if (peer === undefined) {
        if (free < 0) free = i;
      } else if (peer.address === address && peer.port === port && peer.connectID === connect.connectID) {
        return; // a retransmitted CONNECT for a connection in progress: our VERIFY is on its way
      }
    }
    const slot = this.#slots[free];
    if (slot === undefined) {
      log.debug(`enet: no free slot for ${address}:${port}`);
      this.stats.foreignDatagrams++;
      return;
    }
    const peer = EnetPeer.accepting(
      {
        transport: this.#transport,
        incomingPeerID: free,
        address,
        port,
        hostMtu: this.#mtu,
        previousIncomingSessionID: slot.incomingSessionID,
        previousOutgoingSessionID: slot.outgoingSessionID,
      },
      connect,
      this.#channelLimit,
    );
    slot.peer = peer;
    peer.once("connect", (data) => {
      try {
        this.emit("connect", peer, data);
      } catch (error) {
        log.error("enet host connect listener threw", error);
      }
    });
  }

  #release(peer: EnetPeer): void {
    const slot = this.#slots[peer.incomingPeerID];
    if (slot?.peer !== peer) return;
    slot.peer = undefined;
    slot.incomingSessionID = peer.incomingSessionID;
    slot.outgoingSessionID = peer.outgoingSessionID;
  }

  #transmit(peer: EnetPeer, datagram: Uint8Array): void {
    if (this.#dropOutgoing?.(datagram)) {
      this.stats.droppedByFilter++;
      return;
    }
    this.stats.datagramsSent++;
    this.#pendingSends++;
    try {
      this.#socket.send(datagram, peer.port, peer.address, (error) => {
        if (error) this.stats.sendErrors++;
        this.#pendingSends--;
        if (this.#pendingSends === 0) this.#onDrained?.();
      });
    } catch {
      this.#pendingSends--;
      this.stats.sendErrors++;
    }
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#service();
    });
  }

  #service(): void {
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const slot of this.#slots) {
      const peer = slot.peer;
      if (peer === undefined) continue;
      try {
        peer.flush(now);
        next = Math.min(next, peer.nextServiceTime(now, this.#servicePeriodMs));
      } catch (error) {
        log.error("enet: flush failed", error);
        next = now;
      }
    }
    this.#arm(now, next);
  }

  /** Wakes for the next deadline: no sooner than one period from now, no later than MAX_SERVICE_WAIT_MS. */
  #arm(now: number, next: number): void {
    if (this.#closing) return;
    const at = Math.min(Math.max(next, now + this.#servicePeriodMs), now + MAX_SERVICE_WAIT_MS);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.stats.timerWakeups++;
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.#service();
    }, at - now);
  }
}
