/**
 * One ENet connection: the reliability state machine of ENet 1.3 as spoken by Moonlight and
 * Sunshine/Wolf on the control port. Transport-agnostic — an EnetHost feeds it parsed datagrams
 * and asks it to flush; the peer hands back finished datagrams through its PeerTransport.
 *
 * What it does (reference §3): connect handshake (both sides), per-channel reliable sequencing with
 * in-order delivery, unreliable and unsequenced delivery, ACKs (front of the next datagram),
 * retransmission with an RTT-derived timeout doubling per attempt, keep-alive PINGs, fragmentation
 * and reassembly, graceful/immediate disconnect, and peer timeout. Bandwidth throttling is not
 * implemented (Moonlight runs with unlimited bandwidth; we accept and ignore BANDWIDTH_LIMIT).
 */
import { EventEmitter } from "node:events";
import { logger } from "../../../core/log.ts";
import {
  COMMAND_FLAG_ACKNOWLEDGE,
  COMMAND_FLAG_UNSEQUENCED,
  CONNECTION_CHANNEL,
  PROTOCOL_MAXIMUM_CHANNEL_COUNT,
  PROTOCOL_MAXIMUM_FRAGMENT_COUNT,
  PROTOCOL_MAXIMUM_MTU,
  PROTOCOL_MAXIMUM_PEER_ID,
  PROTOCOL_MAXIMUM_WINDOW_SIZE,
  PROTOCOL_MINIMUM_CHANNEL_COUNT,
  PROTOCOL_MINIMUM_MTU,
  PROTOCOL_MINIMUM_WINDOW_SIZE,
  commandSize,
  encodedCommandLength,
  writeCommand,
  writeDatagramHeader,
  type ConnectParameters,
  type Datagram,
  type EnetCommand,
  type EnetCommandOf,
} from "./protocol.ts";

const log = logger("enet");

/** ENet defaults (enet.h) and the values of cgutman/enet that Moonlight runs with. */
export const ENET_DEFAULTS = {
  mtu: 900,
  initialRoundTripTimeMs: 500,
  pingIntervalMs: 500,
  timeoutLimit: 32,
  timeoutMinimumMs: 5000,
  timeoutMaximumMs: 30000,
  packetThrottleInterval: 5000,
  packetThrottleAcceleration: 2,
  packetThrottleDeceleration: 2,
  /** ENet's default host limit on a reassembled packet. */
  maximumPacketSize: 32 * 1024 * 1024,
} as const;

/** A datagram header is at most 4 bytes; a SEND_FRAGMENT command header is 24. */
const DATAGRAM_HEADER_SIZE = 4;
const FRAGMENT_COMMAND_SIZE = 24;
/** Receivers ignore reliable sequence numbers further ahead than 7 windows of 4096. */
const RELIABLE_LOOKAHEAD = 7 * 4096;
const UNSEQUENCED_WINDOW_SIZE = 1024;
const FREE_UNSEQUENCED_WINDOWS = 32;
/** Future-epoch unreliable packets kept while waiting for their reliable predecessor. */
const MAX_PENDING_UNRELIABLE = 256;

export type PeerState =
  | "connecting"
  | "acknowledging-connect"
  | "connected"
  | "disconnect-later"
  | "disconnecting"
  | "acknowledging-disconnect"
  | "disconnected";

export type SendMode = "reliable" | "unreliable" | "unsequenced";

export type DisconnectReason =
  /** We asked for it (disconnect(), disconnectNow(), host closed). */
  | "local"
  /** The remote sent DISCONNECT. */
  | "remote"
  /** Reliable data stayed unacknowledged past the peer timeout. */
  | "timeout"
  /** The VERIFY_CONNECT did not match our CONNECT. */
  | "refused";

export interface DisconnectInfo {
  reason: DisconnectReason;
  /** The DISCONNECT command's data word (0 unless the remote set it). */
  data: number;
}

export interface EnetPeerEvents {
  /** Connection established; `data` is the CONNECT data word (server side) or 0 (client side). */
  connect: [data: number];
  /** One whole packet delivered on `channelID`. `data` is owned by the listener. */
  receive: [channelID: number, data: Uint8Array, mode: SendMode];
  disconnect: [info: DisconnectInfo];
}

/** What a peer needs from the host that owns its socket. */
export interface PeerTransport {
  now(): number;
  transmit(peer: EnetPeer, datagram: Uint8Array): void;
  scheduleFlush(): void;
  /** Called once when the peer reaches "disconnected", so the host can free its slot. */
  released(peer: EnetPeer): void;
}

export interface PeerTimeouts {
  /** ENet's timeoutLimit: a command's timeout may double until it is limit × its first value. */
  limit: number;
  minimumMs: number;
  maximumMs: number;
}

export interface PeerStats {
  datagramsSent: number;
  commandsSent: number;
  retransmissions: number;
  commandsReceived: number;
  /** Received commands that broke a protocol rule (bad fragment, unexpected VERIFY…). */
  protocolErrors: number;
  roundTripTimeMs: number;
  roundTripTimeVarianceMs: number;
}

interface OutgoingCommand {
  command: EnetCommand;
  reliable: boolean;
  /** Payload bytes (counts against the reliable window). */
  payloadLength: number;
  sendAttempts: number;
  sentTime: number;
  roundTripTimeout: number;
  roundTripTimeoutLimit: number;
}

interface PendingAck {
  channelID: number;
  reliableSequenceNumber: number;
  sentTime: number;
  isDisconnect: boolean;
}

type ReliableUnit =
  | { kind: "whole"; data: Uint8Array }
  | { kind: "fragment"; command: EnetCommandOf<"sendFragment"> };

