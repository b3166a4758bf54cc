/**
 * Helix's single-mode sidecar API (docs/helix.md §1) over our streamer registry:
 *
 *   WS  /api/host/stream    AuthenticateAndInit, then signaling (access level "in-band")
 *   POST /api/pair          {"host_id":0} → ndjson {"Pin":…} then {"Paired":…}
 *   GET /api/sessions, GET /api/admin/status
 *
 * A session is one of our persistent streamers (`mlw-<session_id>`): `keepalive` starts it
 * headless, `create` starts it with this viewer, `join` moves the Helix viewer (the old one is
 * kicked, as the fork does). A closed kickoff stops the streamer only when nobody watches it.
 */
import { Elysia, t } from "elysia";
import { logger } from "../../core/log.ts";
import type { Store } from "../../core/store.ts";
import type { HostService } from "../../hosts/host-service.ts";
import type { Auth } from "../../server/auth.ts";
import { HttpError } from "../../server/http-error.ts";
import { normalizeStreamerRequest } from "../../server/streamer-request.ts";
import type { StreamerSupervisor } from "../../server/streamer-supervisor.ts";
import type { HelixSettings } from "./helix-config.ts";
import { identityFor, ourIdFor, type HelixHosts } from "./helix-hosts.ts";
import { HELIX_PING_EVERY_MS } from "./helix-peer-socket.ts";
import { HelixViewer } from "./helix-viewer.ts";
import { MoonlightWebMessageError, parseAuthenticateAndInit, serverMessage, type AuthenticateAndInit, type SessionMode, type UnitMessage } from "./messages.ts";
import { pairResponse } from "./pair-stream.ts";

const log = logger("compat");

/** The first message must arrive (and authenticate) within this long. */
export const IN_BAND_AUTH_DEADLINE_MS = 5000;
/** Close code when the first message is missing, malformed or not authenticated. */
export const CLOSE_NOT_AUTHENTICATED = 1008;

export interface MoonlightWebCompatOptions {
  auth: Auth;
  store: Store;
  hosts: HostService;
  supervisor: StreamerSupervisor;
  helix: HelixSettings;
  helixHosts: HelixHosts;
  idleTimeoutS: number;
}

interface Session {
  sessionId: string;
  streamerId: string;
  clientUniqueId: string | null;
  mode: SessionMode;
  viewer: HelixViewer | undefined;
  /** The keepalive socket is still open. */
  kickoffOpen: boolean;
  /** Watching for the last viewer (ours or Helix's) to leave, to stop the streamer then. */
  watch?: ReturnType<typeof setInterval>;
}

/** How often a session nobody of Helix's holds looks whether anyone still watches its streamer. */
const LAST_VIEWER_CHECK_MS = 500;

interface SocketState {
  timer?: ReturnType<typeof setTimeout>;
  ping?: ReturnType<typeof setInterval>;
  session?: Session;
  viewer?: HelixViewer;
  /** The first message was taken (later ones are signaling). */
  initialized: boolean;
}

