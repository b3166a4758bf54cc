/**
 * Plane: input (this folder). No port of its own: input packets ride the control stream's ENet
 * channels (../control), one control message each.
 *
 * GameStream input packets (reference §7), Gen 5+ magic numbers as used with every Sunshine-gen
 * host. Serialized by the client into control messages of type 0x0206; parsed by the simulated
 * host for its input log.
 *
 * Every packet: u32be size (= total length − 4) ‖ u32le magic ‖ body. Body layouts (offsets from
 * the start of the packet) are written above each case of writeInputPacket. Mixed endianness is
 * deliberate: it is what the hosts read.
 */
import { ControlChannel } from "../control/control-messages.ts";

export const InputMagic = {
  keyDown: 0x00000003,
  keyUp: 0x00000004,
  mouseMoveAbsolute: 0x00000005,
  mouseMoveRelative: 0x00000007,
  mouseButtonDown: 0x00000008,
  mouseButtonUp: 0x00000009,
  scroll: 0x0000000a,
  gamepadState: 0x0000000c,
  enableHaptics: 0x0000000d,
  utf8Text: 0x00000017,
  horizontalScroll: 0x55000001,
  touch: 0x55000002,
  pen: 0x55000003,
  controllerArrival: 0x55000004,
  controllerTouch: 0x55000005,
  controllerMotion: 0x55000006,
  controllerBattery: 0x55000007,
} as const;

/** Keyboard modifier bits. */
export const KeyModifier = { shift: 0x01, ctrl: 0x02, alt: 0x04, meta: 0x08 } as const;
/** Keyboard flag: the key code is not a US-layout-normalised code (Sunshine extension). */
export const KEY_FLAG_NON_NORMALIZED = 0x01;

export const MouseButton = { left: 1, middle: 2, right: 3, x1: 4, x2: 5 } as const;

/** Gamepad button bits (low 16 bits in buttonFlags, high 16 in buttonFlags2 on the wire). */
export const GamepadButton = {
  up: 0x0001,
  down: 0x0002,
  left: 0x0004,
  right: 0x0008,
  start: 0x0010,
  back: 0x0020,
  leftStick: 0x0040,
  rightStick: 0x0080,
  leftShoulder: 0x0100,
  rightShoulder: 0x0200,
  guide: 0x0400,
  a: 0x1000,
  b: 0x2000,
  x: 0x4000,
  y: 0x8000,
  paddle1: 0x010000,
  paddle2: 0x020000,
  paddle3: 0x040000,
  paddle4: 0x080000,
  touchpad: 0x100000,
  misc: 0x200000,
} as const;

/** Touch/pen event types. */
export const TouchEventType = {
  hover: 0,
  down: 1,
  up: 2,
  move: 3,
  cancel: 4,
  buttonOnly: 5,
  hoverLeave: 6,
  cancelAll: 7,
} as const;

export const ControllerType = { unknown: 0, xbox: 1, playStation: 2, nintendo: 3, steam: 4 } as const;

export const ControllerCapability = {
  analogTriggers: 0x01,
  rumble: 0x02,
  triggerRumble: 0x04,
  touchpad: 0x08,
  accelerometer: 0x10,
  gyro: 0x20,
  batteryState: 0x40,
  rgbLed: 0x80,
  dualTouchpads: 0x100,
} as const;

export const MotionType = { accelerometer: 1, gyroscope: 2 } as const;

export const BatteryState = { unknown: 0, notPresent: 1, discharging: 2, charging: 3, notCharging: 4, full: 5 } as const;

