/**
 * Helix's multi-mode viewer socket, `WS /api/streamers/{id}/peer` (docs/helix.md §2.3): the
 * same path as our own viewer socket, claimed for the upgrades that carry Helix's credentials in
 * `Authorization` (Helix's proxy adds them; a browser cannot). No `AuthenticateAndInit` here: the
 * viewer joins at once and hears what a single-mode viewer hears — our offer, `WebRtcConfig`,
 * candidates, `ConnectionComplete` when live. The peer id Helix's frontend opens may be longer
 * than the streamer id its backend created; HelixStreamers.resolvePeerTarget settles that.
 */
import { logger } from "../../core/log.ts";
import type { PeerSocketProtocol, ProtocolSocket } from "../../server/routes/peer-socket.ts";
import type { StreamerSupervisor } from "../../server/streamer-supervisor.ts";
import { HelixViewer } from "./helix-viewer.ts";
import { MoonlightWebMessageError, type UnitMessage } from "./messages.ts";

const log = logger("compat");

/** Close code when the peer id names no streamer (ours, docs/signaling.md). */
const CLOSE_NO_STREAMER = 4004;
/** Helix sends no heartbeat: our pings, answered by its socket, stand in for one (docs/helix.md §1.3). */
export const HELIX_PING_EVERY_MS = 500;

interface Claimed {
  socket: ProtocolSocket;
  viewer: HelixViewer | undefined;
  ping: ReturnType<typeof setInterval>;
}

export class HelixPeerSocket implements PeerSocketProtocol {
  readonly claims: (request: Request) => boolean;
  readonly #supervisor: StreamerSupervisor;
  readonly #resolve: (peerId: string) => string | undefined;
  readonly #iceServers: unknown[];
  readonly #sockets = new Map<string, Claimed>();

  constructor(options: { claims: (request: Request) => boolean; supervisor: StreamerSupervisor; resolve: (peerId: string) => string | undefined; iceServers: unknown[] }) {
    this.claims = options.claims;
    this.#supervisor = options.supervisor;
    this.#resolve = options.resolve;
    this.#iceServers = options.iceServers;
  }

  open(socket: ProtocolSocket, peerId: string): void {
    const claimed: Claimed = { socket, viewer: undefined, ping: setInterval(() => socket.ping(), HELIX_PING_EVERY_MS) };
    this.#sockets.set(socket.id, claimed);
    const streamerId = this.#resolve(peerId);
    if (streamerId === undefined) {
      socket.send(JSON.stringify("SessionNotFound" satisfies UnitMessage));
      socket.close(CLOSE_NO_STREAMER, "no such streamer");
      return;
    }
    if (streamerId !== peerId) log.info(`Helix peer '${peerId}' joins streamer '${streamerId}' (longest id prefix)`);
    const viewer = new HelixViewer({
      socket: { send: (message) => socket.send(JSON.stringify(message)), close: (code, reason) => socket.close(code, reason) },
      supervisor: this.#supervisor,
      streamerId,
      iceServers: this.#iceServers,
    });
    claimed.viewer = viewer;
    try {
      viewer.attach();
    } catch (error) {
      socket.send(JSON.stringify("SessionNotFound" satisfies UnitMessage));
      socket.close(CLOSE_NO_STREAMER, (error as Error).message.slice(0, 100));
    }
  }

  message(socketId: string, text: string | undefined): void {
    const viewer = this.#sockets.get(socketId)?.viewer;
    if (!viewer || text === undefined) return;
    try {
      viewer.handleText(text);
    } catch (error) {
      if (!(error instanceof MoonlightWebMessageError)) throw error;
    }
  }

  pong(socketId: string): void {
    this.#sockets.get(socketId)?.viewer?.heartbeat();
  }

  close(socketId: string): void {
    const claimed = this.#sockets.get(socketId);
    if (!claimed) return;
    this.#sockets.delete(socketId);
    clearInterval(claimed.ping);
    claimed.viewer?.leave();
  }
}
