/**
 * Gamepads through the Gamepad API (polled once per animation frame: the API has no input events).
 * Each connected pad gets a controller slot; it is announced with `controllerArrival`, then its
 * state goes as `gamepadState` whenever it changes. Pads with the "standard" mapping map button
 * for button; others are sent as well as their first 17 buttons and 4 axes allow.
 *
 * Rumble: `rumble()` plays an effect on a slot's pad. The server does not forward the host's
 * rumble to viewers yet; when it does (a signaling message), the player calls `rumble()`.
 */
import { ControllerCapability, ControllerType, GamepadButton, unpluggedGamepadState, type InputPacket } from "../../src/moonlight/input/input.ts";

export interface GamepadCaptureOptions {
  send: (packet: InputPacket) => void;
  /** How many controllers the host takes (stream capability); 0 = unknown, allow 16. */
  maxControllers: () => number;
}

/** Standard-mapping button index → GamepadButton bit (6 and 7 are the analog triggers). */
const STANDARD_BUTTONS: (number | undefined)[] = [
  GamepadButton.a, GamepadButton.b, GamepadButton.x, GamepadButton.y,
  GamepadButton.leftShoulder, GamepadButton.rightShoulder, undefined, undefined,
  GamepadButton.back, GamepadButton.start, GamepadButton.leftStick, GamepadButton.rightStick,
  GamepadButton.up, GamepadButton.down, GamepadButton.left, GamepadButton.right,
  GamepadButton.guide, GamepadButton.touchpad,
];
const SUPPORTED_BUTTONS = STANDARD_BUTTONS.reduce<number>((mask, bit) => mask | (bit ?? 0), 0);

interface Slot {
  controllerNumber: number;
  /** Serialized last state, to send only changes. */
  last: string;
}

function controllerTypeOf(id: string): number {
  const lower = id.toLowerCase();
  if (lower.includes("045e") || lower.includes("xbox") || lower.includes("xinput")) return ControllerType.xbox;
  if (lower.includes("054c") || lower.includes("playstation") || lower.includes("dualsense") || lower.includes("dualshock")) return ControllerType.playStation;
  if (lower.includes("057e") || lower.includes("nintendo")) return ControllerType.nintendo;
  if (lower.includes("28de") || lower.includes("steam")) return ControllerType.steam;
  return ControllerType.unknown;
}

const axis = (value: number | undefined) => Math.max(-32768, Math.min(32767, Math.round((value ?? 0) * 32767)));
const trigger = (button: GamepadButton | undefined) => Math.round((button?.value ?? 0) * 255);

export class GamepadCapture {
  readonly #options: GamepadCaptureOptions;
  /** Browser gamepad index → slot. */
  readonly #slots = new Map<number, Slot>();
  #frame = 0;
  #closed = false;

  constructor(options: GamepadCaptureOptions) {
    this.#options = options;
    this.#frame = requestAnimationFrame(() => this.#poll());
  }

  get #activeMask(): number {
    let mask = 0;
    for (const slot of this.#slots.values()) mask |= 1 << slot.controllerNumber;
    return mask;
  }

  #poll(): void {
    if (this.#closed) return;
    this.#frame = requestAnimationFrame(() => this.#poll());
    const pads = navigator.getGamepads?.() ?? [];
    const seen = new Set<number>();
    for (const pad of pads) {
      if (!pad?.connected) continue;
      seen.add(pad.index);
      let slot = this.#slots.get(pad.index);
      if (!slot) {
        const created = this.#arrive(pad);
        if (!created) continue;
        slot = created;
      }
      this.#sendState(pad, slot);
    }
    for (const index of [...this.#slots.keys()]) if (!seen.has(index)) this.#leave(index);
  }

  #arrive(pad: Gamepad): Slot | undefined {
    const max = this.#options.maxControllers() || 16;
    const used = new Set([...this.#slots.values()].map((s) => s.controllerNumber));
    let controllerNumber = 0;
    while (used.has(controllerNumber)) controllerNumber++;
    if (controllerNumber >= Math.min(max, 16)) return undefined;
    const slot: Slot = { controllerNumber, last: "" };
    this.#slots.set(pad.index, slot);
    const rumble = pad.vibrationActuator ? ControllerCapability.rumble : 0;
    this.#options.send({
      kind: "controllerArrival",
      controllerNumber,
      controllerType: controllerTypeOf(pad.id),
      capabilities: ControllerCapability.analogTriggers | rumble,
      supportedButtonFlags: SUPPORTED_BUTTONS,
    });
    return slot;
  }

  #sendState(pad: Gamepad, slot: Slot): void {
    let buttonFlags = 0;
    pad.buttons.forEach((button, index) => {
      const bit = STANDARD_BUTTONS[index];
      if (bit !== undefined && button.pressed) buttonFlags |= bit;
    });
    const packet: InputPacket = {
      kind: "gamepadState",
      controllerNumber: slot.controllerNumber,
      activeGamepadMask: this.#activeMask,
      buttonFlags: buttonFlags >>> 0,
      leftTrigger: trigger(pad.buttons[6]),
      rightTrigger: trigger(pad.buttons[7]),
      // The Gamepad API's Y axes grow downwards; GameStream's upwards.
      leftStickX: axis(pad.axes[0]),
      leftStickY: -axis(pad.axes[1]),
      rightStickX: axis(pad.axes[2]),
      rightStickY: -axis(pad.axes[3]),
    };
    const key = JSON.stringify(packet);
    if (key === slot.last) return;
    slot.last = key;
    this.#options.send(packet);
  }

  #leave(index: number): void {
    const slot = this.#slots.get(index);
    if (!slot) return;
    this.#slots.delete(index);
    this.#options.send(unpluggedGamepadState(slot.controllerNumber, this.#activeMask));
  }

  /**
   * Rumble hook: plays the host's rumble (16-bit motor strengths, 0 = stop) on the pad in slot
   * `controllerNumber`. Called by the player when the server forwards rumble to viewers.
   */
  rumble(controllerNumber: number, lowFrequency: number, highFrequency: number): void {
    for (const [index, slot] of this.#slots) {
      if (slot.controllerNumber !== controllerNumber) continue;
      const actuator = navigator.getGamepads?.()[index]?.vibrationActuator as
        | { playEffect?(type: string, params: Record<string, number>): Promise<unknown>; reset?(): Promise<unknown> }
        | null
        | undefined;
      if (!actuator?.playEffect) return;
      if (lowFrequency === 0 && highFrequency === 0) {
        void actuator.reset?.().catch(() => {});
        return;
      }
      // Hosts repeat rumble while it lasts; an effect a little longer than a poll bridges the gaps.
      void actuator
        .playEffect("dual-rumble", { duration: 250, strongMagnitude: lowFrequency / 65535, weakMagnitude: highFrequency / 65535 })
        .catch(() => {});
    }
  }

  /** Unplugs every pad on the host (neutral state first, so no button stays down). */
  releaseAll(): void {
    for (const index of [...this.#slots.keys()]) this.#leave(index);
  }

  close(): void {
    this.#closed = true;
    cancelAnimationFrame(this.#frame);
    this.releaseAll();
  }
}