export type InputPacket =
  | { kind: "keyboard"; action: "down" | "up"; keyCode: number; modifiers: number; flags: number }
  | { kind: "mouseMoveRelative"; deltaX: number; deltaY: number }
  /** Position in a referenceWidth × referenceHeight plane (the wire carries width−1/height−1). */
  | { kind: "mouseMoveAbsolute"; x: number; y: number; referenceWidth: number; referenceHeight: number }
  | { kind: "mouseButton"; action: "down" | "up"; button: number }
  /** Vertical scroll in high-resolution units (120 per notch, positive = up). */
  | { kind: "scroll"; amount: number }
  /** Horizontal scroll, 120 per notch, positive = right. */
  | { kind: "horizontalScroll"; amount: number }
  | {
      kind: "gamepadState";
      controllerNumber: number;
      activeGamepadMask: number;
      /** 32-bit button mask (GamepadButton). */
      buttonFlags: number;
      leftTrigger: number;
      rightTrigger: number;
      leftStickX: number;
      leftStickY: number;
      rightStickX: number;
      rightStickY: number;
    }
  | { kind: "enableHaptics" }
  | { kind: "utf8Text"; text: string }
  | { kind: "controllerArrival"; controllerNumber: number; controllerType: number; capabilities: number; supportedButtonFlags: number }
  | {
      kind: "touch";
      eventType: number;
      rotation: number;
      pointerId: number;
      x: number;
      y: number;
      pressureOrDistance: number;
      contactAreaMajor: number;
      contactAreaMinor: number;
    }
  | {
      kind: "pen";
      eventType: number;
      toolType: number;
      penButtons: number;
      x: number;
      y: number;
      pressureOrDistance: number;
      rotation: number;
      tilt: number;
      contactAreaMajor: number;
      contactAreaMinor: number;
    }
  | {
      kind: "controllerTouch";
      controllerNumber: number;
      eventType: number;
      touchpadIndex: number;
      pointerId: number;
      x: number;
      y: number;
      pressure: number;
    }
  | { kind: "controllerMotion"; controllerNumber: number; motionType: number; x: number; y: number; z: number }
  | { kind: "controllerBattery"; controllerNumber: number; batteryState: number; batteryPercentage: number };

export type InputPacketKind = InputPacket["kind"];

