/**
 * One Helix browser (or kickoff-joined viewer) attached to one of our streamers: our signaling
 * (docs/signaling.md) spoken as Helix's messages (docs/helix.md §1.2). We always offer; the offer
 * goes out before `WebRtcConfig`, so the Helix client answers it whatever its mode.
 */
import type { ServerSignal } from "../../peer/signaling.ts";
import { CLOSE_KICKED, type StreamerSupervisor } from "../../server/streamer-supervisor.ts";
import { offerForHelixBrowser } from "./helix-offer.ts";
import { parseClientSignal, serverMessage, type UnitMessage } from "./messages.ts";

export interface HelixSocket {
  send(message: unknown): void;
  close(code: number, reason: string): void;
}

export class HelixViewer {
  readonly streamerId: string;
  #peerId: string | undefined;
  readonly #socket: HelixSocket;
  readonly #supervisor: StreamerSupervisor;
  readonly #iceServers: unknown[];
  #configSent = false;
  #complete = false;
  #size: [number, number] = [0, 0];
  #closed = false;
  /** Offers the browser made itself (we always offer; counted, ignored). */
  ignoredOffers = 0;

  constructor(options: { socket: HelixSocket; supervisor: StreamerSupervisor; streamerId: string; iceServers: unknown[]; onEnded?: () => void }) {
    this.#socket = options.socket;
    this.#supervisor = options.supervisor;
    this.streamerId = options.streamerId;
    this.#iceServers = options.iceServers;
    this.#onEnded = options.onEnded;
  }
  readonly #onEnded: (() => void) | undefined;

  get peerId(): string | undefined {
    return this.#peerId;
  }

  attach(): void {
    this.#peerId = this.#supervisor.addPeer(this.streamerId, {
      viewOnly: false,
      transport: "webrtc",
      socket: { sendBinary: () => 0, getBufferedAmount: () => 0 },
      send: (signal) => this.#onSignal(signal),
      disconnect: (code, reason) => {
        this.#closed = true;
        this.#socket.close(code === CLOSE_KICKED ? 1000 : code, reason);
        this.#onEnded?.();
      },
    });
  }

  /** A text frame from the browser after AuthenticateAndInit. */
  handleText(text: string): void {
    if (!this.#peerId) return;
    const signal = parseClientSignal(text);
    if (signal.type === "offer") {
      this.ignoredOffers++;
      return;
    }
    if (signal.type === "answer") this.#supervisor.signal(this.streamerId, this.#peerId, { type: "answer", sdp: signal.sdp });
    else this.#supervisor.signal(this.streamerId, this.#peerId, { type: "candidate", candidate: signal.candidate, mid: signal.mid ?? "0" });
  }

  /** The browser's socket is alive (its pong): the viewer's heartbeat. */
  heartbeat(): void {
    if (!this.#peerId || this.#closed) return;
    try {
      this.#supervisor.processOf(this.streamerId).heartbeat(this.#peerId);
    } catch {
      // the streamer is gone; its end reaches us through disconnect
    }
  }

  /** Another client joined this session with `join`: the fork kicks the old one. */
  kick(): void {
    this.#unit("ClientKicked");
    this.leave("kicked by a joining client");
    this.#socket.close(1000, "kicked");
  }

  /** The browser's socket closed (or it was kicked): leave the streamer. Idempotent. */
  leave(reason = "signaling closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#peerId) this.#supervisor.removePeer(this.streamerId, this.#peerId, reason);
  }

  #unit(message: UnitMessage): void {
    this.#socket.send(message);
  }

  #onSignal(signal: ServerSignal): void {
    switch (signal.type) {
      case "offer":
        this.#socket.send(serverMessage.offer(offerForHelixBrowser(signal.sdp)));
        if (!this.#configSent) {
          this.#configSent = true;
          this.#socket.send(serverMessage.webRtcConfig(this.#iceServers));
        }
        return;
      case "candidate":
        this.#socket.send(serverMessage.candidate(signal.candidate, signal.mid));
        return;
      case "stream":
        this.#size = [signal.info.width, signal.info.height];
        return;
      case "status":
        if (signal.status === "live" && !this.#complete) {
          this.#complete = true;
          this.#socket.send(serverMessage.stageComplete("Moonlight Stream"));
          this.#socket.send(serverMessage.connectionComplete(...this.#size));
        } else if (signal.status === "starting" || signal.status === "reconnecting") {
          this.#socket.send(serverMessage.stageStarting("Moonlight Stream"));
        }
        return;
      case "end":
        if (signal.reason === "kicked") this.#unit("ClientKicked");
        else {
          this.#socket.send(serverMessage.connectionTerminated(-1));
          this.#unit("PeerDisconnect");
        }
        return;
      default:
        return;
    }
  }
}
