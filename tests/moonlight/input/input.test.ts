import { describe, expect, test } from "bun:test";
import {
  ControllerCapability,
  GamepadButton,
  InputPacketFormatError,
  TouchEventType,
  inputChannel,
  inputIsReliable,
  parseInputPacket,
  serializeInputPacket,
  writeInputPacket,
  type InputPacket,
} from "../../../src/moonlight/input/input.ts";

const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

/** Exact layouts from reference §7, one per packet type. */
const VECTORS: [string, InputPacket, string][] = [
  ["keyboard 'A' down from moonlight-qt (§10.2)", { kind: "keyboard", action: "down", keyCode: 0x8041, modifiers: 0, flags: 0 }, "0000000a 03000000 00 4180 00 0000"],
  ["keyboard up with shift+ctrl, non-normalised", { kind: "keyboard", action: "up", keyCode: 0x5a, modifiers: 0x03, flags: 0x01 }, "0000000a 04000000 01 5a00 03 0000"],
  ["relative mouse move (+1,+1)", { kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 }, "00000008 07000000 0001 0001"],
  ["relative mouse move (−300, 2)", { kind: "mouseMoveRelative", deltaX: -300, deltaY: 2 }, "00000008 07000000 fed4 0002"],
  ["absolute mouse in 1920×1080", { kind: "mouseMoveAbsolute", x: 960, y: 540, referenceWidth: 1920, referenceHeight: 1080 }, "0000000e 05000000 03c0 021c 0000 077f 0437"],
  ["left button down", { kind: "mouseButton", action: "down", button: 1 }, "00000005 08000000 01"],
  ["X2 button up", { kind: "mouseButton", action: "up", button: 5 }, "00000005 09000000 05"],
  ["scroll one notch up", { kind: "scroll", amount: 120 }, "0000000a 0a000000 0078 0078 0000"],
  ["scroll one notch down", { kind: "scroll", amount: -120 }, "0000000a 0a000000 ff88 ff88 0000"],
  ["horizontal scroll right", { kind: "horizontalScroll", amount: 120 }, "00000006 01000055 0078"],
  [
    "gamepad state with extended buttons",
    {
      kind: "gamepadState", controllerNumber: 1, activeGamepadMask: 0x3, buttonFlags: GamepadButton.a | GamepadButton.paddle1,
      leftTrigger: 0xff, rightTrigger: 0x10, leftStickX: -32768, leftStickY: 32767, rightStickX: 1, rightStickY: -1,
    },
    "0000001e 0c000000 1a00 0100 0300 1400 0010 ff 10 0080 ff7f 0100 ffff 9c00 0100 5500",
  ],
  ["enable haptics (as captured from moonlight-embedded)", { kind: "enableHaptics" }, "00000006 0d000000 0100"],
  ["UTF-8 text, one code point", { kind: "utf8Text", text: "é" }, "00000006 17000000 c3a9"],
  ["UTF-8 text, 4-byte code point", { kind: "utf8Text", text: "😀" }, "00000008 17000000 f09f9880"],
  [
    "controller arrival (PlayStation)",
    { kind: "controllerArrival", controllerNumber: 2, controllerType: 2, capabilities: ControllerCapability.touchpad | ControllerCapability.gyro, supportedButtonFlags: 0x0010ffff },
    "0000000c 04000055 02 02 2800 ffff1000",
  ],
  [
    "touch down",
    { kind: "touch", eventType: TouchEventType.down, rotation: 0xffff, pointerId: 7, x: 0.5, y: 0.25, pressureOrDistance: 1, contactAreaMajor: 0, contactAreaMinor: 0 },
    "00000020 02000055 01 00 ffff 07000000 0000003f 0000803e 0000803f 00000000 00000000",
  ],
  [
    "pen move with eraser",
    { kind: "pen", eventType: TouchEventType.move, toolType: 2, penButtons: 1, x: 1, y: 0, pressureOrDistance: 0.5, rotation: 90, tilt: 45, contactAreaMajor: 0, contactAreaMinor: 0 },
    "00000020 03000055 03 02 01 00 0000803f 00000000 0000003f 5a00 2d 00 00000000 00000000",
  ],
  [
    "controller touchpad, second pad",
    { kind: "controllerTouch", controllerNumber: 0, eventType: 1, touchpadIndex: 1, pointerId: 3, x: 0.5, y: 0.5, pressure: 1 },
    "00000018 05000055 00 01 00 01 03000000 0000003f 0000003f 0000803f",
  ],
  [
    "controller gyro sample",
    { kind: "controllerMotion", controllerNumber: 1, motionType: 2, x: 1, y: -1, z: 0 },
    "00000014 06000055 01 02 0000 0000803f 000080bf 00000000",
  ],
  ["controller battery charging 80 %", { kind: "controllerBattery", controllerNumber: 3, batteryState: 3, batteryPercentage: 80 }, "00000008 07000055 03 03 50 00"],
];

