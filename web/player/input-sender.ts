/**
 * Sends input packets on the viewer's data channels, each message exactly the bytes
 * `serializeInputPacket` makes (docs/signaling.md "Media and input"). Keys, buttons, text and
 * controller arrival go on `input` (reliable, ordered); absolute mouse motion and controller
 * state on `input-unreliable` when it is open, since a newer sample replaces a lost one.
 */
import { serializeInputPacket, type InputPacket } from "../../src/moonlight/input.ts";

export class InputSender {
  #reliable: RTCDataChannel | undefined;
  #unreliable: RTCDataChannel | undefined;
  /** Packets sent, for the stats overlay and tests. */
  sent = 0;

  /** Adopts a data channel the server opened (RTCPeerConnection `datachannel` event). */
  attach(channel: RTCDataChannel): void {
    channel.binaryType = "arraybuffer";
    if (channel.label === "input") this.#reliable = channel;
    else if (channel.label === "input-unreliable") this.#unreliable = channel;
  }

  /** The peer connection is gone: its channels with it. */
  detach(): void {
    this.#reliable = undefined;
    this.#unreliable = undefined;
  }

  get ready(): boolean {
    return this.#reliable?.readyState === "open";
  }

  send(packet: InputPacket): boolean {
    const unreliable = packet.kind === "mouseMoveAbsolute" || packet.kind === "gamepadState" || (packet.kind === "touch" && packet.eventType === 3);
    const channel = unreliable && this.#unreliable?.readyState === "open" ? this.#unreliable : this.#reliable;
    if (channel?.readyState !== "open") return false;
    // Never queue stale motion behind a congested channel; keys and buttons always go.
    if (unreliable && channel.bufferedAmount > 64 * 1024) return false;
    channel.send(serializeInputPacket(packet) as Uint8Array<ArrayBuffer>);
    this.sent++;
    return true;
  }
}
