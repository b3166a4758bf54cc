/**
 * Merges the input of every viewer of one stream into one input stream for the host.
 *
 * - Keys and mouse buttons are held as a union: one goes down on the host when the first viewer
 *   presses it and up when the last holder releases it or leaves. (Without this, one viewer's
 *   key-up would release a key another still holds, and a viewer that drops mid-press would leave
 *   keys stuck on the host.)
 * - Motion, scroll, text, touch and pen pass straight through.
 * - Each viewer's controller N is given a free host slot (16 in all); the host sees one pad per
 *   (viewer, controller). A leaving viewer's pads are neutralised and removed from the host.
 * - A viewer that went silent has everything it held released (`release`) without leaving.
 * - View-only viewers' input is dropped.
 */
import { unpluggedGamepadState, type InputPacket } from "../moonlight/input/input.ts";

export const HOST_CONTROLLER_SLOTS = 16;

export interface InputMixerStats {
  forwarded: number;
  /** Presses of a key/button another viewer already held, releases that were not the last, repeats. */
  merged: number;
  /** From view-only or unknown viewers. */
  dropped: number;
  /** Controllers refused because all 16 host slots were taken. */
  controllersRefused: number;
}

interface ViewerInput {
  viewOnly: boolean;
  keys: Set<number>;
  buttons: Set<number>;
  /** Viewer's controller number → host slot. */
  controllers: Map<number, number>;
}

export interface ControllerOwner {
  viewerId: string;
  controllerNumber: number;
}

export class InputMixer {
  readonly stats: InputMixerStats = { forwarded: 0, merged: 0, dropped: 0, controllersRefused: 0 };
  readonly #send: (packet: InputPacket) => void;
  readonly #viewers = new Map<string, ViewerInput>();
  /** Key code → viewers holding it. */
  readonly #keyHolders = new Map<number, Set<string>>();
  readonly #buttonHolders = new Map<number, Set<string>>();
  readonly #slotOwners: (ControllerOwner | undefined)[] = new Array(HOST_CONTROLLER_SLOTS).fill(undefined);
  #hapticsEnabled = false;

  /** `send` writes one packet to the host (the session's input path). */
  constructor(send: (packet: InputPacket) => void) {
    this.#send = send;
  }

