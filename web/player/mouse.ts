/**
 * Mouse capture in two modes:
 * - absolute (default): the pointer's position on the picture, in the stream's own pixels
 *   (reference size = the video's size), so clicks land where they are seen whatever the host's
 *   monitor layout;
 * - relative: pointer lock and raw movement, for games that read mouse deltas.
 * Buttons 1–5 (left, middle, right, back, forward), high-resolution vertical and horizontal wheel.
 */
import { MouseButton, type InputPacket } from "../../src/moonlight/input/input.ts";
import { contentRect, normalizedPoint } from "./geometry.ts";

export type MouseMode = "absolute" | "relative";

export interface MouseCaptureOptions {
  /** The element that receives the pointer (the player), and the video inside it. */
  surface: HTMLElement;
  video: HTMLVideoElement;
  send: (packet: InputPacket) => void;
  onModeChange?: (mode: MouseMode) => void;
}

/** DOM `MouseEvent.button` → GameStream button. */
const BUTTONS = [MouseButton.left, MouseButton.middle, MouseButton.right, MouseButton.x1, MouseButton.x2];

/** One wheel notch is 120 high-resolution units; Chromium reports a notch as 100 px (or 3 lines). */
const UNITS_PER_PIXEL = 1.2;
const UNITS_PER_LINE = 40;
const UNITS_PER_PAGE = 120 * 3;

const clamp16 = (n: number) => Math.max(-32768, Math.min(32767, Math.round(n)));

export class MouseCapture {
  readonly #options: MouseCaptureOptions;
  readonly #abort = new AbortController();
  readonly #held = new Set<number>();
  #mode: MouseMode = "absolute";
  #wheel = { x: 0, y: 0 };
  #last: { x: number; y: number } | undefined;

  constructor(options: MouseCaptureOptions) {
    this.#options = options;
    const { surface } = options;
    const signal = this.#abort.signal;
    surface.addEventListener("mousemove", (e) => this.#onMove(e), { signal });
    document.addEventListener("mousemove", (e) => this.#locked && this.#onMove(e), { signal });
    surface.addEventListener("mousedown", (e) => this.#onButton(e, "down"), { signal });
    // Button-up anywhere: a drag that leaves the picture must still end on the host.
    window.addEventListener("mouseup", (e) => this.#onButton(e, "up"), { signal });
    surface.addEventListener("wheel", (e) => this.#onWheel(e), { signal, passive: false });
    surface.addEventListener("contextmenu", (e) => e.preventDefault(), { signal });
    // Back/forward buttons would navigate away from the player.
    surface.addEventListener("auxclick", (e) => e.preventDefault(), { signal });
    document.addEventListener("pointerlockchange", () => this.#onLockChange(), { signal });
    window.addEventListener("blur", () => this.releaseAll(), { signal });
  }

  get mode(): MouseMode {
    return this.#mode;
  }

  get #locked(): boolean {
    return document.pointerLockElement === this.#options.surface;
  }

  setMode(mode: MouseMode): void {
    if (mode === this.#mode) return;
    this.#mode = mode;
    if (mode === "absolute" && this.#locked) document.exitPointerLock();
    this.#options.onModeChange?.(mode);
  }

  /** Pointer lock needs a user gesture: called from a click on the picture. */
  async lock(): Promise<void> {
    if (this.#mode !== "relative" || this.#locked) return;
    const surface = this.#options.surface as HTMLElement & { requestPointerLock(options?: { unadjustedMovement?: boolean }): Promise<void> | void };
    try {
      // Raw movement (no OS acceleration) where supported: the host applies its own.
      await surface.requestPointerLock({ unadjustedMovement: true });
    } catch {
      try {
        await surface.requestPointerLock();
      } catch {
        // Denied (e.g. right after the user left lock with Esc): the next click tries again.
      }
    }
  }

  #onLockChange(): void {
    // Leaving pointer lock (Esc) while in relative mode: buttons held would stick.
    if (!this.#locked) this.releaseAll();
  }

  #onMove(event: MouseEvent): void {
    if (this.#mode === "relative") {
      if (!this.#locked || (event.movementX === 0 && event.movementY === 0)) return;
      this.#options.send({ kind: "mouseMoveRelative", deltaX: clamp16(event.movementX), deltaY: clamp16(event.movementY) });
      return;
    }
    this.#sendAbsolute(event.clientX, event.clientY, this.#held.size > 0);
  }

  #sendAbsolute(clientX: number, clientY: number, clampToPicture: boolean): boolean {
    const rect = contentRect(this.#options.video);
    if (!rect) return false;
    const point = normalizedPoint(rect, clientX, clientY, clampToPicture);
    if (!point) return false;
    const x = Math.min(rect.videoWidth - 1, Math.floor(point.x * rect.videoWidth));
    const y = Math.min(rect.videoHeight - 1, Math.floor(point.y * rect.videoHeight));
    if (this.#last?.x === x && this.#last.y === y) return true;
    this.#last = { x, y };
    this.#options.send({ kind: "mouseMoveAbsolute", x, y, referenceWidth: rect.videoWidth, referenceHeight: rect.videoHeight });
    return true;
  }

  #onButton(event: MouseEvent, action: "down" | "up"): void {
    const button = BUTTONS[event.button];
    if (button === undefined) return;
    if (action === "down") {
      event.preventDefault();
      this.#options.surface.focus({ preventScroll: true });
      if (this.#mode === "relative" && !this.#locked) {
        // The click that asks for the lock is not a click on the host.
        void this.lock();
        return;
      }
      // In absolute mode the host's pointer first goes where the click is.
      if (this.#mode === "absolute" && !this.#sendAbsolute(event.clientX, event.clientY, false)) return;
      this.#held.add(button);
    } else {
      if (!this.#held.delete(button)) return;
      event.preventDefault();
    }
    this.#options.send({ kind: "mouseButton", action, button });
  }

  #onWheel(event: WheelEvent): void {
    event.preventDefault();
    const unit = event.deltaMode === WheelEvent.DOM_DELTA_LINE ? UNITS_PER_LINE : event.deltaMode === WheelEvent.DOM_DELTA_PAGE ? UNITS_PER_PAGE : UNITS_PER_PIXEL;
    // Touchpads send small fractional deltas: keep the remainder instead of rounding it away.
    this.#wheel.y += -event.deltaY * unit;
    this.#wheel.x += event.deltaX * unit;
    const y = Math.trunc(this.#wheel.y);
    const x = Math.trunc(this.#wheel.x);
    if (y !== 0) {
      this.#wheel.y -= y;
      this.#options.send({ kind: "scroll", amount: clamp16(y) });
    }
    if (x !== 0) {
      this.#wheel.x -= x;
      this.#options.send({ kind: "horizontalScroll", amount: clamp16(x) });
    }
  }

  releaseAll(): void {
    for (const button of this.#held) this.#options.send({ kind: "mouseButton", action: "up", button });
    this.#held.clear();
  }

  close(): void {
    this.releaseAll();
    if (this.#locked) document.exitPointerLock();
    this.#abort.abort();
  }
}