describe("input packets (reference §7)", () => {
  for (const [name, packet, wire] of VECTORS) {
    test(`${name} serializes to the reference layout and parses back`, () => {
      const bytes = serializeInputPacket(packet);
      expect(toHex(bytes)).toBe(toHex(hex(wire)));
      expect(parseInputPacket(bytes)).toEqual(packet);
    });
  }

  test("every packet kind is covered by a vector", () => {
    const kinds = new Set(VECTORS.map(([, p]) => p.kind));
    expect(kinds.size).toBe(15);
  });

  test("writeInputPacket reuses a caller buffer and clears stale bytes", () => {
    const scratch = new Uint8Array(64).fill(0xaa);
    const n = writeInputPacket(scratch, 4, { kind: "scroll", amount: 240 });
    expect(n).toBe(14);
    expect(toHex(scratch.subarray(4, 18))).toBe("0000000a0a00000000f000f00000");
    expect(scratch[3]).toBe(0xaa);
    expect(scratch[18]).toBe(0xaa);
  });

  test("malformed packets are rejected with InputPacketFormatError", () => {
    expect(() => parseInputPacket(hex("0000"))).toThrow(InputPacketFormatError);
    expect(() => parseInputPacket(hex("00000009 03000000 00 4180 00"))).toThrow(InputPacketFormatError); // short keyboard
    expect(() => parseInputPacket(hex("000000ff 03000000"))).toThrow(InputPacketFormatError); // size overruns
    expect(() => parseInputPacket(hex("00000004 99000000"))).toThrow(InputPacketFormatError); // unknown magic
    expect(() => parseInputPacket(hex("00000005 17000000 ff"))).toThrow(InputPacketFormatError); // bad UTF-8
  });

  test("packets pick Moonlight's channels", () => {
    expect(inputChannel({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 })).toBe(2);
    expect(inputChannel({ kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 })).toBe(3);
    expect(inputChannel({ kind: "horizontalScroll", amount: 1 })).toBe(3);
    expect(inputChannel({ kind: "utf8Text", text: "x" })).toBe(6);
    expect(inputChannel({ kind: "enableHaptics" })).toBe(0);
    expect(inputChannel({ kind: "controllerBattery", controllerNumber: 5, batteryState: 0, batteryPercentage: 0xff })).toBe(0x15);
    expect(inputChannel({ kind: "controllerMotion", controllerNumber: 2, motionType: 1, x: 0, y: 0, z: 9.8 })).toBe(0x22);
  });

  test("touch moves and non-zero motion go unreliable; everything else reliable", () => {
    const touch = (eventType: number): InputPacket => ({ kind: "touch", eventType, rotation: 0, pointerId: 0, x: 0, y: 0, pressureOrDistance: 0, contactAreaMajor: 0, contactAreaMinor: 0 });
    expect(inputIsReliable(touch(TouchEventType.move))).toBe(false);
    expect(inputIsReliable(touch(TouchEventType.hover))).toBe(false);
    expect(inputIsReliable(touch(TouchEventType.down))).toBe(true);
    expect(inputIsReliable({ kind: "controllerMotion", controllerNumber: 0, motionType: 2, x: 0, y: 0, z: 0 })).toBe(true);
    expect(inputIsReliable({ kind: "controllerMotion", controllerNumber: 0, motionType: 2, x: 0.1, y: 0, z: 0 })).toBe(false);
    expect(inputIsReliable({ kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 })).toBe(true);
  });
});
