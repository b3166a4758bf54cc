/**
 * Keyboard capture: physical keys (`KeyboardEvent.code`) as Windows virtual-key codes with the
 * modifier bits of the moment. Held keys are remembered so that losing focus (another window, a
 * hidden tab) releases them on the host instead of leaving them stuck.
 */
import { KeyModifier, type InputPacket } from "../../src/moonlight/input/input.ts";
import { virtualKeyOf } from "./keycodes.ts";

export interface KeyboardCaptureOptions {
  send: (packet: InputPacket) => void;
  /** Ctrl+Alt+Shift+<key> shortcuts handled by the player, never sent (e.g. "KeyS" → stats). */
  shortcuts: Record<string, () => void>;
}

function modifiersOf(event: KeyboardEvent): number {
  return (
    (event.shiftKey ? KeyModifier.shift : 0) |
    (event.ctrlKey ? KeyModifier.ctrl : 0) |
    (event.altKey ? KeyModifier.alt : 0) |
    (event.metaKey ? KeyModifier.meta : 0)
  );
}

/** Typing into the player's own controls is not input for the host. */
function isEditable(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export class KeyboardCapture {
  readonly #options: KeyboardCaptureOptions;
  readonly #held = new Map<number, number>();
  readonly #abort = new AbortController();

  constructor(options: KeyboardCaptureOptions) {
    this.#options = options;
    const signal = this.#abort.signal;
    window.addEventListener("keydown", (e) => this.#onKey(e, "down"), { signal, capture: true });
    window.addEventListener("keyup", (e) => this.#onKey(e, "up"), { signal, capture: true });
    window.addEventListener("blur", () => this.releaseAll(), { signal });
    document.addEventListener("visibilitychange", () => document.hidden && this.releaseAll(), { signal });
  }

  #onKey(event: KeyboardEvent, action: "down" | "up"): void {
    if (isEditable(event.target)) return;
    if (action === "down" && event.ctrlKey && event.altKey && event.shiftKey) {
      const shortcut = this.#options.shortcuts[event.code];
      if (shortcut) {
        event.preventDefault();
        shortcut();
        return;
      }
    }
    const keyCode = virtualKeyOf(event.code);
    if (keyCode === undefined) return;
    event.preventDefault();
    event.stopPropagation();
    if (action === "down") {
      // The host's OS makes its own auto-repeat from the held key.
      if (event.repeat && this.#held.has(keyCode)) return;
      this.#held.set(keyCode, keyCode);
    } else if (!this.#held.delete(keyCode)) {
      return; // pressed before capture began (or already released): the host never saw it go down
    }
    this.#options.send({ kind: "keyboard", action, keyCode, modifiers: modifiersOf(event), flags: 0 });
  }

  /** Lets go of every key this viewer holds (focus lost, page hidden, capture stopped). */
  releaseAll(): void {
    for (const keyCode of this.#held.keys()) this.#options.send({ kind: "keyboard", action: "up", keyCode, modifiers: 0, flags: 0 });
    this.#held.clear();
  }

  close(): void {
    this.releaseAll();
    this.#abort.abort();
  }
}