interface PendingUnreliable {
  reliableSequenceNumber: number;
  unreliableSequenceNumber: number;
  data: Uint8Array;
}

class Channel {
  outgoingReliable = 0;
  outgoingUnreliable = 0;
  /** Last reliable sequence number delivered to the application. */
  incomingReliable = 0;
  incomingUnreliable = 0;
  readonly pendingReliable = new Map<number, ReliableUnit>();
  pendingUnreliable: PendingUnreliable[] = [];
}

/** Parameters the host passes to a new peer. */
export interface PeerSetup {
  transport: PeerTransport;
  /** Our index for this connection (what the remote writes in its datagram headers). */
  incomingPeerID: number;
  address: string;
  port: number;
  hostMtu: number;
  /** Session IDs this slot used last (0xFF when never used), for ENet's "previous + 1" rule. */
  previousIncomingSessionID: number;
  previousOutgoingSessionID: number;
}

/** 16-bit serial-number distance a − b in [0, 65535]. */
function seqDistance(a: number, b: number): number {
  return (a - b) & 0xffff;
}

export class EnetPeer extends EventEmitter<EnetPeerEvents> {
  readonly incomingPeerID: number;
  readonly address: string;
  readonly port: number;
  #transport: PeerTransport;
  #state: PeerState = "connecting";
  #outgoingPeerID = PROTOCOL_MAXIMUM_PEER_ID;
  #incomingSessionID: number;
  #outgoingSessionID: number;
  #connectID = 0;
  #connectData = 0;
  #mtu: number;
  #windowSize = PROTOCOL_MAXIMUM_WINDOW_SIZE;
  #channels: Channel[] = [];
  #throttle = {
    interval: ENET_DEFAULTS.packetThrottleInterval as number,
    acceleration: ENET_DEFAULTS.packetThrottleAcceleration as number,
    deceleration: ENET_DEFAULTS.packetThrottleDeceleration as number,
  };
  #outgoingReliableSequenceNumber = 0;
  #outgoingUnsequencedGroup = 0;
  #incomingUnsequencedGroup = 0;
  #unsequencedWindow = new Uint32Array(UNSEQUENCED_WINDOW_SIZE / 32);
  #outgoing: OutgoingCommand[] = [];
  #sentReliable: OutgoingCommand[] = [];
  #acks: PendingAck[] = [];
  #reliableDataInTransit = 0;
  #roundTripTime: number = ENET_DEFAULTS.initialRoundTripTimeMs;
  #roundTripTimeVariance = 0;
  #lastReceiveTime = 0;
  #earliestTimeout = 0;
  #nextTimeout = 0;
  #pingIntervalMs: number = ENET_DEFAULTS.pingIntervalMs;
  #timeouts: PeerTimeouts = {
    limit: ENET_DEFAULTS.timeoutLimit,
    minimumMs: ENET_DEFAULTS.timeoutMinimumMs,
    maximumMs: ENET_DEFAULTS.timeoutMaximumMs,
  };
  #disconnectData = 0;
  /** The remote's reliable DISCONNECT, reported once our ACK of it has been sent. */
  #pendingRemoteDisconnect: DisconnectInfo | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #scratch: Uint8Array;
  readonly stats: PeerStats = {
    datagramsSent: 0,
    commandsSent: 0,
    retransmissions: 0,
    commandsReceived: 0,
    protocolErrors: 0,
    roundTripTimeMs: ENET_DEFAULTS.initialRoundTripTimeMs,
    roundTripTimeVarianceMs: 0,
  };

  private constructor(setup: PeerSetup) {
    super();
    this.#transport = setup.transport;
    this.incomingPeerID = setup.incomingPeerID;
    this.address = setup.address;
    this.port = setup.port;
    this.#mtu = setup.hostMtu;
    this.#incomingSessionID = setup.previousIncomingSessionID;
    this.#outgoingSessionID = setup.previousOutgoingSessionID;
    this.#scratch = new Uint8Array(PROTOCOL_MAXIMUM_MTU);
  }

  /** Client side: a peer that sends CONNECT and waits for VERIFY_CONNECT. */
  static connecting(setup: PeerSetup, options: { channelCount: number; data: number; connectID: number }): EnetPeer {
    const peer = new EnetPeer(setup);
    if (options.channelCount < PROTOCOL_MINIMUM_CHANNEL_COUNT || options.channelCount > PROTOCOL_MAXIMUM_CHANNEL_COUNT) {
      throw new RangeError(`channel count ${options.channelCount} outside 1–255`);
    }
    peer.#channels = Array.from({ length: options.channelCount }, () => new Channel());
    peer.#connectID = options.connectID >>> 0;
    peer.#state = "connecting";
    peer.#queueConnectionCommand({
      kind: "connect",
      flags: COMMAND_FLAG_ACKNOWLEDGE,
      channelID: CONNECTION_CHANNEL,
      reliableSequenceNumber: 0,
      outgoingPeerID: peer.incomingPeerID,
      incomingSessionID: peer.#incomingSessionID,
      outgoingSessionID: peer.#outgoingSessionID,
      mtu: peer.#mtu,
      windowSize: peer.#windowSize,
      channelCount: options.channelCount,
      incomingBandwidth: 0,
      outgoingBandwidth: 0,
      packetThrottleInterval: peer.#throttle.interval,
      packetThrottleAcceleration: peer.#throttle.acceleration,
      packetThrottleDeceleration: peer.#throttle.deceleration,
      connectID: peer.#connectID,
      data: options.data >>> 0,
    });
    return peer;
  }

  /**
   * Server side: a peer created from a CONNECT. Picks session IDs as ENet does (previous + 1,
   * skipping a collision), clamps MTU/window/channels, and queues VERIFY_CONNECT.
   */
  static accepting(setup: PeerSetup, connect: EnetCommandOf<"connect">, channelLimit: number): EnetPeer {
    const peer = new EnetPeer(setup);
    const channelCount = Math.min(connect.channelCount, channelLimit);
    peer.#channels = Array.from({ length: channelCount }, () => new Channel());
    peer.#state = "acknowledging-connect";
    peer.#connectID = connect.connectID;
    peer.#connectData = connect.data;
    peer.#outgoingPeerID = connect.outgoingPeerID;
    peer.#throttle = {
      interval: connect.packetThrottleInterval,
      acceleration: connect.packetThrottleAcceleration,
      deceleration: connect.packetThrottleDeceleration,
    };
    let incoming = connect.incomingSessionID === 0xff ? peer.#outgoingSessionID : connect.incomingSessionID;
    incoming = (incoming + 1) & 3;
    if (incoming === peer.#outgoingSessionID) incoming = (incoming + 1) & 3;
    peer.#outgoingSessionID = incoming;
    let outgoing = connect.outgoingSessionID === 0xff ? peer.#incomingSessionID : connect.outgoingSessionID;
    outgoing = (outgoing + 1) & 3;
    if (outgoing === peer.#incomingSessionID) outgoing = (outgoing + 1) & 3;
    peer.#incomingSessionID = outgoing;
    peer.#mtu = Math.min(setup.hostMtu, Math.max(PROTOCOL_MINIMUM_MTU, Math.min(PROTOCOL_MAXIMUM_MTU, connect.mtu)));
    const window = Math.max(PROTOCOL_MINIMUM_WINDOW_SIZE, Math.min(PROTOCOL_MAXIMUM_WINDOW_SIZE, connect.windowSize));
    peer.#windowSize = window;
    peer.#queueConnectionCommand({
      kind: "verifyConnect",
      flags: COMMAND_FLAG_ACKNOWLEDGE,
      channelID: CONNECTION_CHANNEL,
      reliableSequenceNumber: 0,
      outgoingPeerID: peer.incomingPeerID,
      incomingSessionID: incoming,
      outgoingSessionID: outgoing,
      mtu: peer.#mtu,
      windowSize: window,
      channelCount,
      incomingBandwidth: 0,
      outgoingBandwidth: 0,
      packetThrottleInterval: connect.packetThrottleInterval,
      packetThrottleAcceleration: connect.packetThrottleAcceleration,
      packetThrottleDeceleration: connect.packetThrottleDeceleration,
      connectID: connect.connectID,
    });
    return peer;
  }

  get state(): PeerState {
    return this.#state;
  }
  get connectID(): number {
    return this.#connectID;
  }
  get connectData(): number {
    return this.#connectData;
  }
  get channelCount(): number {
    return this.#channels.length;
  }
  get mtu(): number {
    return this.#mtu;
  }
  get incomingSessionID(): number {
    return this.#incomingSessionID;
  }
  get outgoingSessionID(): number {
    return this.#outgoingSessionID;
  }
  get outgoingPeerID(): number {
    return this.#outgoingPeerID;
  }
  /** Reliable commands queued or in flight (0 = everything sent was acknowledged). */
  get unacknowledgedCount(): number {
    return this.#sentReliable.length + this.#outgoing.filter((c) => c.reliable).length;
  }
  /** Largest payload sent in one SEND_RELIABLE; larger packets are fragmented. */
  get fragmentLength(): number {
    return this.#mtu - DATAGRAM_HEADER_SIZE - FRAGMENT_COMMAND_SIZE;
  }

  /** Same meaning as enet_peer_timeout(); Moonlight uses (2, 10000, 10000) once connected. */
  setTimeouts(timeouts: PeerTimeouts): void {
    this.#timeouts = { ...timeouts };
  }

  setPingInterval(ms: number): void {
    this.#pingIntervalMs = ms;
  }

  /**
   * Queues one packet. Packets larger than `fragmentLength` go out as reliable fragments whatever
   * the mode (as ENet does). Returns false when the peer is not connected.
   */
  send(channelID: number, data: Uint8Array, mode: SendMode = "reliable"): boolean {
    if (this.#state !== "connected") return false;
    const channel = this.#channels[channelID];
    if (channel === undefined) throw new RangeError(`channel ${channelID} ≥ channel count ${this.#channels.length}`);
    if (data.byteLength > ENET_DEFAULTS.maximumPacketSize) throw new RangeError(`packet of ${data.byteLength} bytes`);
    const owned = data.slice();
    const fragmentLength = this.fragmentLength;
    if (owned.byteLength > fragmentLength) {
      const fragmentCount = Math.ceil(owned.byteLength / fragmentLength);
      if (fragmentCount > PROTOCOL_MAXIMUM_FRAGMENT_COUNT) throw new RangeError(`packet needs ${fragmentCount} fragments`);
      const startSequenceNumber = (channel.outgoingReliable + 1) & 0xffff;
      for (let i = 0; i < fragmentCount; i++) {
        channel.outgoingReliable = (channel.outgoingReliable + 1) & 0xffff;
        const offset = i * fragmentLength;
        this.#queue({
          kind: "sendFragment",
          flags: COMMAND_FLAG_ACKNOWLEDGE,
          channelID,
          reliableSequenceNumber: channel.outgoingReliable,
          startSequenceNumber,
          fragmentCount,
          fragmentNumber: i,
          totalLength: owned.byteLength,
          fragmentOffset: offset,
          data: owned.subarray(offset, Math.min(owned.byteLength, offset + fragmentLength)),
        });
      }
      channel.outgoingUnreliable = 0;
    } else if (mode === "reliable") {
      channel.outgoingReliable = (channel.outgoingReliable + 1) & 0xffff;
      channel.outgoingUnreliable = 0;
      this.#queue({
        kind: "sendReliable",
        flags: COMMAND_FLAG_ACKNOWLEDGE,
        channelID,
        reliableSequenceNumber: channel.outgoingReliable,
        data: owned,
      });
    } else if (mode === "unreliable") {
      channel.outgoingUnreliable = (channel.outgoingUnreliable + 1) & 0xffff;
      this.#queue({
        kind: "sendUnreliable",
        flags: 0,
        channelID,
        reliableSequenceNumber: channel.outgoingReliable,
        unreliableSequenceNumber: channel.outgoingUnreliable,
        data: owned,
      });
    } else {
      this.#outgoingUnsequencedGroup = (this.#outgoingUnsequencedGroup + 1) & 0xffff;
      this.#queue({
        kind: "sendUnsequenced",
        flags: COMMAND_FLAG_UNSEQUENCED,
        channelID,
        reliableSequenceNumber: 0,
        unsequencedGroup: this.#outgoingUnsequencedGroup,
        data: owned,
      });
    }
    return true;
  }

  /**
   * When `flush` next has work that only the clock brings (host ms): the front reliable command's
   * retransmission (or the timeout verdict) while any is in flight, else the keep-alive PING after
   * `pingInterval` of quiet. Sends and receipts schedule their own flush, so between those a host
   * need not wake earlier (issue 22: a 10 ms tick cost ~100 wakeups/s for nothing). `now` + the
   * host's period while connecting, disconnecting or holding commands the window did not let out.
   */
  nextServiceTime(now: number, periodMs: number): number {
    if (this.#state === "disconnected") return Number.POSITIVE_INFINITY;
    if (this.#acks.length > 0) return now;
    if (this.#state !== "connected" || this.#outgoing.length > 0) return now + periodMs;
    if (this.#sentReliable.length > 0) return this.#nextTimeout;
    return this.#lastReceiveTime + this.#pingIntervalMs;
  }

  /** Queues a PING now (normally sent automatically after `pingInterval` of silence). */
  ping(): void {
    if (this.#state !== "connected") return;
    this.#queueConnectionCommand({ kind: "ping", flags: COMMAND_FLAG_ACKNOWLEDGE, channelID: CONNECTION_CHANNEL, reliableSequenceNumber: 0 });
  }

  /**
   * Graceful disconnect: waits for queued reliable data to be acknowledged, sends a reliable
   * DISCONNECT and emits `disconnect` ("local") on its ACK — or after `lingerMs`, whichever first.
   */
  disconnect(data = 0, lingerMs = 2000): void {
    if (this.#state === "disconnected" || this.#state === "disconnecting" || this.#state === "disconnect-later") return;
    if (this.#state !== "connected") {
      this.disconnectNow(data);
      return;
    }
    this.#disconnectData = data >>> 0;
    this.#lingerTimer = setTimeout(() => this.disconnectNow(data), lingerMs);
    if (this.#outgoing.length > 0 || this.#sentReliable.length > 0) {
      this.#state = "disconnect-later";
    } else {
      this.#beginDisconnect();
    }
    this.#transport.scheduleFlush();
  }

  /** Immediate disconnect: one unsequenced DISCONNECT (0x44), no ACK awaited; emits `disconnect`. */
  disconnectNow(data = 0): void {
    if (this.#state === "disconnected") return;
    if (this.#state !== "acknowledging-disconnect") {
      this.#outgoingReliableSequenceNumber = (this.#outgoingReliableSequenceNumber + 1) & 0xffff;
      let offset = DATAGRAM_HEADER_SIZE;
      offset += writeCommand(this.#scratch, offset, {
        kind: "disconnect",
        flags: COMMAND_FLAG_UNSEQUENCED,
        channelID: CONNECTION_CHANNEL,
        reliableSequenceNumber: this.#outgoingReliableSequenceNumber,
        data: data >>> 0,
      });
      this.#transmitFrom(2, offset, false, this.#transport.now());
    }
    this.#finish({ reason: "local", data: 0 });
  }

  /** Host-initiated teardown without sending anything (socket closing). */
  reset(): void {
    this.#finish({ reason: "local", data: 0 });
  }

  #beginDisconnect(): void {
    this.#state = "disconnecting";
    this.#queueConnectionCommand({
      kind: "disconnect",
      flags: COMMAND_FLAG_ACKNOWLEDGE,
      channelID: CONNECTION_CHANNEL,
      reliableSequenceNumber: 0,
      data: this.#disconnectData,
    });
  }

  #finish(info: DisconnectInfo): void {
    if (this.#state === "disconnected") return;
    this.#state = "disconnected";
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#outgoing = [];
    this.#sentReliable = [];
    this.#acks = [];
    for (const channel of this.#channels) {
      channel.pendingReliable.clear();
      channel.pendingUnreliable = [];
    }
    this.#transport.released(this);
    this.#emitSafely("disconnect", info);
  }

  #queueConnectionCommand(command: EnetCommand): void {
    // Every channel-0xFF command takes the next connection-level sequence number, ACK flag or not.
    this.#outgoingReliableSequenceNumber = (this.#outgoingReliableSequenceNumber + 1) & 0xffff;
    command.reliableSequenceNumber = this.#outgoingReliableSequenceNumber;
    this.#queue(command);
  }

  #queue(command: EnetCommand): void {
    const payloadLength = "data" in command && command.data instanceof Uint8Array ? command.data.byteLength : 0;
    this.#outgoing.push({
      command,
      reliable: (command.flags & COMMAND_FLAG_ACKNOWLEDGE) !== 0,
      payloadLength,
      sendAttempts: 0,
      sentTime: 0,
      roundTripTimeout: 0,
      roundTripTimeoutLimit: 0,
    });
    this.#transport.scheduleFlush();
  }

  // ---------------------------------------------------------------------------------------------
  // Receive path

  /** Handles one datagram already routed to this peer. Never throws for remote misbehaviour. */
  handleDatagram(datagram: Datagram): void {
    const sentTime = datagram.header.sentTime;
    for (const command of datagram.commands) {
      if (this.#state === "disconnected") return;
      this.stats.commandsReceived++;
      const isDisconnect = command.kind === "disconnect";
      this.#handleCommand(command);
      if ((command.flags & COMMAND_FLAG_ACKNOWLEDGE) === 0 || sentTime === undefined) continue;
      switch (this.#state as PeerState) {
        case "disconnecting":
        case "acknowledging-connect":
        case "disconnected":
        case "connecting":
          break;
        case "acknowledging-disconnect":
          if (isDisconnect) this.#queueAck(command, sentTime, true);
          break;
        default:
          this.#queueAck(command, sentTime, false);
      }
    }
    if (this.#acks.length > 0 || this.#outgoing.length > 0) this.#transport.scheduleFlush();
  }

  #queueAck(command: EnetCommand, sentTime: number, isDisconnect: boolean): void {
    this.#acks.push({
      channelID: command.channelID,
      reliableSequenceNumber: command.reliableSequenceNumber,
      sentTime,
      isDisconnect,
    });
  }

  #handleCommand(command: EnetCommand): void {
    switch (command.kind) {
      case "acknowledge":
        this.#handleAcknowledge(command);
        return;
      case "verifyConnect":
        this.#handleVerifyConnect(command);
        return;
      case "disconnect":
        this.#handleDisconnect(command);
        return;
      case "connect":
        // A repeated CONNECT for an existing connection: ENet stops here; so do we.
        return;
      case "ping":
      case "bandwidthLimit":
      case "throttleConfigure":
        return;
      case "sendReliable":
        if (!this.#canReceiveData()) return;
        this.#handleReliable(command.channelID, command.reliableSequenceNumber, { kind: "whole", data: command.data });
        return;
      case "sendFragment":
        if (!this.#canReceiveData()) return;
        this.#handleFragment(command);
        return;
      case "sendUnreliable":
        if (!this.#canReceiveData()) return;
        this.#handleUnreliable(command);
        return;
      case "sendUnsequenced":
        if (!this.#canReceiveData()) return;
        this.#handleUnsequenced(command);
        return;
      case "sendUnreliableFragment":
        // Neither Moonlight nor Sunshine sends these; dropping one is always legal.
        this.stats.protocolErrors++;
        return;
    }
  }

  #canReceiveData(): boolean {
    return this.#state === "connected" || this.#state === "disconnect-later";
  }

  #handleAcknowledge(command: EnetCommandOf<"acknowledge">): void {
    const now = this.#transport.now();
    // Rebuild the full timestamp from its low 16 bits (the ACK echoes our own sentTime).
    let sent = now - (now % 0x10000) + command.receivedSentTime;
    if ((command.receivedSentTime & 0x8000) > (now & 0x8000)) sent -= 0x10000;
    if (sent > now) return;
    const roundTrip = Math.max(1, now - sent);
    if (this.#lastReceiveTime > 0) {
      this.#roundTripTimeVariance -= Math.floor(this.#roundTripTimeVariance / 4);
      if (roundTrip >= this.#roundTripTime) {
        const diff = roundTrip - this.#roundTripTime;
        this.#roundTripTimeVariance += Math.floor(diff / 4);
        this.#roundTripTime += Math.floor(diff / 8);
      } else {
        const diff = this.#roundTripTime - roundTrip;
        this.#roundTripTimeVariance += Math.floor(diff / 4);
        this.#roundTripTime -= Math.floor(diff / 8);
      }
    } else {
      this.#roundTripTime = roundTrip;
      this.#roundTripTimeVariance = Math.floor((roundTrip + 1) / 2);
    }
    this.stats.roundTripTimeMs = this.#roundTripTime;
    this.stats.roundTripTimeVarianceMs = this.#roundTripTimeVariance;
    this.#lastReceiveTime = now;
    this.#earliestTimeout = 0;
    const acked = this.#removeSentReliable(command.receivedReliableSequenceNumber, command.channelID);
    switch (this.#state) {
      case "acknowledging-connect":
        if (acked !== "verifyConnect") return;
        this.#state = "connected";
        this.#emitSafely("connect", this.#connectData);
        return;
      case "disconnecting":
        if (acked !== "disconnect") return;
        this.#finish({ reason: "local", data: 0 });
        return;
      case "disconnect-later":
        this.#maybeDisconnectLater();
        return;
      default:
        return;
    }
  }

  #removeSentReliable(sequenceNumber: number, channelID: number): EnetCommand["kind"] | undefined {
    let index = this.#sentReliable.findIndex(
      (c) => c.command.reliableSequenceNumber === sequenceNumber && c.command.channelID === channelID,
    );
    let list = this.#sentReliable;
    let wasInFlight = true;
    if (index < 0) {
      // Possibly queued again for retransmission after a timeout: the late ACK still retires it.
      index = this.#outgoing.findIndex(
        (c) => c.reliable && c.sendAttempts > 0 && c.command.reliableSequenceNumber === sequenceNumber && c.command.channelID === channelID,
      );
      list = this.#outgoing;
      wasInFlight = false;
    }
    if (index < 0) return undefined;
    const [removed] = list.splice(index, 1);
    if (removed === undefined) return undefined;
    if (wasInFlight) this.#reliableDataInTransit -= removed.payloadLength;
    const front = this.#sentReliable[0];
    if (front) this.#nextTimeout = front.sentTime + front.roundTripTimeout;
    return removed.command.kind;
  }

  #handleVerifyConnect(command: EnetCommandOf<"verifyConnect">): void {
    if (this.#state !== "connecting") return;
    if (
      command.channelCount < PROTOCOL_MINIMUM_CHANNEL_COUNT ||
      command.channelCount > PROTOCOL_MAXIMUM_CHANNEL_COUNT ||
      command.packetThrottleInterval !== this.#throttle.interval ||
      command.packetThrottleAcceleration !== this.#throttle.acceleration ||
      command.packetThrottleDeceleration !== this.#throttle.deceleration ||
      command.connectID !== this.#connectID
    ) {
      this.stats.protocolErrors++;
      this.#finish({ reason: "refused", data: 0 });
      return;
    }
    // VERIFY_CONNECT retires our CONNECT (connection-level sequence 1) without an ACK.
    this.#removeSentReliable(1, CONNECTION_CHANNEL);
    if (command.channelCount < this.#channels.length) this.#channels.length = command.channelCount;
    this.#outgoingPeerID = command.outgoingPeerID;
    this.#incomingSessionID = command.incomingSessionID;
    this.#outgoingSessionID = command.outgoingSessionID;
    const mtu = Math.max(PROTOCOL_MINIMUM_MTU, Math.min(PROTOCOL_MAXIMUM_MTU, command.mtu));
    if (mtu < this.#mtu) this.#mtu = mtu;
    const window = Math.max(PROTOCOL_MINIMUM_WINDOW_SIZE, Math.min(PROTOCOL_MAXIMUM_WINDOW_SIZE, command.windowSize));
    if (window < this.#windowSize) this.#windowSize = window;
    this.#state = "connected";
    this.#emitSafely("connect", 0);
  }

  #handleDisconnect(command: EnetCommandOf<"disconnect">): void {
    if (this.#state === "disconnected" || this.#state === "acknowledging-disconnect") return;
    this.#outgoing = [];
    this.#sentReliable = [];
    this.#reliableDataInTransit = 0;
    const info: DisconnectInfo = { reason: "remote", data: command.data };
    if (this.#state === "connected" || this.#state === "disconnect-later") {
      if ((command.flags & COMMAND_FLAG_ACKNOWLEDGE) !== 0) {
        // Answer with the ACK first; #flush finishes the peer once the ACK is out.
        this.#state = "acknowledging-disconnect";
        this.#pendingRemoteDisconnect = info;
        return;
      }
    }
    this.#finish(info);
  }

  #handleReliable(channelID: number, sequenceNumber: number, unit: ReliableUnit): void {
    const channel = this.#channels[channelID];
    if (channel === undefined) {
      this.stats.protocolErrors++;
      return;
    }
    const ahead = seqDistance(sequenceNumber, channel.incomingReliable);
    if (ahead === 0 || ahead > RELIABLE_LOOKAHEAD) return; // duplicate or far out of window
    if (!channel.pendingReliable.has(sequenceNumber)) channel.pendingReliable.set(sequenceNumber, unit);
    this.#deliverReliable(channelID, channel);
  }

  #handleFragment(command: EnetCommandOf<"sendFragment">): void {
    const valid =
      command.fragmentCount >= 1 &&
      command.fragmentCount <= PROTOCOL_MAXIMUM_FRAGMENT_COUNT &&
      command.fragmentNumber < command.fragmentCount &&
      command.totalLength <= ENET_DEFAULTS.maximumPacketSize &&
      command.fragmentOffset + command.data.byteLength <= command.totalLength &&
      seqDistance(command.reliableSequenceNumber, command.startSequenceNumber) === command.fragmentNumber;
    if (!valid) {
      this.stats.protocolErrors++;
      return;
    }
    this.#handleReliable(command.channelID, command.reliableSequenceNumber, { kind: "fragment", command });
  }

  #deliverReliable(channelID: number, channel: Channel): void {
    for (;;) {
      const next = (channel.incomingReliable + 1) & 0xffff;
      const unit = channel.pendingReliable.get(next);
      if (unit === undefined) break;
      if (unit.kind === "whole") {
        channel.pendingReliable.delete(next);
        this.#advanceEpoch(channel, next);
        this.#emitSafely("receive", channelID, unit.data.slice(), "reliable");
      } else {
        const first = unit.command;
        if (first.fragmentNumber !== 0) {
          channel.pendingReliable.delete(next);
          this.stats.protocolErrors++;
          break;
        }
        const assembled = this.#assemble(channel, first);
        if (assembled === undefined) break;
        this.#advanceEpoch(channel, (next + first.fragmentCount - 1) & 0xffff);
        this.#emitSafely("receive", channelID, assembled, "reliable");
      }
      this.#deliverPendingUnreliable(channelID, channel);
    }
  }

  /** Joins a complete fragment run starting at `first`, or returns undefined if one is missing. */
  #assemble(channel: Channel, first: EnetCommandOf<"sendFragment">): Uint8Array | undefined {
    const parts: EnetCommandOf<"sendFragment">[] = [];
    for (let i = 0; i < first.fragmentCount; i++) {
      const unit = channel.pendingReliable.get((first.reliableSequenceNumber + i) & 0xffff);
      if (unit === undefined) return undefined;
      if (
        unit.kind !== "fragment" ||
        unit.command.startSequenceNumber !== first.startSequenceNumber ||
        unit.command.fragmentCount !== first.fragmentCount ||
        unit.command.totalLength !== first.totalLength
      ) {
        this.stats.protocolErrors++;
        return undefined;
      }
      parts.push(unit.command);
    }
    const out = new Uint8Array(first.totalLength);
    for (const part of parts) {
      out.set(part.data, part.fragmentOffset);
      channel.pendingReliable.delete(part.reliableSequenceNumber);
    }
    return out;
  }

  #advanceEpoch(channel: Channel, delivered: number): void {
    channel.incomingReliable = delivered;
    channel.incomingUnreliable = 0;
  }

  #handleUnreliable(command: EnetCommandOf<"sendUnreliable">): void {
    const channel = this.#channels[command.channelID];
    if (channel === undefined) {
      this.stats.protocolErrors++;
      return;
    }
    const epochAhead = seqDistance(command.reliableSequenceNumber, channel.incomingReliable);
    if (epochAhead === 0) {
      const ahead = seqDistance(command.unreliableSequenceNumber, channel.incomingUnreliable);
      if (ahead === 0 || ahead >= 0x8000) return; // not newer than the last delivered
      channel.incomingUnreliable = command.unreliableSequenceNumber;
      this.#emitSafely("receive", command.channelID, command.data.slice(), "unreliable");
    } else if (epochAhead <= RELIABLE_LOOKAHEAD && channel.pendingUnreliable.length < MAX_PENDING_UNRELIABLE) {
      // Sent after a reliable packet we have not delivered yet: hold it until that happens.
      channel.pendingUnreliable.push({
        reliableSequenceNumber: command.reliableSequenceNumber,
        unreliableSequenceNumber: command.unreliableSequenceNumber,
        data: command.data.slice(),
      });
    }
  }

  #deliverPendingUnreliable(channelID: number, channel: Channel): void {
    if (channel.pendingUnreliable.length === 0) return;
    const keep: PendingUnreliable[] = [];
    const now: PendingUnreliable[] = [];
    for (const p of channel.pendingUnreliable) {
      const epochAhead = seqDistance(p.reliableSequenceNumber, channel.incomingReliable);
      if (epochAhead === 0) now.push(p);
      else if (epochAhead <= RELIABLE_LOOKAHEAD) keep.push(p);
    }
    channel.pendingUnreliable = keep;
    now.sort((a, b) => a.unreliableSequenceNumber - b.unreliableSequenceNumber);
    for (const p of now) {
      const ahead = seqDistance(p.unreliableSequenceNumber, channel.incomingUnreliable);
      if (ahead === 0 || ahead >= 0x8000) continue;
      channel.incomingUnreliable = p.unreliableSequenceNumber;
      this.#emitSafely("receive", channelID, p.data, "unreliable");
    }
  }

  #handleUnsequenced(command: EnetCommandOf<"sendUnsequenced">): void {
    if (command.channelID >= this.#channels.length) {
      this.stats.protocolErrors++;
      return;
    }
    let group = command.unsequencedGroup;
    const index = group % UNSEQUENCED_WINDOW_SIZE;
    if (group < this.#incomingUnsequencedGroup) group += 0x10000;
    if (group >= this.#incomingUnsequencedGroup + FREE_UNSEQUENCED_WINDOWS * UNSEQUENCED_WINDOW_SIZE) return;
    group &= 0xffff;
    if (group - index !== this.#incomingUnsequencedGroup) {
      this.#incomingUnsequencedGroup = group - index;
      this.#unsequencedWindow.fill(0);
    } else if ((this.#unsequencedWindow[index >> 5]! & (1 << (index & 31))) !== 0) {
      return; // duplicate
    }
    this.#unsequencedWindow[index >> 5]! |= 1 << (index & 31);
    this.#emitSafely("receive", command.channelID, command.data.slice(), "unsequenced");
  }

  // ---------------------------------------------------------------------------------------------
  // Send path

  /**
   * Writes everything due into datagrams: ACKs first, then retransmissions and queued commands,
   * then a keep-alive PING if the line has been quiet. Returns false if the peer timed out.
   */
  flush(now: number): boolean {
    for (;;) {
      if (this.#state === "disconnected") return false;
      let offset = DATAGRAM_HEADER_SIZE;
      let needsSentTime = false;
      let commands = 0;
      let ackedDisconnect = false;
      while (this.#acks.length > 0 && offset + 8 <= this.#mtu) {
        const ack = this.#acks.shift()!;
        offset += writeCommand(this.#scratch, offset, {
          kind: "acknowledge",
          flags: 0,
          channelID: ack.channelID,
          reliableSequenceNumber: ack.reliableSequenceNumber,
          receivedReliableSequenceNumber: ack.reliableSequenceNumber,
          receivedSentTime: ack.sentTime & 0xffff,
        });
        commands++;
        if (ack.isDisconnect) ackedDisconnect = true;
      }
      if (this.#sentReliable.length > 0 && now >= this.#nextTimeout && this.#checkTimeouts(now)) {
        this.#finish({ reason: this.#state === "disconnecting" ? "local" : "timeout", data: 0 });
        return false;
      }
      let more = false;
      const written = this.#writeOutgoing(now, offset);
      offset = written.offset;
      commands += written.commands;
      needsSentTime ||= written.reliable;
      more ||= written.more;
      if (
        !more &&
        this.#outgoing.length === 0 &&
        this.#sentReliable.length === 0 &&
        this.#state === "connected" &&
        now - this.#lastReceiveTime >= this.#pingIntervalMs &&
        offset + commandSize("ping") <= this.#mtu
      ) {
        this.ping();
        const pinged = this.#writeOutgoing(now, offset);
        offset = pinged.offset;
        commands += pinged.commands;
        needsSentTime ||= pinged.reliable;
      }
      if (commands === 0) return true;
      this.#transmitFrom(needsSentTime ? 0 : 2, offset, needsSentTime, now);
      this.stats.commandsSent += commands;
      if (ackedDisconnect && this.#state === "acknowledging-disconnect") {
        this.#finish(this.#pendingRemoteDisconnect ?? { reason: "remote", data: 0 });
        return false;
      }
      if (this.#state === "disconnect-later") this.#maybeDisconnectLater();
      if (!more && this.#acks.length === 0) return true;
    }
  }

  /** Prepends the datagram header to the commands at [DATAGRAM_HEADER_SIZE, end) and sends them. */
  #transmitFrom(start: number, end: number, withSentTime: boolean, now: number): void {
    writeDatagramHeader(this.#scratch, start, {
      peerID: this.#outgoingPeerID,
      sessionID: this.#outgoingPeerID < PROTOCOL_MAXIMUM_PEER_ID ? this.#outgoingSessionID : 0,
      compressed: false,
      sentTime: withSentTime ? now & 0xffff : undefined,
    });
    this.stats.datagramsSent++;
    // A fresh copy: the socket may still read it after we reuse the scratch buffer.
    this.#transport.transmit(this, this.#scratch.slice(start, end));
  }

  #maybeDisconnectLater(): void {
    if (this.#state === "disconnect-later" && this.#outgoing.length === 0 && this.#sentReliable.length === 0) {
      this.#beginDisconnect();
      this.#transport.scheduleFlush();
    }
  }

  #writeOutgoing(now: number, start: number): { offset: number; commands: number; reliable: boolean; more: boolean } {
    let offset = start;
    let commands = 0;
    let reliable = false;
    let more = false;
    let windowExceeded = false;
    for (let i = 0; i < this.#outgoing.length; ) {
      const out = this.#outgoing[i]!;
      if (out.reliable && out.payloadLength > 0) {
        if (!windowExceeded && this.#reliableDataInTransit + out.payloadLength > Math.max(this.#windowSize, this.#mtu)) {
          windowExceeded = true;
        }
        if (windowExceeded) {
          i++;
          continue;
        }
      }
      const length = encodedCommandLength(out.command);
      if (offset + length > this.#mtu) {
        more = true;
        break;
      }
      offset += writeCommand(this.#scratch, offset, out.command);
      commands++;
      this.#outgoing.splice(i, 1);
      if (out.reliable) {
        reliable = true;
        if (out.sendAttempts > 0) this.stats.retransmissions++;
        out.sendAttempts++;
        if (out.roundTripTimeout === 0) {
          out.roundTripTimeout = this.#roundTripTime + 4 * Math.max(1, this.#roundTripTimeVariance);
          out.roundTripTimeoutLimit = this.#timeouts.limit * out.roundTripTimeout;
        }
        if (this.#sentReliable.length === 0) this.#nextTimeout = now + out.roundTripTimeout;
        out.sentTime = now;
        this.#sentReliable.push(out);
        this.#reliableDataInTransit += out.payloadLength;
      }
    }
    return { offset, commands, reliable, more };
  }

  /** ENet's timeout walk: requeue expired commands with a doubled timeout, or declare the peer dead. */
  #checkTimeouts(now: number): boolean {
    const expired: OutgoingCommand[] = [];
    const stillWaiting: OutgoingCommand[] = [];
    for (const out of this.#sentReliable) {
      if (now - out.sentTime < out.roundTripTimeout) {
        stillWaiting.push(out);
        continue;
      }
      if (this.#earliestTimeout === 0 || out.sentTime < this.#earliestTimeout) this.#earliestTimeout = out.sentTime;
      const waited = now - this.#earliestTimeout;
      if (
        waited >= this.#timeouts.maximumMs ||
        (out.roundTripTimeout >= out.roundTripTimeoutLimit && waited >= this.#timeouts.minimumMs)
      ) {
        log.debug(`peer ${this.address}:${this.port} timed out after ${waited} ms`);
        return true;
      }
      this.#reliableDataInTransit -= out.payloadLength;
      out.roundTripTimeout = Math.min(out.roundTripTimeout * 2, out.roundTripTimeoutLimit);
      expired.push(out);
    }
    if (expired.length === 0) return false;
    this.#sentReliable = stillWaiting;
    this.#outgoing.unshift(...expired);
    const front = this.#sentReliable[0];
    if (front) this.#nextTimeout = front.sentTime + front.roundTripTimeout;
    return false;
  }

  #emitSafely<K extends keyof EnetPeerEvents>(event: K, ...args: EnetPeerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: EnetPeerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      log.error(`enet peer ${String(event)} listener threw`, error);
    }
  }

  /** For tests and diagnostics: the connect parameters this peer negotiated. */
  describe(): Pick<ConnectParameters, "mtu" | "windowSize" | "channelCount" | "incomingSessionID" | "outgoingSessionID" | "outgoingPeerID"> {
    return {
      mtu: this.#mtu,
      windowSize: this.#windowSize,
      channelCount: this.#channels.length,
      incomingSessionID: this.#incomingSessionID,
      outgoingSessionID: this.#outgoingSessionID,
      outgoingPeerID: this.#outgoingPeerID,
    };
  }
}
