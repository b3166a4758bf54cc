/**
 * Sends input packets, each message exactly the bytes `serializeInputPacket` makes
 * (docs/signaling.md "Media and input").
 *
 * WebRTC: on the viewer's data channels. Keys, buttons, text and controller arrival go on `input`
 * (reliable, ordered); absolute mouse motion and controller state on `input-unreliable` when it is
 * open, since a newer sample replaces a lost one.
 * WebSocket transport: as binary INPUT messages on the peer socket (docs/ws-media.md), in order;
 * motion is skipped (never queued) while the socket is congested, keys and buttons always go.
 *
 * Over WebRTC it also sends the heartbeat on `input` (src/peer/heartbeat.ts): without it mlstream
 * takes this viewer for a frozen one and releases the keys it holds. (On the WebSocket transport
 * the RTT ping of ws-media.ts is the heartbeat.)
 */
import { serializeInputPacket, type InputPacket } from "../../src/moonlight/input/input.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_MESSAGE } from "../../src/peer/heartbeat.ts";
import { serializeInput } from "../../src/peer/ws-media.ts";

/** The peer socket, as the WebSocket transport sends input on it. */
export interface InputSocket {
  readonly open: boolean;
  readonly bufferedAmount: number;
  send(data: Uint8Array<ArrayBuffer>): void;
}

const CONGESTED_BYTES = 64 * 1024;

export class InputSender {
  #reliable: RTCDataChannel | undefined;
  #unreliable: RTCDataChannel | undefined;
  #socket: InputSocket | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Packets sent, for the stats overlay and tests. */
  sent = 0;

  /** Adopts a data channel the server opened (RTCPeerConnection `datachannel` event). */
  attach(channel: RTCDataChannel): void {
    channel.binaryType = "arraybuffer";
    if (channel.label === "input") {
      this.#reliable = channel;
      this.#heartbeat ??= setInterval(() => {
        if (this.#reliable?.readyState === "open") this.#reliable.send(HEARTBEAT_MESSAGE);
      }, HEARTBEAT_INTERVAL_MS);
    } else if (channel.label === "input-unreliable") this.#unreliable = channel;
  }

  /** The WebSocket transport: input goes on the peer socket from now on. */
  attachSocket(socket: InputSocket): void {
    this.detach();
    this.#socket = socket;
  }

  /** The peer connection (or the socket's media) is gone: its channels with it. */
  detach(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#reliable = undefined;
    this.#unreliable = undefined;
    this.#socket = undefined;
  }

  get ready(): boolean {
    return this.#socket ? this.#socket.open : this.#reliable?.readyState === "open";
  }

  send(packet: InputPacket): boolean {
    const unreliable = packet.kind === "mouseMoveAbsolute" || packet.kind === "gamepadState" || (packet.kind === "touch" && packet.eventType === 3);
    const socket = this.#socket;
    if (socket) {
      if (!socket.open) return false;
      if (unreliable && socket.bufferedAmount > CONGESTED_BYTES) return false;
      socket.send(serializeInput(serializeInputPacket(packet)));
      this.sent++;
      return true;
    }
    const channel = unreliable && this.#unreliable?.readyState === "open" ? this.#unreliable : this.#reliable;
    if (channel?.readyState !== "open") return false;
    // Never queue stale motion behind a congested channel; keys and buttons always go.
    if (unreliable && channel.bufferedAmount > CONGESTED_BYTES) return false;
    channel.send(serializeInputPacket(packet) as Uint8Array<ArrayBuffer>);
    this.sent++;
    return true;
  }
}
