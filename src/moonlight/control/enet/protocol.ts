/**
 * ENet 1.3 wire format (the dialect of cgutman/enet used by Moonlight and Sunshine/Wolf on the
 * control port): datagram header and the twelve command codecs. No checksum, no compression —
 * neither side enables them. All integers are big-endian.
 *
 * Datagram:
 *   u16 peerID | sessionID << 12 | COMPRESSED 0x4000 | SENT_TIME 0x8000
 *   [u16 sentTime]                      present only when SENT_TIME is set
 *   command*                            walked until the datagram is exhausted
 *
 * Command header (4 bytes): u8 command (bits 0–3 number, 0x80 ACKNOWLEDGE, 0x40 UNSEQUENCED),
 *   u8 channelID (0xFF = connection level), u16 reliableSequenceNumber. Bodies are listed per
 *   command below; payload bytes follow the fixed part of SEND_* commands.
 */

export const PROTOCOL_MINIMUM_MTU = 576;
export const PROTOCOL_MAXIMUM_MTU = 4096;
export const PROTOCOL_MINIMUM_WINDOW_SIZE = 4096;
export const PROTOCOL_MAXIMUM_WINDOW_SIZE = 65536;
export const PROTOCOL_MINIMUM_CHANNEL_COUNT = 1;
export const PROTOCOL_MAXIMUM_CHANNEL_COUNT = 255;
export const PROTOCOL_MAXIMUM_PEER_ID = 0xfff;
export const PROTOCOL_MAXIMUM_FRAGMENT_COUNT = 1024 * 1024;
/** Channel id of connection-level commands (CONNECT, VERIFY_CONNECT, PING, DISCONNECT, …). */
export const CONNECTION_CHANNEL = 0xff;

export const HEADER_FLAG_COMPRESSED = 0x4000;
export const HEADER_FLAG_SENT_TIME = 0x8000;
export const HEADER_SESSION_MASK = 0x3000;
export const HEADER_SESSION_SHIFT = 12;

export const COMMAND_FLAG_ACKNOWLEDGE = 0x80;
export const COMMAND_FLAG_UNSEQUENCED = 0x40;
export const COMMAND_MASK = 0x0f;

export const CommandNumber = {
  acknowledge: 1,
  connect: 2,
  verifyConnect: 3,
  disconnect: 4,
  ping: 5,
  sendReliable: 6,
  sendUnreliable: 7,
  sendFragment: 8,
  sendUnsequenced: 9,
  bandwidthLimit: 10,
  throttleConfigure: 11,
  sendUnreliableFragment: 12,
} as const;
export type CommandKind = keyof typeof CommandNumber;

/** Fixed size of each command including its 4-byte header, indexed by command number. */
const COMMAND_SIZES = [0, 8, 48, 44, 8, 4, 6, 8, 24, 8, 12, 16, 24] as const;
const KIND_BY_NUMBER: readonly (CommandKind | undefined)[] = [
  undefined,
  "acknowledge",
  "connect",
  "verifyConnect",
  "disconnect",
  "ping",
  "sendReliable",
  "sendUnreliable",
  "sendFragment",
  "sendUnsequenced",
  "bandwidthLimit",
  "throttleConfigure",
  "sendUnreliableFragment",
];

export function commandSize(kind: CommandKind): number {
  return COMMAND_SIZES[CommandNumber[kind]];
}

export class EnetMalformedError extends Error {
  override name = "EnetMalformedError";
}

interface CommandBase {
  /** The two flag bits of the command byte (ACKNOWLEDGE 0x80, UNSEQUENCED 0x40). */
  flags: number;
  channelID: number;
  reliableSequenceNumber: number;
}

/** Parameters shared by CONNECT and VERIFY_CONNECT. */
export interface ConnectParameters {
  outgoingPeerID: number;
  incomingSessionID: number;
  outgoingSessionID: number;
  mtu: number;
  windowSize: number;
  channelCount: number;
  incomingBandwidth: number;
  outgoingBandwidth: number;
  packetThrottleInterval: number;
  packetThrottleAcceleration: number;
  packetThrottleDeceleration: number;
  /** Opaque 32 bits echoed byte for byte; kept as the big-endian reading of those bytes. */
  connectID: number;
}

