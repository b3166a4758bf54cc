/**
 * Control-stream messages of Sunshine-gen sessions (reference §4.3): the type table, payload
 * codecs for both directions, ENet channel usage (§3.5) and termination codes. These are the
 * plaintext (type, payload) pairs that travel inside the control-crypto envelope.
 *
 * All payload integers are little-endian except the termination HRESULT (u32be) and the
 * client→host FEC status (all big-endian).
 */

export const ControlMessageType = {
  /** Start A and "request IDR" are the same message (Start A on ch 0, IDR requests on ch 1). */
  requestIdr: 0x0302,
  startB: 0x0307,
  periodicPing: 0x0200,
  invalidateReferenceFrames: 0x0301,
  ltrFrameAck: 0x0350,
  fecStatus: 0x5502,
  input: 0x0206,
  lossStats: 0x0201,
  frameStats: 0x0204,
  termination: 0x0109,
  rumble: 0x010b,
  hdrMode: 0x010e,
  rumbleTriggers: 0x5500,
  setMotionEventState: 0x5501,
  setControllerLed: 0x5502,
  adaptiveTriggers: 0x5503,
} as const;

/** ENet channels Moonlight uses towards Sunshine-gen hosts (GFE gets everything on 0). */
export const ControlChannel = {
  generic: 0x00,
  urgent: 0x01,
  keyboard: 0x02,
  mouse: 0x03,
  pen: 0x04,
  touch: 0x05,
  utf8: 0x06,
  /** + controller number 0–15 */
  gamepadBase: 0x10,
  /** + controller number 0–15 (motion samples) */
  sensorBase: 0x20,
} as const;

/** Channels Moonlight asks for in its ENet CONNECT. */
export const CONTROL_CHANNEL_COUNT = 48;

export type ControlMessageDirection = "client-to-host" | "host-to-client";

/** SS_HDR_METADATA: primaries normalised to 50000, luminances in nits (min in 1/10000 nit). */
export interface HdrMetadata {
  displayPrimaries: [{ x: number; y: number }, { x: number; y: number }, { x: number; y: number }];
  whitePoint: { x: number; y: number };
  maxDisplayLuminance: number;
  minDisplayLuminance: number;
  maxContentLightLevel: number;
  maxFrameAverageLightLevel: number;
  maxFullFrameLuminance: number;
}

export interface FecStatus {
  frameIndex: number;
  highestReceivedSequenceNumber: number;
  nextContiguousSequenceNumber: number;
  missingPacketsBeforeHighestReceived: number;
  totalDataPackets: number;
  totalParityPackets: number;
  receivedDataPackets: number;
  receivedParityPackets: number;
  fecPercentage: number;
  multiFecBlockIndex: number;
  multiFecBlockCount: number;
}

export type ControlMessage =
  // client → host
  | { kind: "requestIdr" }
  | { kind: "startB" }
  | { kind: "periodicPing" }
  | { kind: "invalidateReferenceFrames"; firstFrameIndex: number; lastFrameIndex: number }
  | { kind: "ltrFrameAck"; frameIndex: number }
  | ({ kind: "fecStatus" } & FecStatus)
  | { kind: "input"; packet: Uint8Array }
  | { kind: "lossStats"; lastGoodFrame: number }
  // host → client
  | { kind: "termination"; errorCode: number; extended: boolean }
  | { kind: "rumble"; controllerNumber: number; lowFrequencyMotor: number; highFrequencyMotor: number }
  | { kind: "hdrMode"; enabled: boolean; metadata: HdrMetadata | undefined }
  | { kind: "rumbleTriggers"; controllerNumber: number; leftTrigger: number; rightTrigger: number }
  | { kind: "setMotionEventState"; controllerNumber: number; reportRateHz: number; motionType: number }
  | { kind: "setControllerLed"; controllerNumber: number; red: number; green: number; blue: number }
  | {
      kind: "adaptiveTriggers";
      controllerNumber: number;
      eventFlags: number;
      typeLeft: number;
      typeRight: number;
      left: Uint8Array;
      right: Uint8Array;
    }
  | { kind: "unknown"; type: number; payload: Uint8Array };

export type ControlMessageKind = ControlMessage["kind"];

