/**
 * Touch and pen, from pointer events. When the host takes touch (stream capability `touch`), each
 * contact goes as a touch packet in picture-relative coordinates (0–1); pens likewise when it takes
 * pens. Otherwise the first finger drives the mouse: absolute position plus the left button.
 */
import { MouseButton, TouchEventType, type InputPacket } from "../../src/moonlight/input/input.ts";
import { contentRect, normalizedPoint } from "./geometry.ts";

export interface TouchCaptureOptions {
  surface: HTMLElement;
  video: HTMLVideoElement;
  send: (packet: InputPacket) => void;
  capabilities: () => { touch: boolean; pen: boolean };
}

/** moonlight-common-c's "rotation unknown". */
const ROTATION_UNKNOWN = 0xffff;
const TOOL_PEN = 1;
const TOOL_ERASER = 2;

export class TouchCapture {
  readonly #options: TouchCaptureOptions;
  readonly #abort = new AbortController();
  /** Pointer ids currently down on the host as touch/pen contacts. */
  readonly #contacts = new Set<number>();
  /** The finger that emulates the mouse, when the host takes no touch. */
  #mouseFinger: number | undefined;

  constructor(options: TouchCaptureOptions) {
    this.#options = options;
    const { surface } = options;
    const signal = this.#abort.signal;
    const on = (type: string, eventType: number) =>
      surface.addEventListener(type, (e) => this.#onPointer(e as PointerEvent, eventType), { signal, passive: false });
    on("pointerdown", TouchEventType.down);
    on("pointermove", TouchEventType.move);
    on("pointerup", TouchEventType.up);
    on("pointercancel", TouchEventType.cancel);
  }

  #onPointer(event: PointerEvent, eventType: number): void {
    if (event.pointerType !== "touch" && event.pointerType !== "pen") return;
    // No compatibility mouse events, no scrolling or zooming of the page.
    event.preventDefault();
    const rect = contentRect(this.#options.video);
    if (!rect) return;
    const down = eventType === TouchEventType.down;
    const tracked = this.#contacts.has(event.pointerId) || this.#mouseFinger === event.pointerId;
    if (!down && !tracked) return;
    const point = normalizedPoint(rect, event.clientX, event.clientY, !down);
    if (!point) return;
    if (down) this.#options.surface.setPointerCapture(event.pointerId);
    const caps = this.#options.capabilities();
    const isPen = event.pointerType === "pen";

    if ((isPen && caps.pen) || (!isPen && caps.touch)) {
      if (down) this.#contacts.add(event.pointerId);
      if (eventType === TouchEventType.up || eventType === TouchEventType.cancel) this.#contacts.delete(event.pointerId);
      const areaMajor = Math.max(event.width, event.height) / Math.max(rect.width, rect.height);
      const areaMinor = Math.min(event.width, event.height) / Math.max(rect.width, rect.height);
      if (isPen) {
        this.#options.send({
          kind: "pen",
          eventType,
          toolType: event.buttons & 32 ? TOOL_ERASER : TOOL_PEN,
          penButtons: event.buttons & 2 ? 0x01 : 0,
          x: point.x,
          y: point.y,
          pressureOrDistance: event.pressure,
          rotation: ROTATION_UNKNOWN,
          tilt: Math.min(90, Math.round(Math.hypot(event.tiltX, event.tiltY))),
          contactAreaMajor: areaMajor,
          contactAreaMinor: areaMinor,
        });
      } else {
        this.#options.send({
          kind: "touch",
          eventType,
          rotation: ROTATION_UNKNOWN,
          pointerId: event.pointerId,
          x: point.x,
          y: point.y,
          pressureOrDistance: event.pressure,
          contactAreaMajor: areaMajor,
          contactAreaMinor: areaMinor,
        });
      }
      return;
    }

    // Mouse emulation with the first finger.
    if (down && this.#mouseFinger !== undefined) return;
    const x = Math.min(rect.videoWidth - 1, Math.floor(point.x * rect.videoWidth));
    const y = Math.min(rect.videoHeight - 1, Math.floor(point.y * rect.videoHeight));
    this.#options.send({ kind: "mouseMoveAbsolute", x, y, referenceWidth: rect.videoWidth, referenceHeight: rect.videoHeight });
    if (down) {
      this.#mouseFinger = event.pointerId;
      this.#options.send({ kind: "mouseButton", action: "down", button: MouseButton.left });
    } else if (eventType === TouchEventType.up || eventType === TouchEventType.cancel) {
      this.#mouseFinger = undefined;
      this.#options.send({ kind: "mouseButton", action: "up", button: MouseButton.left });
    }
  }

  releaseAll(): void {
    if (this.#contacts.size > 0) {
      this.#options.send({ kind: "touch", eventType: TouchEventType.cancelAll, rotation: ROTATION_UNKNOWN, pointerId: 0, x: 0, y: 0, pressureOrDistance: 0, contactAreaMajor: 0, contactAreaMinor: 0 });
      this.#contacts.clear();
    }
    if (this.#mouseFinger !== undefined) {
      this.#options.send({ kind: "mouseButton", action: "up", button: MouseButton.left });
      this.#mouseFinger = undefined;
    }
  }

  close(): void {
    this.releaseAll();
    this.#abort.abort();
  }
}