/** Fields shared by SEND_FRAGMENT and SEND_UNRELIABLE_FRAGMENT. */
export interface FragmentFields {
  startSequenceNumber: number;
  fragmentCount: number;
  fragmentNumber: number;
  totalLength: number;
  fragmentOffset: number;
  data: Uint8Array;
}

export type EnetCommand =
  | (CommandBase & { kind: "acknowledge"; receivedReliableSequenceNumber: number; receivedSentTime: number })
  | (CommandBase & ConnectParameters & { kind: "connect"; data: number })
  | (CommandBase & ConnectParameters & { kind: "verifyConnect" })
  | (CommandBase & { kind: "disconnect"; data: number })
  | (CommandBase & { kind: "ping" })
  | (CommandBase & { kind: "sendReliable"; data: Uint8Array })
  | (CommandBase & { kind: "sendUnreliable"; unreliableSequenceNumber: number; data: Uint8Array })
  | (CommandBase & FragmentFields & { kind: "sendFragment" })
  | (CommandBase & { kind: "sendUnsequenced"; unsequencedGroup: number; data: Uint8Array })
  | (CommandBase & { kind: "bandwidthLimit"; incomingBandwidth: number; outgoingBandwidth: number })
  | (CommandBase & {
      kind: "throttleConfigure";
      packetThrottleInterval: number;
      packetThrottleAcceleration: number;
      packetThrottleDeceleration: number;
    })
  | (CommandBase & FragmentFields & { kind: "sendUnreliableFragment" });

export type EnetCommandOf<K extends CommandKind> = Extract<EnetCommand, { kind: K }>;

export interface DatagramHeader {
  /** The receiver's index for this connection; 0xFFF before one is assigned (CONNECT). */
  peerID: number;
  sessionID: number;
  compressed: boolean;
  /** Low 16 bits of the sender's millisecond clock; present when a command needs an ACK. */
  sentTime: number | undefined;
}

export interface Datagram {
  header: DatagramHeader;
  commands: EnetCommand[];
}

/** Bytes a command occupies on the wire, payload included. */
export function encodedCommandLength(command: EnetCommand): number {
  const fixed = COMMAND_SIZES[CommandNumber[command.kind]];
  return "data" in command && command.data instanceof Uint8Array ? fixed + command.data.byteLength : fixed;
}