export class ControlMessageFormatError extends Error {
  override name = "ControlMessageFormatError";
}

/** HRESULTs the client maps to its own error codes (§4.3). */
export const TerminationCode = {
  serverTerminatedClosed: 0x80030023,
  protectedContent: 0x800e9302,
  frameConversionFailed: 0x800e9403,
  /** Legacy 16-bit reason "intended". */
  legacyIntended: 0x0100,
} as const;

export interface TerminationReason {
  /** Moonlight's client error code: 0 graceful, −103 protected content, −104 frame conversion… */
  code: number;
  reason: string;
}

/**
 * Maps a termination message's error code to Moonlight's client code and a readable reason.
 * (Moonlight reports −102 instead of 0 when no video frame had been seen; that is session
 * knowledge, applied by the caller.)
 */
export function terminationReason(errorCode: number, extended = true): TerminationReason {
  if (!extended) {
    return errorCode === TerminationCode.legacyIntended
      ? { code: 0, reason: "host ended the session" }
      : { code: errorCode, reason: `host terminated the session (reason 0x${errorCode.toString(16)})` };
  }
  switch (errorCode >>> 0) {
    case TerminationCode.serverTerminatedClosed:
      return { code: 0, reason: "host ended the session" };
    case TerminationCode.protectedContent:
      return { code: -103, reason: "host is showing protected content" };
    case TerminationCode.frameConversionFailed:
      return { code: -104, reason: "host failed to convert a video frame" };
    default:
      return { code: errorCode | 0, reason: `host terminated the session (HRESULT 0x${(errorCode >>> 0).toString(16)})` };
  }
}

/** ENet channel a client→host message goes out on (§3.5). Input packets choose their own. */
export function channelForMessage(message: ControlMessage): number {
  switch (message.kind) {
    case "invalidateReferenceFrames":
    case "ltrFrameAck":
    case "requestIdr":
      return ControlChannel.urgent;
    default:
      return ControlChannel.generic;
  }
}

const u8 = (length: number) => {
  const bytes = new Uint8Array(length);
  return { bytes, view: new DataView(bytes.buffer) };
};

