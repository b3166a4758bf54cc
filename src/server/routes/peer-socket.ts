/**
 * WS /api/streamers/{id}/peer: signaling for one viewer (docs/signaling.md). On open the server
 * says hello (peer id, role, ICE servers for the browser), then the streamer sends its offer,
 * stream info and status; the viewer answers and trickles candidates. Closing the socket leaves
 * the stream (the input the viewer held is released). A viewer rejoins by opening a new socket.
 */
import { Elysia, t } from "elysia";
import { logger } from "../../core/log.ts";
import { iceServersFromCommand, toBrowserIceServer, type BrowserIceServer } from "../../peer/ice-servers.ts";
import { parseViewerSignal, SignalFormatError, type ServerSignal } from "../../peer/signaling.ts";
import type { Role } from "../auth.ts";
import { HttpError } from "../http-error.ts";
import { CLOSE_STREAMER_GONE, type StreamerSupervisor } from "../streamer-supervisor.ts";

const log = logger("peer-ws");

export interface PeerSocketOptions {
  supervisor: StreamerSupervisor;
  iceServers: string[];
  iceServersCommand: string;
}

export function peerSocketRoute(options: PeerSocketOptions) {
  const { supervisor } = options;
  const peers = new Map<string, { streamerId: string; peerId: string }>();

  const browserIce = async (): Promise<{ browser: BrowserIceServer[]; urls: string[]; perViewer: boolean }> => {
    let urls = options.iceServers;
    let perViewer = false;
    if (options.iceServersCommand) {
      try {
        urls = await iceServersFromCommand(options.iceServersCommand);
        perViewer = true;
      } catch (error) {
        log.warn(`ice_servers_command: ${(error as Error).message}; using the configured servers`);
      }
    }
    return { urls, perViewer, browser: urls.map((url) => toBrowserIceServer(url)) };
  };

  return new Elysia().ws("/api/streamers/:id/peer", {
    query: t.Object({ access_token: t.Optional(t.String()), view_only: t.Optional(t.String()) }),
    async open(ws) {
      const role = (ws.data as unknown as { role: Role }).role;
      const streamerId = ws.data.params.id;
      const viewOnly = role === "view-only" || ws.data.query.view_only === "1" || ws.data.query.view_only === "true";
      const send = (message: ServerSignal) => ws.send(JSON.stringify(message));
      try {
        const ice = await browserIce();
        const peerId = supervisor.addPeer(streamerId, {
          viewOnly,
          ...(ice.perViewer ? { iceServers: ice.urls } : {}),
          send,
          disconnect: (code, reason) => ws.close(code, reason),
        });
        peers.set(ws.id, { streamerId, peerId });
        // Sent before the streamer's offer can arrive (that takes an IPC round trip).
        send({ type: "hello", peerId, role: viewOnly ? "view-only" : "viewer", transport: "webrtc", iceServers: ice.browser });
      } catch (error) {
        const mapped = error instanceof HttpError ? error : new HttpError(500, "internal", (error as Error).message);
        send({ type: "error", error: mapped.code, message: mapped.message });
        ws.close(CLOSE_STREAMER_GONE, mapped.code);
      }
    },
    message(ws, raw) {
      const peer = peers.get(ws.id);
      if (!peer) return;
      try {
        supervisor.signal(peer.streamerId, peer.peerId, parseViewerSignal(raw));
      } catch (error) {
        const reason = error instanceof SignalFormatError ? error.message : "bad message";
        ws.send(JSON.stringify({ type: "error", error: "bad_message", message: reason } satisfies ServerSignal));
      }
    },
    close(ws) {
      const peer = peers.get(ws.id);
      if (!peer) return;
      peers.delete(ws.id);
      supervisor.removePeer(peer.streamerId, peer.peerId, "signaling closed");
    },
  });
}