export class InputPacketFormatError extends Error {
  override name = "InputPacketFormatError";
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Largest input packet (touch/pen, 36 bytes; text is at most 8 + 4 per code point but may be longer). */
export const MAX_FIXED_INPUT_PACKET_LENGTH = 36;

/** Total wire length of a packet. */
export function inputPacketLength(packet: InputPacket): number {
  switch (packet.kind) {
    case "keyboard":
      return 14;
    case "mouseMoveRelative":
      return 12;
    case "mouseMoveAbsolute":
      return 18;
    case "mouseButton":
      return 9;
    case "scroll":
      return 14;
    case "horizontalScroll":
      return 10;
    case "gamepadState":
      return 34;
    case "enableHaptics":
      return 10;
    case "utf8Text":
      return 8 + textEncoder.encode(packet.text).byteLength;
    case "controllerArrival":
      return 16;
    case "touch":
    case "pen":
      return 36;
    case "controllerTouch":
      return 28;
    case "controllerMotion":
      return 24;
    case "controllerBattery":
      return 12;
  }
}

/**
 * Writes `packet` into `target` at `at` (zero-filling its reserved bytes) and returns its length.
 * Lets a sender reuse one buffer for every event.
 */
export function writeInputPacket(target: Uint8Array, at: number, packet: InputPacket): number {
  const text = packet.kind === "utf8Text" ? textEncoder.encode(packet.text) : undefined;
  const length = text ? 8 + text.byteLength : inputPacketLength(packet);
  if (at + length > target.byteLength) throw new RangeError(`input packet of ${length} bytes does not fit`);
  target.fill(0, at, at + length);
  const v = new DataView(target.buffer, target.byteOffset + at, length);
  v.setUint32(0, length - 4);
  const magic = (m: number) => v.setUint32(4, m, true);
  switch (packet.kind) {
    case "keyboard":
      // 8 u8 flags, 9 u16le keyCode, 11 u8 modifiers, 12 u16 zero
      magic(packet.action === "down" ? InputMagic.keyDown : InputMagic.keyUp);
      v.setUint8(8, packet.flags);
      v.setUint16(9, packet.keyCode, true);
      v.setUint8(11, packet.modifiers);
      break;
    case "mouseMoveRelative":
      // 8 s16be deltaX, 10 s16be deltaY
      magic(InputMagic.mouseMoveRelative);
      v.setInt16(8, packet.deltaX);
      v.setInt16(10, packet.deltaY);
      break;
    case "mouseMoveAbsolute":
      // 8 s16be x, 10 s16be y, 12 zero, 14 s16be width−1, 16 s16be height−1
      magic(InputMagic.mouseMoveAbsolute);
      v.setInt16(8, packet.x);
      v.setInt16(10, packet.y);
      v.setInt16(14, packet.referenceWidth - 1);
      v.setInt16(16, packet.referenceHeight - 1);
      break;
    case "mouseButton":
      // 8 u8 button
      magic(packet.action === "down" ? InputMagic.mouseButtonDown : InputMagic.mouseButtonUp);
      v.setUint8(8, packet.button);
      break;
    case "scroll":
      // 8 s16be amount, 10 s16be amount (again), 12 zero
      magic(InputMagic.scroll);
      v.setInt16(8, packet.amount);
      v.setInt16(10, packet.amount);
      break;
    case "horizontalScroll":
      // 8 s16be amount
      magic(InputMagic.horizontalScroll);
      v.setInt16(8, packet.amount);
      break;
    case "gamepadState":
      // 8 u16le 0x1A, 10 s16le controller, 12 u16le active mask, 14 u16le 0x14, 16 u16le buttons,
      // 18 u8 LT, 19 u8 RT, 20/22/24/26 s16le LX LY RX RY, 28 u16le 0x9C, 30 u16le buttons >> 16,
      // 32 u16le 0x55
      magic(InputMagic.gamepadState);
      v.setUint16(8, 0x001a, true);
      v.setInt16(10, packet.controllerNumber, true);
      v.setUint16(12, packet.activeGamepadMask, true);
      v.setUint16(14, 0x0014, true);
      v.setUint16(16, packet.buttonFlags & 0xffff, true);
      v.setUint8(18, packet.leftTrigger);
      v.setUint8(19, packet.rightTrigger);
      v.setInt16(20, packet.leftStickX, true);
      v.setInt16(22, packet.leftStickY, true);
      v.setInt16(24, packet.rightStickX, true);
      v.setInt16(26, packet.rightStickY, true);
      v.setUint16(28, 0x009c, true);
      v.setUint16(30, (packet.buttonFlags >>> 16) & 0xffff, true);
      v.setUint16(32, 0x0055, true);
      break;
    case "enableHaptics":
      // 8 u16le 1
      magic(InputMagic.enableHaptics);
      v.setUint16(8, 1, true);
      break;
    case "utf8Text":
      // 8… UTF-8 bytes (the size field gives their count)
      magic(InputMagic.utf8Text);
      target.set(text!, at + 8);
      break;
    case "controllerArrival":
      // 8 u8 controller, 9 u8 type, 10 u16le capabilities, 12 u32le supported buttons
      magic(InputMagic.controllerArrival);
      v.setUint8(8, packet.controllerNumber);
      v.setUint8(9, packet.controllerType);
      v.setUint16(10, packet.capabilities, true);
      v.setUint32(12, packet.supportedButtonFlags >>> 0, true);
      break;
    case "touch":
      // 8 u8 event, 9 zero, 10 u16le rotation, 12 u32le pointerId, 16/20 f32le x y,
      // 24 f32le pressure/distance, 28/32 f32le contact area major/minor
      magic(InputMagic.touch);
      v.setUint8(8, packet.eventType);
      v.setUint16(10, packet.rotation, true);
      v.setUint32(12, packet.pointerId >>> 0, true);
      v.setFloat32(16, packet.x, true);
      v.setFloat32(20, packet.y, true);
      v.setFloat32(24, packet.pressureOrDistance, true);
      v.setFloat32(28, packet.contactAreaMajor, true);
      v.setFloat32(32, packet.contactAreaMinor, true);
      break;
    case "pen":
      // 8 u8 event, 9 u8 tool, 10 u8 buttons, 11 zero, 12/16 f32le x y, 20 f32le pressure/distance,
      // 24 u16le rotation, 26 u8 tilt, 27 zero, 28/32 f32le contact area major/minor
      magic(InputMagic.pen);
      v.setUint8(8, packet.eventType);
      v.setUint8(9, packet.toolType);
      v.setUint8(10, packet.penButtons);
      v.setFloat32(12, packet.x, true);
      v.setFloat32(16, packet.y, true);
      v.setFloat32(20, packet.pressureOrDistance, true);
      v.setUint16(24, packet.rotation, true);
      v.setUint8(26, packet.tilt);
      v.setFloat32(28, packet.contactAreaMajor, true);
      v.setFloat32(32, packet.contactAreaMinor, true);
      break;
    case "controllerTouch":
      // 8 u8 controller, 9 u8 event, 10 zero, 11 u8 touchpad index, 12 u32le pointerId,
      // 16/20 f32le x y, 24 f32le pressure
      magic(InputMagic.controllerTouch);
      v.setUint8(8, packet.controllerNumber);
      v.setUint8(9, packet.eventType);
      v.setUint8(11, packet.touchpadIndex);
      v.setUint32(12, packet.pointerId >>> 0, true);
      v.setFloat32(16, packet.x, true);
      v.setFloat32(20, packet.y, true);
      v.setFloat32(24, packet.pressure, true);
      break;
    case "controllerMotion":
      // 8 u8 controller, 9 u8 motion type, 10 zero ×2, 12/16/20 f32le x y z
      magic(InputMagic.controllerMotion);
      v.setUint8(8, packet.controllerNumber);
      v.setUint8(9, packet.motionType);
      v.setFloat32(12, packet.x, true);
      v.setFloat32(16, packet.y, true);
      v.setFloat32(20, packet.z, true);
      break;
    case "controllerBattery":
      // 8 u8 controller, 9 u8 state, 10 u8 percentage, 11 zero
      magic(InputMagic.controllerBattery);
      v.setUint8(8, packet.controllerNumber);
      v.setUint8(9, packet.batteryState);
      v.setUint8(10, packet.batteryPercentage);
      break;
  }
  return length;
}

export function serializeInputPacket(packet: InputPacket): Uint8Array {
  const out = new Uint8Array(inputPacketLength(packet));
  writeInputPacket(out, 0, packet);
  return out;
}

/**
 * Parses one input packet (as found after the 4-byte V2 header of a 0x0206 message). The size
 * field must cover exactly the expected body; trailing bytes beyond `size + 4` are ignored.
 */
export function parseInputPacket(bytes: Uint8Array): InputPacket {
  if (bytes.byteLength < 8) throw new InputPacketFormatError(`input packet of ${bytes.byteLength} bytes`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = v.getUint32(0) + 4;
  if (length > bytes.byteLength) throw new InputPacketFormatError(`size field ${length - 4} overruns ${bytes.byteLength} bytes`);
  const magic = v.getUint32(4, true);
  const expect = (n: number) => {
    if (length !== n) throw new InputPacketFormatError(`magic 0x${magic.toString(16)}: ${length} bytes, expected ${n}`);
  };
  switch (magic) {
    case InputMagic.keyDown:
    case InputMagic.keyUp:
      expect(14);
      return {
        kind: "keyboard",
        action: magic === InputMagic.keyDown ? "down" : "up",
        flags: v.getUint8(8),
        keyCode: v.getUint16(9, true),
        modifiers: v.getUint8(11),
      };
    case InputMagic.mouseMoveRelative:
      expect(12);
      return { kind: "mouseMoveRelative", deltaX: v.getInt16(8), deltaY: v.getInt16(10) };
    case InputMagic.mouseMoveAbsolute:
      expect(18);
      return {
        kind: "mouseMoveAbsolute",
        x: v.getInt16(8),
        y: v.getInt16(10),
        referenceWidth: v.getInt16(14) + 1,
        referenceHeight: v.getInt16(16) + 1,
      };
    case InputMagic.mouseButtonDown:
    case InputMagic.mouseButtonUp:
      expect(9);
      return { kind: "mouseButton", action: magic === InputMagic.mouseButtonDown ? "down" : "up", button: v.getUint8(8) };
    case InputMagic.scroll:
      expect(14);
      return { kind: "scroll", amount: v.getInt16(8) };
    case InputMagic.horizontalScroll:
      expect(10);
      return { kind: "horizontalScroll", amount: v.getInt16(8) };
    case InputMagic.gamepadState:
      expect(34);
      return {
        kind: "gamepadState",
        controllerNumber: v.getInt16(10, true),
        activeGamepadMask: v.getUint16(12, true),
        buttonFlags: (v.getUint16(16, true) | (v.getUint16(30, true) << 16)) >>> 0,
        leftTrigger: v.getUint8(18),
        rightTrigger: v.getUint8(19),
        leftStickX: v.getInt16(20, true),
        leftStickY: v.getInt16(22, true),
        rightStickX: v.getInt16(24, true),
        rightStickY: v.getInt16(26, true),
      };
    case InputMagic.enableHaptics:
      expect(10);
      return { kind: "enableHaptics" };
    case InputMagic.utf8Text:
      try {
        return { kind: "utf8Text", text: textDecoder.decode(bytes.subarray(8, length)) };
      } catch {
        throw new InputPacketFormatError("text packet is not valid UTF-8");
      }
    case InputMagic.controllerArrival:
      expect(16);
      return {
        kind: "controllerArrival",
        controllerNumber: v.getUint8(8),
        controllerType: v.getUint8(9),
        capabilities: v.getUint16(10, true),
        supportedButtonFlags: v.getUint32(12, true),
      };
    case InputMagic.touch:
      expect(36);
      return {
        kind: "touch",
        eventType: v.getUint8(8),
        rotation: v.getUint16(10, true),
        pointerId: v.getUint32(12, true),
        x: v.getFloat32(16, true),
        y: v.getFloat32(20, true),
        pressureOrDistance: v.getFloat32(24, true),
        contactAreaMajor: v.getFloat32(28, true),
        contactAreaMinor: v.getFloat32(32, true),
      };
    case InputMagic.pen:
      expect(36);
      return {
        kind: "pen",
        eventType: v.getUint8(8),
        toolType: v.getUint8(9),
        penButtons: v.getUint8(10),
        x: v.getFloat32(12, true),
        y: v.getFloat32(16, true),
        pressureOrDistance: v.getFloat32(20, true),
        rotation: v.getUint16(24, true),
        tilt: v.getUint8(26),
        contactAreaMajor: v.getFloat32(28, true),
        contactAreaMinor: v.getFloat32(32, true),
      };
    case InputMagic.controllerTouch:
      expect(28);
      return {
        kind: "controllerTouch",
        controllerNumber: v.getUint8(8),
        eventType: v.getUint8(9),
        touchpadIndex: v.getUint8(11),
        pointerId: v.getUint32(12, true),
        x: v.getFloat32(16, true),
        y: v.getFloat32(20, true),
        pressure: v.getFloat32(24, true),
      };
    case InputMagic.controllerMotion:
      expect(24);
      return {
        kind: "controllerMotion",
        controllerNumber: v.getUint8(8),
        motionType: v.getUint8(9),
        x: v.getFloat32(12, true),
        y: v.getFloat32(16, true),
        z: v.getFloat32(20, true),
      };
    case InputMagic.controllerBattery:
      expect(12);
      return {
        kind: "controllerBattery",
        controllerNumber: v.getUint8(8),
        batteryState: v.getUint8(9),
        batteryPercentage: v.getUint8(10),
      };
    default:
      throw new InputPacketFormatError(`unknown input magic 0x${magic.toString(16)}`);
  }
}

/** ENet channel Moonlight uses for this packet towards a Sunshine-gen host (§3.5). */
export function inputChannel(packet: InputPacket): number {
  switch (packet.kind) {
    case "keyboard":
      return ControlChannel.keyboard;
    case "mouseMoveRelative":
    case "mouseMoveAbsolute":
    case "mouseButton":
    case "scroll":
    case "horizontalScroll":
      return ControlChannel.mouse;
    case "pen":
      return ControlChannel.pen;
    case "touch":
      return ControlChannel.touch;
    case "utf8Text":
      return ControlChannel.utf8;
    case "gamepadState":
    case "controllerArrival":
    case "controllerTouch":
    case "controllerBattery":
      return ControlChannel.gamepadBase + (packet.controllerNumber & 0x0f);
    case "controllerMotion":
      return ControlChannel.sensorBase + (packet.controllerNumber & 0x0f);
    case "enableHaptics":
      return ControlChannel.generic;
  }
}

/**
 * Whether Moonlight sends this packet reliably: touch/pen/controller-touch move and hover events
 * and non-zero motion samples go unreliable; everything else reliable.
 */
export function inputIsReliable(packet: InputPacket): boolean {
  switch (packet.kind) {
    case "touch":
    case "pen":
    case "controllerTouch":
      return packet.eventType !== TouchEventType.move && packet.eventType !== TouchEventType.hover;
    case "controllerMotion":
      return packet.x === 0 && packet.y === 0 && packet.z === 0;
    default:
      return true;
  }
}

/**
 * The packet that unplugs controller `controllerNumber` on the host: a neutral state whose
 * `activeGamepadMask` (the pads still present) no longer has its bit.
 */
export function unpluggedGamepadState(controllerNumber: number, activeGamepadMask: number): Extract<InputPacket, { kind: "gamepadState" }> {
  return {
    kind: "gamepadState",
    controllerNumber,
    activeGamepadMask: activeGamepadMask & ~(1 << controllerNumber),
    buttonFlags: 0,
    leftTrigger: 0,
    rightTrigger: 0,
    leftStickX: 0,
    leftStickY: 0,
    rightStickX: 0,
    rightStickY: 0,
  };
}