export function serializeControlMessage(message: ControlMessage): { type: number; payload: Uint8Array } {
  const T = ControlMessageType;
  switch (message.kind) {
    case "requestIdr":
      return { type: T.requestIdr, payload: new Uint8Array(2) };
    case "startB":
      return { type: T.startB, payload: new Uint8Array(1) };
    case "periodicPing": {
      // u16le 4, u32le 0, then two bytes the reference client leaves uninitialised (we send 0).
      const { bytes, view } = u8(8);
      view.setUint16(0, 4, true);
      return { type: T.periodicPing, payload: bytes };
    }
    case "invalidateReferenceFrames": {
      // Two s64le (first, last) as Sunshine reads them, then 8 zero bytes.
      const { bytes, view } = u8(24);
      writeInt64(view, 0, message.firstFrameIndex);
      writeInt64(view, 8, message.lastFrameIndex);
      return { type: T.invalidateReferenceFrames, payload: bytes };
    }
    case "ltrFrameAck": {
      const { bytes, view } = u8(8);
      view.setUint32(0, message.frameIndex >>> 0, true);
      return { type: T.ltrFrameAck, payload: bytes };
    }
    case "fecStatus": {
      const { bytes, view } = u8(21);
      view.setUint32(0, message.frameIndex >>> 0);
      view.setUint16(4, message.highestReceivedSequenceNumber);
      view.setUint16(6, message.nextContiguousSequenceNumber);
      view.setUint16(8, message.missingPacketsBeforeHighestReceived);
      view.setUint16(10, message.totalDataPackets);
      view.setUint16(12, message.totalParityPackets);
      view.setUint16(14, message.receivedDataPackets);
      view.setUint16(16, message.receivedParityPackets);
      view.setUint8(18, message.fecPercentage);
      view.setUint8(19, message.multiFecBlockIndex);
      view.setUint8(20, message.multiFecBlockCount);
      return { type: T.fecStatus, payload: bytes };
    }
    case "input":
      return { type: T.input, payload: message.packet };
    case "lossStats": {
      // u32le 0, u32le 50 (ms interval), u32le 1000, u64le lastGoodFrame, u32le 0, u32le 0, u32le 0x14
      const { bytes, view } = u8(32);
      view.setUint32(4, 50, true);
      view.setUint32(8, 1000, true);
      writeInt64(view, 12, message.lastGoodFrame);
      view.setUint32(28, 0x14, true);
      return { type: T.lossStats, payload: bytes };
    }
    case "termination": {
      if (message.extended) {
        const { bytes, view } = u8(4);
        view.setUint32(0, message.errorCode >>> 0);
        return { type: T.termination, payload: bytes };
      }
      const { bytes, view } = u8(2);
      view.setUint16(0, message.errorCode, true);
      return { type: T.termination, payload: bytes };
    }
    case "rumble": {
      // 4 unused bytes (Sunshine writes 0x00C0FFEE), controller, low, high.
      const { bytes, view } = u8(10);
      view.setUint32(0, 0x00c0ffee, true);
      view.setUint16(4, message.controllerNumber, true);
      view.setUint16(6, message.lowFrequencyMotor, true);
      view.setUint16(8, message.highFrequencyMotor, true);
      return { type: T.rumble, payload: bytes };
    }
    case "hdrMode": {
      const { bytes, view } = u8(message.metadata ? 27 : 1);
      view.setUint8(0, message.enabled ? 1 : 0);
      if (message.metadata) {
        const m = message.metadata;
        const values = [
          ...m.displayPrimaries.flatMap((p) => [p.x, p.y]),
          m.whitePoint.x,
          m.whitePoint.y,
          m.maxDisplayLuminance,
          m.minDisplayLuminance,
          m.maxContentLightLevel,
          m.maxFrameAverageLightLevel,
          m.maxFullFrameLuminance,
        ];
        values.forEach((v, i) => view.setUint16(1 + 2 * i, v, true));
      }
      return { type: T.hdrMode, payload: bytes };
    }
    case "rumbleTriggers": {
      const { bytes, view } = u8(6);
      view.setUint16(0, message.controllerNumber, true);
      view.setUint16(2, message.leftTrigger, true);
      view.setUint16(4, message.rightTrigger, true);
      return { type: T.rumbleTriggers, payload: bytes };
    }
    case "setMotionEventState": {
      const { bytes, view } = u8(5);
      view.setUint16(0, message.controllerNumber, true);
      view.setUint16(2, message.reportRateHz, true);
      view.setUint8(4, message.motionType);
      return { type: T.setMotionEventState, payload: bytes };
    }
    case "setControllerLed": {
      const { bytes, view } = u8(5);
      view.setUint16(0, message.controllerNumber, true);
      bytes[2] = message.red;
      bytes[3] = message.green;
      bytes[4] = message.blue;
      return { type: T.setControllerLed, payload: bytes };
    }
    case "adaptiveTriggers": {
      const { bytes, view } = u8(25);
      view.setUint16(0, message.controllerNumber, true);
      bytes[2] = message.eventFlags;
      bytes[3] = message.typeLeft;
      bytes[4] = message.typeRight;
      bytes.set(message.left.subarray(0, 10), 5);
      bytes.set(message.right.subarray(0, 10), 15);
      return { type: T.adaptiveTriggers, payload: bytes };
    }
    case "unknown":
      return { type: message.type, payload: message.payload };
  }
}

/**
 * Decodes one decrypted (type, payload). `direction` disambiguates 0x5502 (FEC status c→h,
 * controller LED h→c). Unknown types come back as `unknown`; a known type with a payload too
 * short for its fixed fields throws ControlMessageFormatError.
 */