export function moonlightWebRoutes(options: MoonlightWebCompatOptions) {
  const { supervisor, auth } = options;
  const { helixHosts } = options;
  const sessions = new Map<string, Session>();
  const sockets = new Map<string, SocketState>();

  const credentialsValid = (credentials: string | null): boolean => {
    if (!auth.enabled) return true;
    if (credentials === null) return false;
    // The same constant-time comparison as every other token (src/server/auth.ts).
    return auth.roleOf(new Request("http://in-band/", { headers: { authorization: `Bearer ${credentials}` } }), { allowQueryToken: false }) === "admin";
  };

  const viewerCount = (streamerId: string): number => {
    try {
      return supervisor.get(streamerId).viewers.length;
    } catch {
      return 0;
    }
  };

  const stopSession = async (session: Session, why: string) => {
    if (sessions.get(session.sessionId) === session) sessions.delete(session.sessionId);
    log.info(`session ${session.sessionId}: ${why}; stopping streamer ${session.streamerId}`);
    try {
      await supervisor.remove(session.streamerId, false);
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 404)) log.warn(`session ${session.sessionId}: ${(error as Error).message}`);
    }
  };

  /**
   * A session whose kickoff and Helix viewer are gone stops once nobody watches its streamer — at
   * once, or when the last of our own player's viewers leaves (the fork stopped it on any close).
   */
  const maybeStop = (session: Session, why: string) => {
    if (session.kickoffOpen || sessions.get(session.sessionId) !== session || session.watch) return;
    // Checked again and again: viewer counts settle after the child hears of a leave, and our own
    // player's viewers may stay long after Helix's left.
    session.watch = setInterval(() => {
      if (session.kickoffOpen || session.viewer || sessions.get(session.sessionId) !== session) {
        clearInterval(session.watch);
        session.watch = undefined;
        return;
      }
      if (viewerCount(session.streamerId) > 0) return;
      clearInterval(session.watch);
      session.watch = undefined;
      void stopSession(session, why);
    }, LAST_VIEWER_CHECK_MS);
  };

  const start = async (ws: { send(m: string): void; close(c: number, r: string): void }, state: SocketState, init: AuthenticateAndInit): Promise<void> => {
    const send = (message: unknown) => ws.send(typeof message === "string" ? JSON.stringify(message) : JSON.stringify(message));
    const fail = (message: UnitMessage, why: string) => {
      log.info(`session ${init.session_id}: ${why}`);
      send(message);
      ws.close(1000, message);
    };
    const existing = sessions.get(init.session_id);
    if (existing) {
      if (init.mode === "create") return fail("AlreadyStreaming", "exists (create)");
      if (init.mode === "keepalive") return ws.close(1000, "session exists");
      existing.viewer?.kick();
      attachViewer(ws, state, existing);
      return;
    }
    if (init.mode === "join") return fail("SessionNotFound", "no such session (join)");

    const hostId = helixHosts.hostId(init.host_id);
    if (hostId === undefined) return fail("HostNotFound", `no host ${init.host_id}`);
    const identityId = identityFor(init.client_unique_id);
    try {
      await helixHosts.ensurePaired(hostId, identityId);
    } catch (error) {
      return fail(helixHosts.isPaired(hostId, identityId) ? "InternalServerError" : "HostNotPaired", `pairing ${identityId}: ${(error as Error).message}`);
    }
    let app;
    try {
      app = await options.hosts.pairedClient(options.hosts.get(hostId), identityId).findApp(init.app_id);
    } catch (error) {
      return fail("AppNotFound", `app ${init.app_id}: ${(error as Error).message}`);
    }
    send(serverMessage.updateApp({ id: app.id, title: app.title }));
    send(serverMessage.stageStarting("Launch Streamer"));
    const request = normalizeStreamerRequest({ host_id: hostId, app_id: app.id, bitrate: Math.max(500, init.bitrate), packet_size: init.packet_size, fps: init.fps, width: init.width, height: init.height, play_audio_local: init.play_audio_local, video_supported_formats: init.video_supported_formats }, { idleTimeoutS: options.idleTimeoutS });
    const streamerId = ourIdFor("mlw-", init.session_id);
    try {
      supervisor.create(streamerId, { hostId, appId: app.id, appTitle: app.title, identityId, settings: request.settings, idleTimeoutS: request.idleTimeoutS });
    } catch (error) {
      return fail(error instanceof HttpError && error.status === 409 ? "AlreadyStreaming" : "InternalServerError", `streamer: ${(error as Error).message}`);
    }
    send(serverMessage.stageComplete("Launch Streamer"));
    const session: Session = { sessionId: init.session_id, streamerId, clientUniqueId: init.client_unique_id, mode: init.mode, viewer: undefined, kickoffOpen: init.mode === "keepalive" };
    sessions.set(session.sessionId, session);
    state.session = session;
    if (init.mode === "create") attachViewer(ws, state, session);
  };

  const attachViewer = (ws: { send(m: string): void; close(c: number, r: string): void }, state: SocketState, session: Session) => {
    const viewer = new HelixViewer({
      socket: { send: (m) => ws.send(JSON.stringify(m)), close: (c, r) => ws.close(c, r) },
      supervisor,
      streamerId: session.streamerId,
      iceServers: options.helix.browserIceServers,
      onEnded: () => maybeStop(session, "its viewer's peer ended"),
    });
    session.viewer = viewer;
    state.viewer = viewer;
    state.session = session;
    try {
      viewer.attach();
    } catch (error) {
      ws.send(JSON.stringify("SessionNotFound" satisfies UnitMessage));
      ws.close(4004, (error as Error).message.slice(0, 100));
    }
  };

  return new Elysia({ detail: { tags: ["moonlight-web compat"] } })
    .ws("/api/host/stream", {
      open(ws) {
        const state: SocketState = { initialized: false };
        sockets.set(ws.id, state);
        state.timer = setTimeout(() => {
          if (state.initialized) return;
          ws.send(JSON.stringify(serverMessage.stageFailed("Authentication", -1)));
          ws.close(CLOSE_NOT_AUTHENTICATED, "no AuthenticateAndInit in time");
        }, IN_BAND_AUTH_DEADLINE_MS);
      },
      async message(ws, raw) {
        const state = sockets.get(ws.id);
        if (!state) return;
        const text = typeof raw === "string" ? raw : raw instanceof Uint8Array ? undefined : JSON.stringify(raw);
        if (!state.initialized) {
          state.initialized = true;
          clearTimeout(state.timer);
          let init: AuthenticateAndInit;
          try {
            if (text === undefined) throw new MoonlightWebMessageError("binary first message");
            init = parseAuthenticateAndInit(text);
          } catch (error) {
            ws.close(CLOSE_NOT_AUTHENTICATED, (error as Error).message.slice(0, 100));
            return;
          }
          if (!credentialsValid(init.credentials)) {
            ws.send(JSON.stringify(serverMessage.stageFailed("Authentication", -1)));
            ws.close(CLOSE_NOT_AUTHENTICATED, "bad credentials");
            return;
          }
          state.ping = setInterval(() => ws.raw.ping(), HELIX_PING_EVERY_MS);
          await start(ws, state, init);
          return;
        }
        if (!state.viewer || text === undefined) return;
        try {
          state.viewer.handleText(text);
        } catch (error) {
          if (!(error instanceof MoonlightWebMessageError)) throw error;
        }
      },
      pong(ws) {
        sockets.get(ws.id)?.viewer?.heartbeat();
      },
      close(ws) {
        const state = sockets.get(ws.id);
        sockets.delete(ws.id);
        if (!state) return;
        clearTimeout(state.timer);
        clearInterval(state.ping);
        const session = state.session;
        if (state.viewer) {
          state.viewer.leave();
          if (session?.viewer === state.viewer) session.viewer = undefined;
        }
        if (!session) return;
        if (session.mode === "keepalive" && !state.viewer) session.kickoffOpen = false;
        maybeStop(session, state.viewer ? "its viewer left" : "its kickoff closed");
      },
    })
    .post("/api/pair", ({ body }) => pairResponse(helixHosts, options.hosts, body.host_id), {
      body: t.Object({ host_id: t.Number({ minimum: 0, maximum: 0xffff_ffff, multipleOf: 1 }) }, { additionalProperties: true }),
      detail: { summary: "Helix: pair host_id with the shared PIN (ndjson)" },
    })
    .get("/api/sessions", () => ({ sessions: [...sessions.values()].map((s) => sessionInfo(s)) }), { detail: { summary: "Helix: sessions" } })
    .get(
      "/api/admin/status",
      () => {
        const list = [...sessions.values()].map((s) => sessionInfo(s));
        const clients = helixHosts.pairedIdentities().map((id) => ({ client_unique_id: id, has_certificate: true }));
        return { total_clients: clients.length, total_sessions: list.length, active_websockets: list.filter((s) => s.has_websocket).length, clients, sessions: list };
      },
      { detail: { summary: "Helix: admin status" } },
    );

  function sessionInfo(session: Session) {
    let pid: number | null = null;
    let alive = false;
    try {
      const view = supervisor.get(session.streamerId);
      pid = view.pid;
      alive = view.status !== "stopped" && view.status !== "failed";
    } catch {
      // stopped and forgotten
    }
    return { session_id: session.sessionId, client_unique_id: session.clientUniqueId, mode: session.mode, has_websocket: session.viewer !== undefined || session.kickoffOpen, streamer_pid: pid, streamer_alive: alive };
  }
}
