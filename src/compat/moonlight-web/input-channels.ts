/**
 * The input data channels a Helix (moonlight-web) browser opens, translated into GameStream input
 * packets for our input mixer. Layouts are big-endian (docs/helix.md §1.3):
 *
 *   keyboard       u8 0, u8 down, u8 modifiers, u16 vk          | u8 1, u8 len, utf8[len]
 *   mouse*         u8 0, i16 dx, i16 dy                          (relative move)
 *                  u8 1, i16 x, i16 y, i16 refW, i16 refH        (absolute position)
 *                  u8 2, u8 down, u8 button                      (button)
 *                  u8 3, i16 dx, i16 dy                          (high-res wheel)
 *                  u8 4, i8 dx, i8 dy                            (wheel, notches)
 *   touch          u8 type(0 down,1 move,2 cancel), u32 id, f32 x, f32 y, f32 pressure,
 *                  f32 major, f32 minor, u16 rotation
 *   controllers    u8 0, u8 id, u32 supportedButtons, u16 caps   (arrival) | u8 1, u8 id (removal)
 *   controller{N}  u8 0, u32 buttons, u8 lt, u8 rt, i16 lx, i16 ly, i16 rx, i16 ry
 *   controllers ←  u8 0, u8 id, u16 lowFrequency, u16 highFrequency   (rumble, server → browser)
 *
 * One instance per viewer: it keeps that viewer's active-pad mask, as the fork did. It is the
 * ViewerChannels the streamer's process injects into every WebRTC viewer (src/peer/viewer-channels.ts).
 */
import { ControllerType, TouchEventType, unpluggedGamepadState, type InputPacket } from "../../moonlight/input/input.ts";
import type { ChannelTranslator, ViewerChannels } from "../../peer/viewer-channels.ts";

export class MoonlightWebInputError extends Error {
  override name = "MoonlightWebInputError";
}

/** Channel labels the Helix browser opens (plus `controller0`…`controller15`). */
export const MOONLIGHT_WEB_INPUT_LABELS = new Set(["keyboard", "mouseClicks", "mouseAbsolute", "mouseRelative", "touch", "controllers"]);

/** One wheel notch in the reference's high-resolution units. */
const WHEEL_NOTCH = 120;
const MAX_PADS = 16;
const TOUCH_TYPES = [TouchEventType.down, TouchEventType.move, TouchEventType.cancel];
const textDecoder = new TextDecoder("utf-8", { fatal: true });

export class MoonlightWebInput implements ViewerChannels {
  #activePads = 0;

  /** The translator for a channel label, or undefined when the label is not one of Helix's. */
  translator(label: string): ChannelTranslator | undefined {
    switch (label) {
      case "keyboard":
        return (bytes) => this.#keyboard(view(bytes, 1));
      case "mouseClicks":
      case "mouseAbsolute":
      case "mouseRelative":
        return (bytes) => this.#mouse(view(bytes, 1));
      case "touch":
        return (bytes) => this.#touch(view(bytes, 27));
      case "controllers":
        return (bytes) => this.#controllers(view(bytes, 2));
    }
    const match = /^controller(\d{1,2})$/.exec(label);
    if (match && Number(match[1]) < MAX_PADS) {
      const pad = Number(match[1]);
      return (bytes) => this.#controllerState(pad, view(bytes, 15));
    }
    return undefined;
  }

  isMalformed(error: unknown): boolean {
    // RangeError: a DataView read past a message shorter than its type needs.
    return error instanceof MoonlightWebInputError || error instanceof RangeError;
  }

  /** Rumble for the browser's pad `controllerNumber`, on `controllers` (the fork's layout). */
  rumble(controllerNumber: number, lowFrequency: number, highFrequency: number): { label: string; bytes: Uint8Array } {
    const bytes = new Uint8Array(6);
    const v = new DataView(bytes.buffer);
    v.setUint8(0, 0);
    v.setUint8(1, controllerNumber);
    v.setUint16(2, lowFrequency);
    v.setUint16(4, highFrequency);
    return { label: "controllers", bytes };
  }