export function parseControlMessage(type: number, payload: Uint8Array, direction: ControlMessageDirection): ControlMessage {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const need = (n: number) => {
    if (payload.byteLength < n) {
      throw new ControlMessageFormatError(`control type 0x${type.toString(16)}: ${payload.byteLength} bytes, need ${n}`);
    }
  };
  const T = ControlMessageType;
  if (direction === "client-to-host") {
    switch (type) {
      case T.requestIdr:
        return { kind: "requestIdr" };
      case T.startB:
        return { kind: "startB" };
      case T.periodicPing:
        return { kind: "periodicPing" };
      case T.invalidateReferenceFrames:
        need(16);
        return { kind: "invalidateReferenceFrames", firstFrameIndex: readInt64(view, 0), lastFrameIndex: readInt64(view, 8) };
      case T.ltrFrameAck:
        need(4);
        return { kind: "ltrFrameAck", frameIndex: view.getUint32(0, true) };
      case T.fecStatus:
        need(21);
        return {
          kind: "fecStatus",
          frameIndex: view.getUint32(0),
          highestReceivedSequenceNumber: view.getUint16(4),
          nextContiguousSequenceNumber: view.getUint16(6),
          missingPacketsBeforeHighestReceived: view.getUint16(8),
          totalDataPackets: view.getUint16(10),
          totalParityPackets: view.getUint16(12),
          receivedDataPackets: view.getUint16(14),
          receivedParityPackets: view.getUint16(16),
          fecPercentage: view.getUint8(18),
          multiFecBlockIndex: view.getUint8(19),
          multiFecBlockCount: view.getUint8(20),
        };
      case T.input:
        return { kind: "input", packet: payload };
      case T.lossStats:
        need(20);
        return { kind: "lossStats", lastGoodFrame: readInt64(view, 12) };
      default:
        return { kind: "unknown", type, payload };
    }
  }
  switch (type) {
    case T.termination:
      if (payload.byteLength >= 4) return { kind: "termination", errorCode: view.getUint32(0), extended: true };
      need(2);
      return { kind: "termination", errorCode: view.getUint16(0, true), extended: false };
    case T.rumble:
      need(10);
      return {
        kind: "rumble",
        controllerNumber: view.getUint16(4, true),
        lowFrequencyMotor: view.getUint16(6, true),
        highFrequencyMotor: view.getUint16(8, true),
      };
    case T.hdrMode: {
      need(1);
      const enabled = view.getUint8(0) !== 0;
      if (payload.byteLength === 1) return { kind: "hdrMode", enabled, metadata: undefined };
      // Fields a shorter message omits read as zero, as the reference client does.
      const field = (i: number) => (1 + 2 * i + 2 <= payload.byteLength ? view.getUint16(1 + 2 * i, true) : 0);
      return {
        kind: "hdrMode",
        enabled,
        metadata: {
          displayPrimaries: [
            { x: field(0), y: field(1) },
            { x: field(2), y: field(3) },
            { x: field(4), y: field(5) },
          ],
          whitePoint: { x: field(6), y: field(7) },
          maxDisplayLuminance: field(8),
          minDisplayLuminance: field(9),
          maxContentLightLevel: field(10),
          maxFrameAverageLightLevel: field(11),
          maxFullFrameLuminance: field(12),
        },
      };
    }
    case T.rumbleTriggers:
      need(6);
      return {
        kind: "rumbleTriggers",
        controllerNumber: view.getUint16(0, true),
        leftTrigger: view.getUint16(2, true),
        rightTrigger: view.getUint16(4, true),
      };
    case T.setMotionEventState:
      need(5);
      return {
        kind: "setMotionEventState",
        controllerNumber: view.getUint16(0, true),
        reportRateHz: view.getUint16(2, true),
        motionType: view.getUint8(4),
      };
    case T.setControllerLed:
      need(5);
      return {
        kind: "setControllerLed",
        controllerNumber: view.getUint16(0, true),
        red: view.getUint8(2),
        green: view.getUint8(3),
        blue: view.getUint8(4),
      };
    case T.adaptiveTriggers:
      need(25);
      return {
        kind: "adaptiveTriggers",
        controllerNumber: view.getUint16(0, true),
        eventFlags: view.getUint8(2),
        typeLeft: view.getUint8(3),
        typeRight: view.getUint8(4),
        left: payload.slice(5, 15),
        right: payload.slice(15, 25),
      };
    default:
      return { kind: "unknown", type, payload };
  }
}

/** Frame indices fit in 53 bits comfortably; written as two's-complement 64-bit little-endian. */
function writeInt64(view: DataView, at: number, value: number): void {
  view.setBigInt64(at, BigInt(Math.trunc(value)), true);
}

function readInt64(view: DataView, at: number): number {
  return Number(view.getBigInt64(at, true));
}
