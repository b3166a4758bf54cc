import { describe, expect, test } from "bun:test";
import type { InputPacket } from "../../src/moonlight/input/input.ts";
import { HOST_CONTROLLER_SLOTS, InputMixer } from "../../src/streamer/input-mixer.ts";

const key = (action: "down" | "up", keyCode: number): InputPacket => ({ kind: "keyboard", action, keyCode, modifiers: 0, flags: 0 });
const button = (action: "down" | "up", b: number): InputPacket => ({ kind: "mouseButton", action, button: b });
const pad = (controllerNumber: number, buttonFlags = 0x1000): InputPacket => ({
  kind: "gamepadState",
  controllerNumber,
  activeGamepadMask: 1 << controllerNumber,
  buttonFlags,
  leftTrigger: 0,
  rightTrigger: 0,
  leftStickX: 100,
  leftStickY: 0,
  rightStickX: 0,
  rightStickY: 0,
});

function mixer() {
  const sent: InputPacket[] = [];
  const m = new InputMixer((p) => sent.push(p));
  return { m, sent };
}

describe("InputMixer", () => {
  test("a key held by A and B stays down when A releases and goes up when B leaves", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.addViewer("B");
    m.handle("A", key("down", 0x41));
    m.handle("B", key("down", 0x41));
    expect(sent).toEqual([key("down", 0x41)]);
    m.handle("A", key("up", 0x41));
    expect(sent).toHaveLength(1);
    expect(m.heldKeys()).toEqual([0x41]);
    m.removeViewer("B");
    expect(sent).toEqual([key("down", 0x41), key("up", 0x41)]);
    expect(m.heldKeys()).toEqual([]);
  });

  test("auto-repeat and stray releases do not reach the host", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.handle("A", key("up", 0x10));
    m.handle("A", key("down", 0x10));
    m.handle("A", key("down", 0x10));
    m.handle("A", key("down", 0x10));
    m.handle("A", key("up", 0x10));
    m.handle("A", key("up", 0x10));
    expect(sent).toEqual([key("down", 0x10), key("up", 0x10)]);
    expect(m.stats.merged).toBe(4);
  });

  test("mouse buttons merge the same way; motion, scroll and text pass through", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.addViewer("B");
    m.handle("A", button("down", 1));
    m.handle("B", button("down", 1));
    m.handle("B", { kind: "mouseMoveRelative", deltaX: 3, deltaY: -2 });
    m.handle("A", { kind: "scroll", amount: 120 });
    m.handle("B", { kind: "utf8Text", text: "hé" });
    m.handle("B", button("up", 1));
    m.handle("A", button("up", 1));
    expect(sent.map((p) => p.kind)).toEqual(["mouseButton", "mouseMoveRelative", "scroll", "utf8Text", "mouseButton"]);
    expect(sent.at(-1)).toEqual(button("up", 1));
  });

  test("a leaving viewer releases every key and button it held, and only those", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.addViewer("B");
    m.handle("A", key("down", 0x11));
    m.handle("A", key("down", 0x43));
    m.handle("A", button("down", 3));
    m.handle("B", key("down", 0x11));
    sent.length = 0;
    m.removeViewer("A");
    expect(sent).toEqual([key("up", 0x43), button("up", 3)]);
    m.removeViewer("A"); // idempotent
    expect(sent).toHaveLength(2);
  });

  test("view-only viewers are ignored, and switching to view-only releases what was held", () => {
    const { m, sent } = mixer();
    m.addViewer("V", { viewOnly: true });
    m.handle("V", key("down", 0x20));
    m.handle("V", { kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 });
    expect(sent).toEqual([]);
    expect(m.stats.dropped).toBe(2);
    m.addViewer("A");
    m.handle("A", key("down", 0x20));
    m.setViewOnly("A", true);
    expect(sent).toEqual([key("down", 0x20), key("up", 0x20)]);
    m.handle("unknown", key("down", 1));
    expect(m.stats.dropped).toBe(3);
  });

  test("each viewer's controller 0 gets its own host slot, freed and neutralised on leave", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.addViewer("B");
    m.handle("A", pad(0));
    m.handle("B", pad(0));
    m.handle("B", { kind: "controllerArrival", controllerNumber: 0, controllerType: 1, capabilities: 0, supportedButtonFlags: 0 });
    expect(sent.map((p) => (p as { controllerNumber: number }).controllerNumber)).toEqual([0, 1, 1]);
    expect((sent[1] as { activeGamepadMask: number }).activeGamepadMask).toBe(0b11);
    expect(m.controllerOwner(1)).toEqual({ viewerId: "B", controllerNumber: 0 });
    sent.length = 0;
    m.removeViewer("A");
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ kind: "gamepadState", controllerNumber: 0, activeGamepadMask: 0b10, buttonFlags: 0, leftStickX: 0 });
    expect(m.controllerOwner(0)).toBeUndefined();
    m.addViewer("C");
    m.handle("C", pad(2));
    expect(sent.at(-1)).toMatchObject({ controllerNumber: 0, activeGamepadMask: 0b11 });
  });

  test("a viewer unplugging its pad frees the host slot at once", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.handle("A", pad(0));
    m.handle("A", pad(1));
    sent.length = 0;
    // The browser's neutral state for pad 1 with pad 1's bit cleared from its mask.
    m.handle("A", { ...(pad(1, 0) as Extract<InputPacket, { kind: "gamepadState" }>), activeGamepadMask: 0b01 });
    expect(sent).toEqual([expect.objectContaining({ kind: "gamepadState", controllerNumber: 1, activeGamepadMask: 0b01, buttonFlags: 0 })]);
    expect(m.controllerOwner(1)).toBeUndefined();
    expect(m.activeGamepadMask).toBe(0b01);
  });

  test("the 17th controller is refused rather than stealing a slot", () => {
    const { m, sent } = mixer();
    for (let v = 0; v <= HOST_CONTROLLER_SLOTS; v++) {
      m.addViewer(`v${v}`);
      m.handle(`v${v}`, pad(0));
    }
    expect(sent).toHaveLength(HOST_CONTROLLER_SLOTS);
    expect(m.stats.controllersRefused).toBe(1);
    expect(m.activeGamepadMask).toBe(0xffff);
  });

  test("haptics are enabled on the host once", () => {
    const { m, sent } = mixer();
    m.addViewer("A");
    m.addViewer("B");
    m.handle("A", { kind: "enableHaptics" });
    m.handle("B", { kind: "enableHaptics" });
    expect(sent).toEqual([{ kind: "enableHaptics" }]);
  });
});