  addViewer(viewerId: string, options: { viewOnly?: boolean } = {}): void {
    if (this.#viewers.has(viewerId)) return;
    this.#viewers.set(viewerId, { viewOnly: options.viewOnly === true, keys: new Set(), buttons: new Set(), controllers: new Map() });
  }

  setViewOnly(viewerId: string, viewOnly: boolean): void {
    const viewer = this.#viewers.get(viewerId);
    if (!viewer || viewer.viewOnly === viewOnly) return;
    if (viewOnly) this.#releaseAll(viewerId, viewer);
    viewer.viewOnly = viewOnly;
  }

  /**
   * Releases everything the viewer holds and unplugs its controllers, but keeps the viewer: it went
   * silent (src/peer/heartbeat.ts), and when it speaks again its next presses count afresh.
   */
  release(viewerId: string): void {
    const viewer = this.#viewers.get(viewerId);
    if (viewer) this.#releaseAll(viewerId, viewer);
  }

  /** Releases everything the viewer held and unplugs its controllers. Idempotent. */
  removeViewer(viewerId: string): void {
    const viewer = this.#viewers.get(viewerId);
    if (!viewer) return;
    this.#releaseAll(viewerId, viewer);
    this.#viewers.delete(viewerId);
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /** Keys currently down on the host (for status and tests). */
  heldKeys(): number[] {
    return [...this.#keyHolders.keys()];
  }

  /** Which viewer's controller a host slot belongs to (to route rumble back). */
  controllerOwner(slot: number): ControllerOwner | undefined {
    return this.#slotOwners[slot];
  }

  /** Bit i set = host slot i is in use. */
  get activeGamepadMask(): number {
    let mask = 0;
    for (let slot = 0; slot < HOST_CONTROLLER_SLOTS; slot++) if (this.#slotOwners[slot]) mask |= 1 << slot;
    return mask;
  }

  handle(viewerId: string, packet: InputPacket): void {
    const viewer = this.#viewers.get(viewerId);
    if (!viewer || viewer.viewOnly) {
      this.stats.dropped++;
      return;
    }
    switch (packet.kind) {
      case "keyboard":
        return this.#press(this.#keyHolders, viewer.keys, viewerId, packet.keyCode, packet.action === "down", packet);
      case "mouseButton":
        return this.#press(this.#buttonHolders, viewer.buttons, viewerId, packet.button, packet.action === "down", packet);
      case "enableHaptics":
        if (this.#hapticsEnabled) {
          this.stats.merged++;
          return;
        }
        this.#hapticsEnabled = true;
        return this.#forward(packet);
      case "gamepadState": {
        if ((packet.activeGamepadMask & (1 << packet.controllerNumber)) === 0) {
          // The viewer unplugged this pad (its own mask no longer has it): free the host slot.
          return this.#unplug(viewer, packet.controllerNumber);
        }
        const slot = this.#slotFor(viewerId, viewer, packet.controllerNumber);
        if (slot === undefined) return;
        return this.#forward({ ...packet, controllerNumber: slot, activeGamepadMask: this.activeGamepadMask });
      }
      case "controllerArrival":
      case "controllerTouch":
      case "controllerMotion":
      case "controllerBattery": {
        const slot = this.#slotFor(viewerId, viewer, packet.controllerNumber);
        if (slot === undefined) return;
        return this.#forward({ ...packet, controllerNumber: slot });
      }
      default:
        // Motion, scroll, text, touch, pen: no state to merge.
        return this.#forward(packet);
    }
  }

  #forward(packet: InputPacket): void {
    this.stats.forwarded++;
    this.#send(packet);
  }

  #press(holders: Map<number, Set<string>>, held: Set<number>, viewerId: string, code: number, down: boolean, packet: InputPacket): void {
    if (down) {
      if (held.has(code)) {
        this.stats.merged++; // auto-repeat from the same viewer: the host repeats held keys itself
        return;
      }
      held.add(code);
      let set = holders.get(code);
      if (!set) holders.set(code, (set = new Set()));
      set.add(viewerId);
      if (set.size === 1) this.#forward(packet);
      else this.stats.merged++;
      return;
    }
    if (!held.delete(code)) {
      this.stats.merged++; // releasing something this viewer never pressed (or already released)
      return;
    }
    const set = holders.get(code)!;
    set.delete(viewerId);
    if (set.size === 0) {
      holders.delete(code);
      this.#forward(packet);
    } else {
      this.stats.merged++;
    }
  }

  #slotFor(viewerId: string, viewer: ViewerInput, controllerNumber: number): number | undefined {
    const existing = viewer.controllers.get(controllerNumber);
    if (existing !== undefined) return existing;
    const slot = this.#slotOwners.findIndex((owner) => owner === undefined);
    if (slot < 0) {
      this.stats.controllersRefused++;
      return undefined;
    }
    this.#slotOwners[slot] = { viewerId, controllerNumber };
    viewer.controllers.set(controllerNumber, slot);
    return slot;
  }

  #releaseAll(viewerId: string, viewer: ViewerInput): void {
    for (const code of [...viewer.keys]) {
      this.#press(this.#keyHolders, viewer.keys, viewerId, code, false, { kind: "keyboard", action: "up", keyCode: code, modifiers: 0, flags: 0 });
    }
    for (const button of [...viewer.buttons]) {
      this.#press(this.#buttonHolders, viewer.buttons, viewerId, button, false, { kind: "mouseButton", action: "up", button });
    }
    for (const controllerNumber of [...viewer.controllers.keys()]) this.#unplug(viewer, controllerNumber);
  }

  /** Frees the viewer's pad's host slot and tells the host the pad is gone. */
  #unplug(viewer: ViewerInput, controllerNumber: number): void {
    const slot = viewer.controllers.get(controllerNumber);
    if (slot === undefined) return;
    viewer.controllers.delete(controllerNumber);
    this.#slotOwners[slot] = undefined;
    this.#forward(unpluggedGamepadState(slot, this.activeGamepadMask));
  }
}