  #keyboard(v: DataView): InputPacket[] {
    const type = v.getUint8(0);
    if (type === 0) {
      need(v, 5);
      return [{ kind: "keyboard", action: v.getUint8(1) !== 0 ? "down" : "up", modifiers: v.getUint8(2) & 0x0f, keyCode: v.getUint16(3), flags: 0 }];
    }
    if (type === 1) {
      need(v, 2);
      const length = v.getUint8(1);
      need(v, 2 + length);
      const text = textDecoder.decode(new Uint8Array(v.buffer, v.byteOffset + 2, length));
      return text.length > 0 ? [{ kind: "utf8Text", text }] : [];
    }
    throw new MoonlightWebInputError(`unknown keyboard message ${type}`);
  }

  #mouse(v: DataView): InputPacket[] {
    const type = v.getUint8(0);
    switch (type) {
      case 0:
        need(v, 5);
        return [{ kind: "mouseMoveRelative", deltaX: v.getInt16(1), deltaY: v.getInt16(3) }];
      case 1:
        need(v, 9);
        return [{ kind: "mouseMoveAbsolute", x: v.getInt16(1), y: v.getInt16(3), referenceWidth: v.getInt16(5), referenceHeight: v.getInt16(7) }];
      case 2: {
        need(v, 3);
        const button = v.getUint8(2);
        if (button < 1 || button > 5) throw new MoonlightWebInputError(`unknown mouse button ${button}`);
        return [{ kind: "mouseButton", action: v.getUint8(1) !== 0 ? "down" : "up", button }];
      }
      case 3:
      case 4: {
        need(v, type === 3 ? 5 : 3);
        const dx = type === 3 ? v.getInt16(1) : v.getInt8(1) * WHEEL_NOTCH;
        const dy = type === 3 ? v.getInt16(3) : v.getInt8(2) * WHEEL_NOTCH;
        const packets: InputPacket[] = [];
        if (dy !== 0) packets.push({ kind: "scroll", amount: dy });
        if (dx !== 0) packets.push({ kind: "horizontalScroll", amount: dx });
        return packets;
      }
    }
    throw new MoonlightWebInputError(`unknown mouse message ${type}`);
  }

  #touch(v: DataView): InputPacket[] {
    const eventType = TOUCH_TYPES[v.getUint8(0)];
    if (eventType === undefined) throw new MoonlightWebInputError(`unknown touch event ${v.getUint8(0)}`);
    return [
      {
        kind: "touch",
        eventType,
        pointerId: v.getUint32(1),
        x: v.getFloat32(5),
        y: v.getFloat32(9),
        pressureOrDistance: v.getFloat32(13),
        contactAreaMajor: v.getFloat32(17),
        contactAreaMinor: v.getFloat32(21),
        rotation: v.getUint16(25),
      },
    ];
  }

  #controllers(v: DataView): InputPacket[] {
    const type = v.getUint8(0);
    const pad = v.getUint8(1);
    if (pad >= MAX_PADS) throw new MoonlightWebInputError(`controller ${pad} is out of range`);
    if (type === 0) {
      need(v, 8);
      this.#activePads |= 1 << pad;
      return [{ kind: "controllerArrival", controllerNumber: pad, controllerType: ControllerType.unknown, supportedButtonFlags: v.getUint32(2), capabilities: v.getUint16(6) }];
    }
    if (type === 1) {
      this.#activePads &= ~(1 << pad);
      return [unpluggedGamepadState(pad, this.#activePads)];
    }
    throw new MoonlightWebInputError(`unknown controllers message ${type}`);
  }

  #controllerState(pad: number, v: DataView): InputPacket[] {
    if (v.getUint8(0) !== 0) throw new MoonlightWebInputError(`unknown controller message ${v.getUint8(0)}`);
    // The fork drops state for a pad that never arrived.
    if ((this.#activePads & (1 << pad)) === 0) return [];
    return [
      {
        kind: "gamepadState",
        controllerNumber: pad,
        activeGamepadMask: this.#activePads,
        buttonFlags: v.getUint32(1),
        leftTrigger: v.getUint8(5),
        rightTrigger: v.getUint8(6),
        leftStickX: v.getInt16(7),
        leftStickY: v.getInt16(9),
        rightStickX: v.getInt16(11),
        rightStickY: v.getInt16(13),
      },
    ];
  }
}

function view(bytes: Uint8Array, minimum: number): DataView {
  if (bytes.byteLength < minimum) throw new MoonlightWebInputError(`message of ${bytes.byteLength} bytes is too short`);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function need(v: DataView, length: number): void {
  if (v.byteLength < length) throw new MoonlightWebInputError(`message of ${v.byteLength} bytes is too short (needs ${length})`);
}
