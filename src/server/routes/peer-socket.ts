/**
 * WS /api/streamers/{id}/peer: signaling for one viewer (docs/signaling.md), and its media when
 * it uses the WebSocket transport (docs/ws-media.md). On open the server says hello (peer id,
 * role, transport, ICE servers for the browser); then either the streamer sends its WebRTC offer,
 * or — transport "websocket", or "auto" once WebRTC failed — media arrives as binary frames on
 * this socket. Closing the socket leaves the stream (the input the viewer held is released).
 */
import { Elysia, t } from "elysia";
import { logger } from "../../core/log.ts";
import { iceServersFromCommand, toBrowserIceServer, type BrowserIceServer } from "../../peer/ice-servers.ts";
import { parseViewerSignal, SignalFormatError, type ServerSignal } from "../../peer/signaling.ts";
import { parseWsMedia, serializePing, WsMediaFormatError } from "../../peer/ws-media.ts";
import type { Role } from "../auth.ts";
import { HttpError } from "../http-error.ts";
import { CLOSE_STREAMER_GONE, type StreamerSupervisor, type TransportChoice } from "../streamer-supervisor.ts";

const log = logger("peer-ws");

export interface PeerSocketOptions {
  supervisor: StreamerSupervisor;
  iceServers: string[];
  iceServersCommand: string;
  /** "relay": every viewer uses TURN relay candidates only; else a viewer may ask for it (`?ice=relay`). */
  iceTransportPolicy: "all" | "relay";
  /** Used when the viewer does not say (`?transport=`). */
  defaultTransport: TransportChoice;
  /** Another sidecar's viewer protocol on this path (Helix's multi mode): the sockets it claims are its own. */
  protocol?: PeerSocketProtocol;
}

/** The socket as another protocol sees it. */
export interface ProtocolSocket {
  readonly id: string;
  send(text: string): void;
  close(code: number, reason: string): void;
  ping(): void;
}

export interface PeerSocketProtocol {
  /** Decided on the upgrade request (the gate has let it through already). */
  claims(request: Request): boolean;
  open(socket: ProtocolSocket, streamerId: string): void;
  /** A text frame, or undefined for a binary one. */
  message(socketId: string, text: string | undefined): void;
  pong(socketId: string): void;
  close(socketId: string): void;
}

const TRANSPORTS = new Set<TransportChoice>(["auto", "webrtc", "websocket"]);

export function peerSocketRoute(options: PeerSocketOptions) {
  const { supervisor } = options;
  const peers = new Map<string, { streamerId: string; peerId: string }>();
  const { protocol } = options;
  /** Sockets the other protocol claimed. */
  const claimed = new Set<string>();

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
    query: t.Object({ access_token: t.Optional(t.String()), view_only: t.Optional(t.String()), transport: t.Optional(t.String()), ice: t.Optional(t.String()) }),
    async open(ws) {
      if (protocol?.claims((ws.data as unknown as { request: Request }).request)) {
        claimed.add(ws.id);
        protocol.open({ id: ws.id, send: (text) => void ws.send(text), close: (code, reason) => ws.close(code, reason), ping: () => void ws.raw.ping() }, ws.data.params.id);
        return;
      }
      const role = (ws.data as unknown as { role: Role }).role;
      const streamerId = ws.data.params.id;
      const viewOnly = role === "view-only" || ws.data.query.view_only === "1" || ws.data.query.view_only === "true";
      const send = (message: ServerSignal) => void ws.send(JSON.stringify(message));
      const asked = ws.data.query.transport as TransportChoice | undefined;
      if (asked !== undefined && !TRANSPORTS.has(asked)) {
        send({ type: "error", error: "invalid_request", message: "transport must be auto, webrtc or websocket" });
        ws.close(1008, "bad transport");
        return;
      }
      const transport = asked ?? options.defaultTransport;
      const ice = ws.data.query.ice;
      if (ice !== undefined && ice !== "all" && ice !== "relay") {
        send({ type: "error", error: "invalid_request", message: "ice must be all or relay" });
        ws.close(1008, "bad ice");
        return;
      }
      const relayOnly = options.iceTransportPolicy === "relay" || ice === "relay";
      try {
        const servers = await browserIce();
        const peerId = supervisor.addPeer(streamerId, {
          viewOnly,
          transport,
          socket: {
            sendBinary: (data) => ws.raw.sendBinary(data),
            // Bun's ServerWebSocket has it; Elysia's type does not say so.
            getBufferedAmount: () => (ws.raw as unknown as { getBufferedAmount(): number }).getBufferedAmount(),
          },
          send,
          disconnect: (code, reason) => ws.close(code, reason),
          ...(servers.perViewer ? { iceServers: servers.urls } : {}),
        });
        peers.set(ws.id, { streamerId, peerId });
        // Sent before the streamer's offer (an IPC round trip away) or the first media frame.
        const media = supervisor.mediaPathOf(streamerId, peerId);
        send({ type: "hello", peerId, role: viewOnly ? "view-only" : "viewer", transport: media.transport, ...(media.janus ? { janus: media.janus } : {}),
          iceServers: servers.browser,
          ...(relayOnly ? { iceTransportPolicy: "relay" as const } : {}),
        });
      } catch (error) {
        const mapped = error instanceof HttpError ? error : new HttpError(500, "internal", (error as Error).message);
        send({ type: "error", error: mapped.code, message: mapped.message });
        ws.close(CLOSE_STREAMER_GONE, mapped.code);
      }
    },
    message(ws, raw) {
      if (claimed.has(ws.id)) {
        protocol!.message(ws.id, typeof raw === "string" ? raw : raw instanceof Uint8Array ? undefined : JSON.stringify(raw));
        return;
      }
      const peer = peers.get(ws.id);
      if (!peer) return;
      if (raw instanceof Uint8Array) {
        // Binary: input and pings of the WebSocket transport.
        try {
          const message = parseWsMedia(raw);
          if (message.type === "input") supervisor.input(peer.streamerId, peer.peerId, message.packet);
          else if (message.type === "ping") {
            ws.raw.sendBinary(serializePing("pong", message.clockMs));
            // The ping is also the viewer's heartbeat (src/peer/heartbeat.ts).
            supervisor.heartbeat(peer.streamerId, peer.peerId);
          }
        } catch (error) {
          if (!(error instanceof WsMediaFormatError)) throw error;
          ws.send(JSON.stringify({ type: "error", error: "bad_message", message: error.message } satisfies ServerSignal));
        }
        return;
      }
      try {
        const signal = parseViewerSignal(raw);
        if (signal.type === "transport") supervisor.switchTransport(peer.streamerId, peer.peerId);
        else supervisor.signal(peer.streamerId, peer.peerId, signal);
      } catch (error) {
        const reason = error instanceof SignalFormatError ? error.message : "bad message";
        ws.send(JSON.stringify({ type: "error", error: "bad_message", message: reason } satisfies ServerSignal));
      }
    },
    pong(ws) {
      if (claimed.has(ws.id)) protocol!.pong(ws.id);
    },
    close(ws) {
      if (claimed.delete(ws.id)) {
        protocol!.close(ws.id);
        return;
      }
      const peer = peers.get(ws.id);
      if (!peer) return;
      peers.delete(ws.id);
      supervisor.removePeer(peer.streamerId, peer.peerId, "signaling closed");
    },
  });
}