/** Parses one datagram. Throws EnetMalformedError on a short header, unknown or truncated command. */
export function parseDatagram(bytes: Uint8Array): Datagram {
  if (bytes.byteLength < 2) throw new EnetMalformedError(`datagram of ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = view.getUint16(0);
  const hasSentTime = (word & HEADER_FLAG_SENT_TIME) !== 0;
  let offset = hasSentTime ? 4 : 2;
  if (bytes.byteLength < offset) throw new EnetMalformedError("datagram shorter than its header");
  const header: DatagramHeader = {
    peerID: word & PROTOCOL_MAXIMUM_PEER_ID,
    sessionID: (word & HEADER_SESSION_MASK) >> HEADER_SESSION_SHIFT,
    compressed: (word & HEADER_FLAG_COMPRESSED) !== 0,
    sentTime: hasSentTime ? view.getUint16(2) : undefined,
  };
  if (header.compressed) throw new EnetMalformedError("compressed datagrams are not supported");
  const commands: EnetCommand[] = [];
  while (offset < bytes.byteLength) {
    const command = parseCommand(bytes, view, offset);
    commands.push(command);
    offset += encodedCommandLength(command);
  }
  if (commands.length === 0) throw new EnetMalformedError("datagram without commands");
  return { header, commands };
}

function parseCommand(bytes: Uint8Array, view: DataView, at: number): EnetCommand {
  if (at + 4 > bytes.byteLength) throw new EnetMalformedError(`truncated command header at ${at}`);
  const byte0 = bytes[at]!;
  const kind = KIND_BY_NUMBER[byte0 & COMMAND_MASK];
  if (kind === undefined) throw new EnetMalformedError(`unknown command ${byte0 & COMMAND_MASK} at ${at}`);
  const size = COMMAND_SIZES[CommandNumber[kind]];
  if (at + size > bytes.byteLength) throw new EnetMalformedError(`truncated ${kind} at ${at}`);
  const base = {
    flags: byte0 & (COMMAND_FLAG_ACKNOWLEDGE | COMMAND_FLAG_UNSEQUENCED),
    channelID: bytes[at + 1]!,
    reliableSequenceNumber: view.getUint16(at + 2),
  };
  const b = at + 4;
  const payload = (lengthOffset: number): Uint8Array => {
    const length = view.getUint16(lengthOffset);
    const start = at + size;
    if (start + length > bytes.byteLength) throw new EnetMalformedError(`${kind} payload overruns datagram`);
    return bytes.subarray(start, start + length);
  };
  switch (kind) {
    case "acknowledge":
      return { ...base, kind, receivedReliableSequenceNumber: view.getUint16(b), receivedSentTime: view.getUint16(b + 2) };
    case "connect":
      return { ...base, kind, ...readConnectParameters(view, b), data: view.getUint32(b + 40) };
    case "verifyConnect":
      return { ...base, kind, ...readConnectParameters(view, b) };
    case "disconnect":
      return { ...base, kind, data: view.getUint32(b) };
    case "ping":
      return { ...base, kind };
    case "sendReliable":
      return { ...base, kind, data: payload(b) };
    case "sendUnreliable":
      return { ...base, kind, unreliableSequenceNumber: view.getUint16(b), data: payload(b + 2) };
    case "sendUnsequenced":
      return { ...base, kind, unsequencedGroup: view.getUint16(b), data: payload(b + 2) };
    case "sendFragment":
    case "sendUnreliableFragment":
      return {
        ...base,
        kind,
        startSequenceNumber: view.getUint16(b),
        fragmentCount: view.getUint32(b + 4),
        fragmentNumber: view.getUint32(b + 8),
        totalLength: view.getUint32(b + 12),
        fragmentOffset: view.getUint32(b + 16),
        data: payload(b + 2),
      };
    case "bandwidthLimit":
      return { ...base, kind, incomingBandwidth: view.getUint32(b), outgoingBandwidth: view.getUint32(b + 4) };
    case "throttleConfigure":
      return {
        ...base,
        kind,
        packetThrottleInterval: view.getUint32(b),
        packetThrottleAcceleration: view.getUint32(b + 4),
        packetThrottleDeceleration: view.getUint32(b + 8),
      };
  }
}

// CONNECT / VERIFY_CONNECT body: u16 outgoingPeerID, u8 incomingSessionID, u8 outgoingSessionID,
// u32 mtu, windowSize, channelCount, incomingBandwidth, outgoingBandwidth, throttle interval,
// acceleration, deceleration, connectID (+ u32 data for CONNECT).
function readConnectParameters(view: DataView, b: number): ConnectParameters {
  return {
    outgoingPeerID: view.getUint16(b),
    incomingSessionID: view.getUint8(b + 2),
    outgoingSessionID: view.getUint8(b + 3),
    mtu: view.getUint32(b + 4),
    windowSize: view.getUint32(b + 8),
    channelCount: view.getUint32(b + 12),
    incomingBandwidth: view.getUint32(b + 16),
    outgoingBandwidth: view.getUint32(b + 20),
    packetThrottleInterval: view.getUint32(b + 24),
    packetThrottleAcceleration: view.getUint32(b + 28),
    packetThrottleDeceleration: view.getUint32(b + 32),
    connectID: view.getUint32(b + 36),
  };
}

function writeConnectParameters(view: DataView, b: number, p: ConnectParameters): void {
  view.setUint16(b, p.outgoingPeerID);
  view.setUint8(b + 2, p.incomingSessionID);
  view.setUint8(b + 3, p.outgoingSessionID);
  view.setUint32(b + 4, p.mtu);
  view.setUint32(b + 8, p.windowSize);
  view.setUint32(b + 12, p.channelCount);
  view.setUint32(b + 16, p.incomingBandwidth);
  view.setUint32(b + 20, p.outgoingBandwidth);
  view.setUint32(b + 24, p.packetThrottleInterval);
  view.setUint32(b + 28, p.packetThrottleAcceleration);
  view.setUint32(b + 32, p.packetThrottleDeceleration);
  view.setUint32(b + 36, p.connectID);
}

/** Writes the 2- or 4-byte datagram header at `at`; returns its length. */
export function writeDatagramHeader(target: Uint8Array, at: number, header: DatagramHeader): number {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  let word = (header.peerID & PROTOCOL_MAXIMUM_PEER_ID) | ((header.sessionID << HEADER_SESSION_SHIFT) & HEADER_SESSION_MASK);
  if (header.compressed) word |= HEADER_FLAG_COMPRESSED;
  if (header.sentTime !== undefined) word |= HEADER_FLAG_SENT_TIME;
  view.setUint16(at, word);
  if (header.sentTime === undefined) return 2;
  view.setUint16(at + 2, header.sentTime & 0xffff);
  return 4;
}

/** Writes one command (payload included) at `at`; returns the bytes written. */
export function writeCommand(target: Uint8Array, at: number, command: EnetCommand): number {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const size = COMMAND_SIZES[CommandNumber[command.kind]];
  target[at] = CommandNumber[command.kind] | command.flags;
  target[at + 1] = command.channelID;
  view.setUint16(at + 2, command.reliableSequenceNumber);
  const b = at + 4;
  let data: Uint8Array | undefined;
  switch (command.kind) {
    case "acknowledge":
      view.setUint16(b, command.receivedReliableSequenceNumber);
      view.setUint16(b + 2, command.receivedSentTime);
      break;
    case "connect":
      writeConnectParameters(view, b, command);
      view.setUint32(b + 40, command.data);
      break;
    case "verifyConnect":
      writeConnectParameters(view, b, command);
      break;
    case "disconnect":
      view.setUint32(b, command.data);
      break;
    case "ping":
      break;
    case "sendReliable":
      view.setUint16(b, command.data.byteLength);
      data = command.data;
      break;
    case "sendUnreliable":
      view.setUint16(b, command.unreliableSequenceNumber);
      view.setUint16(b + 2, command.data.byteLength);
      data = command.data;
      break;
    case "sendUnsequenced":
      view.setUint16(b, command.unsequencedGroup);
      view.setUint16(b + 2, command.data.byteLength);
      data = command.data;
      break;
    case "sendFragment":
    case "sendUnreliableFragment":
      view.setUint16(b, command.startSequenceNumber);
      view.setUint16(b + 2, command.data.byteLength);
      view.setUint32(b + 4, command.fragmentCount);
      view.setUint32(b + 8, command.fragmentNumber);
      view.setUint32(b + 12, command.totalLength);
      view.setUint32(b + 16, command.fragmentOffset);
      data = command.data;
      break;
    case "bandwidthLimit":
      view.setUint32(b, command.incomingBandwidth);
      view.setUint32(b + 4, command.outgoingBandwidth);
      break;
    case "throttleConfigure":
      view.setUint32(b, command.packetThrottleInterval);
      view.setUint32(b + 4, command.packetThrottleAcceleration);
      view.setUint32(b + 8, command.packetThrottleDeceleration);
      break;
  }
  if (data === undefined) return size;
  target.set(data, at + size);
  return size + data.byteLength;
}

/** Serializes a whole datagram into a fresh buffer. */
export function serializeDatagram(datagram: Datagram): Uint8Array {
  let length = datagram.header.sentTime === undefined ? 2 : 4;
  for (const command of datagram.commands) length += encodedCommandLength(command);
  const out = new Uint8Array(length);
  let offset = writeDatagramHeader(out, 0, datagram.header);
  for (const command of datagram.commands) offset += writeCommand(out, offset, command);
  return out;
}
