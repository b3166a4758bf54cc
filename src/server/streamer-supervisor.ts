/**
 * The registry of streamers behind `mlstream serve`: creates them (one child process each),
 * persists them so they come back after a restart, routes viewers' signaling to the right child,
 * and stops them. The HTTP and WebSocket routes are thin layers over this class.
 */
import { randomBytes } from "node:crypto";
import { logger } from "../core/log.ts";
import { SHARED_IDENTITY_ID, type Store, type StreamerRecord } from "../core/store.ts";
import type { HostService } from "../hosts/host-service.ts";
import type { StreamSettings } from "../moonlight/session.ts";
import type { JanusViewerInfo, ServerSignal, StreamerStatus, StreamInfo, ViewerSignal } from "../peer/signaling.ts";
import { serializeAudio, serializeVideo } from "../peer/ws-media.ts";
import { WsMediaViewer, type BinarySocket } from "../peer/ws-media-viewer.ts";
import type { FromStreamer } from "../streamer/ipc.ts";
import type { IceSettings } from "../peer/webrtc-viewer.ts";
import type { StreamerSnapshot, ViewerInfo } from "../streamer/streamer.ts";
import { HttpError } from "./http-error.ts";
import { StreamerProcess } from "./streamer-process.ts";

const log = logger("supervisor");

/** What a streamer is: stored as is, compared to decide whether a repeated create is the same. */
export interface StreamerSpec {
  hostId: string;
  appId: number;
  appTitle: string;
  identityId: string;
  settings: StreamSettings;
  idleTimeoutS: number;
  /** Where else the stream is published; absent = the server's default (`egress.janus_url`). */
  egress?: StreamerEgress;
}

/** `janus: false` publishes nowhere even when the server has a Janus; `{ url }` picks one. */
export interface StreamerEgress {
  janus?: { url?: string } | false;
}

export interface StreamerView {
  id: string;
  status: StreamerStatus;
  detail: string | null;
  host_id: string;
  app: { id: number; title: string };
  identity: string;
  settings: StreamSettings;
  idle_timeout_s: number;
  host_connected: boolean;
  stream: StreamerSnapshot["stream"];
  viewers: ViewerInfo[];
  /** The SFU the stream is published into, and its health (docs/scale.md). */
  egress: StreamerSnapshot["egress"];
  counters: StreamerSnapshot["counters"] | null;
  gateway_latency_ms: StreamerSnapshot["gateway_latency_ms"] | null;
  /** streamer.fanout_processes: the processes holding the WebRTC viewers, and how many each holds. */
  fanout_processes: StreamerSnapshot["fanout_processes"];
  restarts: number;
  /** The streamer's child process (null while it is being restarted). */
  pid: number | null;
  created_at: string;
}

export type TransportChoice = "auto" | "webrtc" | "websocket";

interface Peer {
  id: string;
  viewOnly: boolean;
  /** "janus": media from a Janus mountpoint (docs/scale.md); input over the peer socket, as with "websocket". */
  transport: "webrtc" | "websocket" | "janus";
  janus?: JanusViewerInfo;
  /** The peer's socket for binary media (WebSocket transport). */
  socket: BinarySocket;
  /** Media delivery when on the WebSocket transport. */
  ws?: WsMediaViewer;
  /** WebRTC media flows (the child reported the track open). */
  open: boolean;
  fallbackTimer?: ReturnType<typeof setTimeout>;
  /** This viewer's STUN/TURN list when it has its own (fresh credentials per viewer). */
  iceServers?: string[];
  send: (message: ServerSignal) => void;
  /** Ends the viewer's signaling channel (kick, streamer gone). */
  disconnect: (code: number, reason: string) => void;
}

interface Entry {
  id: string;
  spec: StreamerSpec;
  createdAt: number;
  process: StreamerProcess;
  peers: Map<string, Peer>;
  /** DELETE is stopping it: remove() forgets it in the store itself, and reports if that fails. */
  removing?: boolean;
  /** Frame listeners besides WebSocket viewers (snapshots): while any, the media tap stays on. */
  frameTaps: Set<VideoTap>;
}

/** Receives every video frame of a streamer, as its child sends them over the media tap. */
export type VideoTap = (frame: Extract<FromStreamer, { t: "video" }>) => void;

export interface SupervisorOptions {
  store: Store;
  hosts: HostService;
  ice: IceSettings;
  logLevel: string;
  /** With transport "auto": switch a viewer to the WebSocket transport if WebRTC is not up by then. */
  fallbackAfterMs?: number;
  /** Bound of a WebSocket viewer's send buffer (bytes). */
  wsMaxBufferedBytes?: number;
  /** The Janus streamers publish into unless they say otherwise (docs/scale.md). */
  janusUrl?: string;
  /** Janus's HTTP API as viewers' browsers reach it: set, viewers take their media from Janus. */
  janusViewerUrl?: string;
  /** streamer.viewer_keyframe_interval_ms */
  viewerKeyframeIntervalMs?: number;
  /** streamer.reference_frame_invalidation = on */
  referenceFrameInvalidation?: boolean;
  /** streamer.fanout_processes */
  fanoutProcesses?: number;
  /** streamer.media_receive */
  mediaReceive?: "thread" | "event-loop";
}

/**
 * The host already has a session for this client identity. Hosts tell sessions apart by client
 * certificate, so a second streamer with the same identity would take the session over, the first
 * would take it back, and so on forever.
 */
export class HostSessionTakenError extends HttpError {
  override name = "HostSessionTakenError";
  readonly holder: string;
  constructor(spec: StreamerSpec, holder: string) {
    super(
      409,
      "host_session_taken",
      `host '${spec.hostId}' already has a session for client identity '${spec.identityId}', held by streamer '${holder}': ` +
        `give this streamer its own identity ('identity' or 'client_unique_id', paired with the host) or stop streamer '${holder}' first`,
    );
    this.holder = holder;
  }
}

/** WebSocket close codes the viewer can act on. */
export const CLOSE_KICKED = 4001;
export const CLOSE_STREAMER_GONE = 4004;
export const CLOSE_PEER_FAILED = 4010;

export class StreamerSupervisor {
  readonly #options: SupervisorOptions;
  readonly #streamers = new Map<string, Entry>();
  #peerSeq = 0;
  /** Set by shutdown(): streamers stopped now stay in the store and come back with the next serve. */
  #shuttingDown = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Starts every streamer the store remembers (after a restart of `serve`). */
  restore(): number {
    let count = 0;
    for (const record of this.#options.store.listStreamers()) {
      const spec = record.settings as unknown as StreamerSpec;
      if (!spec.hostId || typeof spec.appId !== "number") {
        log.warn(`skipping stored streamer ${record.id}: unreadable record`);
        continue;
      }
      this.#launch(record.id, spec, record.createdAt);
      count++;
    }
    if (count > 0) log.info(`restored ${count} streamer(s)`);
    return count;
  }

  /**
   * Creates and starts a streamer. The same id with the same spec returns the existing one
   * (`created: false`); with a different spec it is a conflict.
   */
  create(id: string | undefined, spec: StreamerSpec): { view: StreamerView; created: boolean } {
    const streamerId = id ?? randomBytes(6).toString("hex");
    const existing = this.#streamers.get(streamerId);
    if (existing && !existing.process.ended) {
      if (sameSpec(existing.spec, spec)) return { view: this.#view(existing), created: false };
      throw new HttpError(409, "streamer_conflict", `streamer '${streamerId}' exists with different settings`);
    }
    const holder = this.#sessionHolder(spec, streamerId);
    if (holder) throw new HostSessionTakenError(spec, holder.id);
    const host = this.#options.store.getHost(spec.hostId);
    if (!host) throw new HttpError(404, "host_not_found", `no host '${spec.hostId}'`);
    if (!this.#options.store.getPairing(host.id, spec.identityId)) {
      throw new HttpError(409, "host_not_paired", `host '${host.id}' is not paired${spec.identityId === SHARED_IDENTITY_ID ? "" : ` for identity '${spec.identityId}'`}`);
    }
    const createdAt = Date.now();
    const record: StreamerRecord = { id: streamerId, hostId: host.id, identityId: null, settings: spec as unknown as Record<string, unknown>, createdAt };
    this.#options.store.putStreamer(record);
    const entry = this.#launch(streamerId, spec, createdAt);
    return { view: this.#view(entry), created: true };
  }

  list(): StreamerView[] {
    return [...this.#streamers.values()].map((entry) => this.#view(entry));
  }

  get(id: string): StreamerView {
    return this.#view(this.#entry(id));
  }

  /**
   * Stops and forgets a streamer; `quitApp` also quits the app on the host. Stops first, so the
   * host session is released whatever the store does next. If the store then refuses (disk full),
   * the stopped streamer stays listed and stored, memory agreeing with disk, and the error says
   * so; a second DELETE retries.
   */
  async remove(id: string, quitApp: boolean): Promise<void> {
    const entry = this.#entry(id);
    entry.removing = true;
    await entry.process.stop({ quitApp });
    this.#options.store.removeStreamer(id);
    if (this.#streamers.get(id) === entry) this.#streamers.delete(id);
  }

  /**
   * A viewer's signaling channel opened. With WebRTC (or "auto") the child makes it an offer; with
   * "auto" it falls back to the WebSocket transport if WebRTC is not up in time. Returns the peer id.
   */
  addPeer(
    streamerId: string,
    options: { viewOnly: boolean; iceServers?: string[]; transport: TransportChoice; socket: BinarySocket; send: Peer["send"]; disconnect: Peer["disconnect"] },
  ): string {
    const entry = this.#entry(streamerId);
    if (entry.process.ended) throw new HttpError(410, "streamer_stopped", `streamer '${streamerId}' is ${entry.process.status}`);
    const id = `peer-${++this.#peerSeq}-${randomBytes(3).toString("hex")}`;
    const peer: Peer = {
      id,
      viewOnly: options.viewOnly,
      transport: options.transport === "websocket" ? "websocket" : "webrtc",
      socket: options.socket,
      open: false,
      send: options.send,
      disconnect: options.disconnect,
      ...(options.iceServers ? { iceServers: options.iceServers } : {}),
    };
    entry.peers.set(id, peer);
    const janus = options.transport === "auto" ? this.#janusFor(entry) : undefined;
    if (janus) {
      // Media via the SFU: Janus serves the picture; only the viewer's input passes through us.
      peer.transport = "janus";
      peer.janus = janus;
      entry.process.addExternalViewer(id, peer.viewOnly);
      // After the caller's hello: what the viewer's input capture needs to know of the stream.
      queueMicrotask(() => {
        const info = this.#streamInfo(entry, peer);
        if (info && entry.peers.get(id) === peer) peer.send({ type: "stream", info });
      });
      return id;
    }
    if (peer.transport === "websocket") {
      // After the caller's hello: defer to the next turn.
      queueMicrotask(() => this.#attachWebSocket(entry, peer));
      return id;
    }
    entry.process.addViewer(id, peer.viewOnly, peer.iceServers);
    if (options.transport === "auto") {
      const after = this.#options.fallbackAfterMs ?? 5000;
      peer.fallbackTimer = setTimeout(() => {
        if (!peer.open && entry.peers.get(id) === peer) this.#switchToWebSocket(entry, peer, `WebRTC did not connect within ${after} ms`);
      }, after);
    }
    return id;
  }

  /** The viewer asked to move to the WebSocket transport (its ICE failed). */
  switchTransport(streamerId: string, peerId: string): void {
    const entry = this.#streamers.get(streamerId);
    const peer = entry?.peers.get(peerId);
    if (entry && peer && peer.transport === "webrtc") this.#switchToWebSocket(entry, peer, "asked by the viewer");
  }

  /** Input from a WebSocket viewer (the bytes of one GameStream input packet). */
  input(streamerId: string, peerId: string, packet: Uint8Array): void {
    const entry = this.#streamers.get(streamerId);
    const peer = entry?.peers.get(peerId);
    if (!entry || !peer || peer.viewOnly || peer.transport === "webrtc") return;
    entry.process.input(peerId, packet);
  }

  /** A WebSocket viewer's heartbeat (its PING): the streamer releases the input of silent viewers. */
  heartbeat(streamerId: string, peerId: string): void {
    const entry = this.#streamers.get(streamerId);
    const transport = entry?.peers.get(peerId)?.transport;
    if (transport === "websocket" || transport === "janus") entry!.process.heartbeat(peerId);
  }

  #switchToWebSocket(entry: Entry, peer: Peer, why: string): void {
    log.info(`${entry.id}: viewer ${peer.id} moves to the WebSocket transport (${why})`);
    if (peer.fallbackTimer) clearTimeout(peer.fallbackTimer);
    peer.transport = "websocket";
    entry.process.removeViewer(peer.id, "moved to the WebSocket transport");
    this.#attachWebSocket(entry, peer);
  }

  #attachWebSocket(entry: Entry, peer: Peer): void {
    if (entry.peers.get(peer.id) !== peer) return;
    peer.ws = new WsMediaViewer({
      id: peer.id,
      socket: peer.socket,
      viewOnly: peer.viewOnly,
      ...(this.#options.wsMaxBufferedBytes ? { maxBufferedBytes: this.#options.wsMaxBufferedBytes } : {}),
      onKeyframeNeeded: () => entry.process.requestKeyframe(true, { peerId: peer.id, need: "loss" }),
      onLinkChange: (quality, reason) => peer.send({ type: "link", quality, reason }),
    });
    entry.process.addExternalViewer(peer.id, peer.viewOnly);
    peer.send({ type: "transport", transport: "websocket" });
    const info = this.#streamInfo(entry, peer);
    if (info) peer.send({ type: "stream", info });
    this.#updateTap(entry);
    entry.process.requestKeyframe(true, { peerId: peer.id, need: "join" });
  }

  #updateTap(entry: Entry): void {
    const wanted = entry.frameTaps.size > 0 || [...entry.peers.values()].some((p) => p.ws);
    entry.process.setMediaTap(wanted);
  }

  #streamInfo(entry: Entry, peer: Peer): StreamInfo | undefined {
    const stream = entry.process.snapshot?.stream;
    if (!stream) return undefined;
    return {
      width: stream.width,
      height: stream.height,
      fps: stream.fps,
      codec: stream.codec as StreamInfo["codec"],
      ...(stream.bit_depth === 10 ? { bitDepth: 10 as const } : {}),
      ...(stream.profile_level_id ? { profileLevelId: stream.profile_level_id } : {}),
      audio: { channels: 2, sampleRate: 48_000 },
      input: !peer.viewOnly,
      capabilities: { touch: true, pen: true, controllers: 16 },
    };
  }

  signal(streamerId: string, peerId: string, message: ViewerSignal): void {
    const entry = this.#streamers.get(streamerId);
    const peer = entry?.peers.get(peerId);
    if (!entry || !peer) return;
    if (peer.ws && message.type === "keyframe") {
      // A WebSocket viewer's decoder lost its reference: it waits for the next keyframe, which
      // the host is asked for (coalesced with everyone else's requests).
      peer.ws.resetToKeyframe();
      entry.process.requestKeyframe(true, { peerId: peer.id, need: "loss" });
      return;
    }
    entry.process.signal(peerId, message);
  }

  /** The viewer's signaling channel closed. */
  removePeer(streamerId: string, peerId: string, reason: string): void {
    const entry = this.#streamers.get(streamerId);
    const peer = entry?.peers.get(peerId);
    if (!entry || !peer) return;
    entry.peers.delete(peerId);
    this.#forget(entry, peer);
    entry.process.removeViewer(peerId, reason);
  }

  #forget(entry: Entry, peer: Peer): void {
    if (peer.fallbackTimer) clearTimeout(peer.fallbackTimer);
    if (peer.ws) {
      peer.ws.close();
      this.#updateTap(entry);
    }
  }

  kick(streamerId: string, peerId: string): void {
    const entry = this.#entry(streamerId);
    const peer = entry.peers.get(peerId);
    if (!peer) throw new HttpError(404, "peer_not_found", `no peer '${peerId}' on streamer '${streamerId}'`);
    entry.peers.delete(peerId);
    this.#forget(entry, peer);
    entry.process.removeViewer(peerId, "kicked");
    peer.send({ type: "end", reason: "kicked" });
    peer.disconnect(CLOSE_KICKED, "kicked");
  }

  peers(streamerId: string): ViewerInfo[] {
    return this.get(streamerId).viewers;
  }

  /**
   * Receives the streamer's video frames (the media tap is on while any listener is); returns the
   * function that stops it. A keyframe is asked for at once, so that decoding can start.
   */
  tapVideo(streamerId: string, tap: VideoTap): () => void {
    const entry = this.#entry(streamerId);
    entry.frameTaps.add(tap);
    this.#updateTap(entry);
    entry.process.requestKeyframe(true);
    return () => {
      if (!entry.frameTaps.delete(tap)) return;
      this.#updateTap(entry);
    };
  }

  /** Asks the streamer's host for a keyframe (coalesced with every viewer's requests). */
  requestKeyframe(streamerId: string): void {
    this.#entry(streamerId).process.requestKeyframe(true);
  }

  /** For tests and operators: the child process of a streamer. */
  processOf(streamerId: string): StreamerProcess {
    return this.#entry(streamerId).process;
  }

  /** Stops every child (the streamers stay in the store and come back with the next `serve`). */
  async shutdown(options: { graceMs?: number } = {}): Promise<void> {
    this.#shuttingDown = true;
    await Promise.all([...this.#streamers.values()].map((entry) => entry.process.stop({ graceMs: options.graceMs ?? 5000 })));
  }

  statusCounts(): Record<StreamerStatus, number> {
    const counts: Record<StreamerStatus, number> = { starting: 0, live: 0, reconnecting: 0, stopped: 0, failed: 0 };
    for (const entry of this.#streamers.values()) counts[entry.process.status]++;
    return counts;
  }

  /** The live streamer other than `exceptId` that holds the host session of spec's host and identity. */
  #sessionHolder(spec: StreamerSpec, exceptId: string): Entry | undefined {
    for (const entry of this.#streamers.values()) {
      if (entry.id === exceptId || entry.process.ended) continue;
      if (entry.spec.hostId === spec.hostId && entry.spec.identityId === spec.identityId) return entry;
    }
    return undefined;
  }

  #entry(id: string): Entry {
    const entry = this.#streamers.get(id);
    if (!entry) throw new HttpError(404, "streamer_not_found", `no streamer '${id}'`);
    return entry;
  }

  #launch(id: string, spec: StreamerSpec, createdAt: number): Entry {
    const process = new StreamerProcess(id, () => this.#initFor(id, spec));
    const entry: Entry = { id, spec, createdAt, process, peers: new Map(), frameTaps: new Set() };
    this.#streamers.set(id, entry);
    process.on("signal", (peerId, message) => entry.peers.get(peerId)?.send(message));
    process.on("status", (status, detail) => {
      for (const peer of entry.peers.values()) {
        peer.send({ type: "status", status, ...(detail ? { detail } : {}) });
        if ((peer.ws || peer.transport === "janus") && status === "live") {
          peer.ws?.resetToKeyframe();
          const info = this.#streamInfo(entry, peer);
          if (info) peer.send({ type: "stream", info });
        }
      }
    });
    process.on("streamChanged", () => {
      for (const peer of entry.peers.values()) {
        if (!peer.ws && peer.transport !== "janus") continue;
        const info = this.#streamInfo(entry, peer);
        if (info) peer.send({ type: "stream", info });
      }
    });
    process.on("viewerOpen", (peerId) => {
      const peer = entry.peers.get(peerId);
      if (!peer) return;
      peer.open = true;
      if (peer.fallbackTimer) clearTimeout(peer.fallbackTimer);
    });
    process.on("video", (message) => {
      for (const tap of entry.frameTaps) tap(message);
      let bytes: Uint8Array | undefined;
      for (const peer of entry.peers.values()) {
        if (!peer.ws) continue;
        // Serialized once, the same bytes to every WebSocket viewer.
        bytes ??= serializeVideo(message.data, message.keyframe, message.codec, message.frameNumber, message.captureTimeMs);
        peer.ws.writeVideo(bytes, message.keyframe);
      }
    });
    process.on("audio", (message) => {
      let bytes: Uint8Array | undefined;
      for (const peer of entry.peers.values()) {
        if (!peer.ws) continue;
        bytes ??= serializeAudio(message.data, message.channels, message.sequence, message.timestampMs);
        peer.ws.writeAudio(bytes);
      }
    });
    process.on("viewerLeft", (peerId, reason) => {
      const peer = entry.peers.get(peerId);
      // A viewer that moved to the WebSocket transport left WebRTC on purpose.
      if (!peer || peer.transport !== "webrtc") return;
      // The viewer's peer connection died (not its signaling channel): let it rejoin afresh.
      entry.peers.delete(peerId);
      peer.send({ type: "end", reason });
      peer.disconnect(CLOSE_PEER_FAILED, reason.slice(0, 100));
    });
    process.on("restarted", () => {
      for (const peer of entry.peers.values()) {
        if (peer.ws || peer.transport === "janus") {
          peer.ws?.resetToKeyframe();
          process.addExternalViewer(peer.id, peer.viewOnly);
        } else {
          peer.open = false;
          process.addViewer(peer.id, peer.viewOnly, peer.iceServers);
        }
      }
    });
    process.on("ended", (reason, failed) => {
      log.info(`${id}: ${failed ? "failed" : "ended"}: ${reason}`);
      // A streamer that ended by itself (idle policy) is forgotten; one stopped because serve is
      // shutting down is not; a failed one stays listed (and stored) so that operators see why.
      if (!failed && !this.#shuttingDown && !entry.removing) this.#forgetStored(id);
      for (const peer of entry.peers.values()) {
        if (peer.fallbackTimer) clearTimeout(peer.fallbackTimer);
        peer.ws?.close();
        peer.send({ type: "end", reason });
        peer.disconnect(CLOSE_STREAMER_GONE, reason.slice(0, 100));
      }
      entry.peers.clear();
    });
    process.start();
    return entry;
  }

  /** A streamer that ended by itself leaves the store; nobody waits for an answer, so a failure is logged. */
  #forgetStored(id: string): void {
    try {
      this.#options.store.removeStreamer(id);
    } catch (error) {
      log.warn(`${id}: ended, but ${(error as Error).message}; it comes back with the next serve`);
    }
  }

  #initFor(id: string, spec: StreamerSpec) {
    const { store, hosts } = this.#options;
    // Checked at every (re)start too: restore() after a restart may find two stored streamers
    // sharing a host session (made before this check existed); the later one fails, saying why.
    const holder = this.#sessionHolder(spec, id);
    if (holder) throw new HostSessionTakenError(spec, holder.id);
    const host = store.getHost(spec.hostId);
    if (!host) throw new HttpError(404, "host_not_found", `host '${spec.hostId}' was removed`);
    const pairing = store.getPairing(host.id, spec.identityId);
    if (!pairing) throw new HttpError(409, "host_not_paired", `host '${host.id}' is no longer paired`);
    const identity = hosts.identity(spec.identityId);
    return {
      id,
      host: { address: host.address, httpPort: host.httpPort },
      identity: { uniqueId: identity.uniqueId, certPem: identity.certPem, keyPem: identity.keyPem },
      serverCertPem: pairing.serverCertPem,
      appId: spec.appId,
      settings: this.#options.referenceFrameInvalidation ? { ...spec.settings, referenceFrameInvalidation: true } : spec.settings,
      idleTimeoutMs: spec.idleTimeoutS * 1000,
      ice: this.#options.ice,
      logLevel: this.#options.logLevel,
      ...(this.#janusUrlOf(spec) ? { janusUrl: this.#janusUrlOf(spec) } : {}),
      ...(this.#options.viewerKeyframeIntervalMs !== undefined ? { viewerKeyframeIntervalMs: this.#options.viewerKeyframeIntervalMs } : {}),
      ...(this.#options.fanoutProcesses ? { fanoutProcesses: this.#options.fanoutProcesses } : {}),
      ...(this.#options.mediaReceive ? { mediaReceive: this.#options.mediaReceive } : {}),
    };
  }

  /** How a peer takes its media: told in its hello. */
  mediaPathOf(streamerId: string, peerId: string): { transport: Peer["transport"]; janus?: JanusViewerInfo } {
    const peer = this.#streamers.get(streamerId)?.peers.get(peerId);
    return { transport: peer?.transport ?? "webrtc", ...(peer?.janus ? { janus: peer.janus } : {}) };
  }

  /** The mountpoint viewers of this streamer watch, when media goes via Janus and it is up. */
  #janusFor(entry: Entry): JanusViewerInfo | undefined {
    const url = this.#options.janusViewerUrl;
    const janus = entry.process.snapshot?.egress?.janus;
    if (!url || !janus || janus.state !== "up" || janus.mountpoint === null) return undefined;
    return { url, mountpoint: janus.mountpoint };
  }

  #janusUrlOf(spec: StreamerSpec): string | undefined {
    const janus = spec.egress?.janus;
    if (janus === false) return undefined;
    return janus?.url || this.#options.janusUrl || undefined;
  }

  #view(entry: Entry): StreamerView {
    const snapshot = entry.process.snapshot;
    return {
      id: entry.id,
      status: entry.process.status,
      detail: entry.process.detail ?? null,
      host_id: entry.spec.hostId,
      app: { id: entry.spec.appId, title: entry.spec.appTitle },
      identity: entry.spec.identityId,
      settings: entry.spec.settings,
      idle_timeout_s: entry.spec.idleTimeoutS,
      host_connected: snapshot?.host_connected ?? false,
      stream: snapshot?.stream ?? null,
      // WebSocket viewers' statistics live here, with their sockets.
      viewers: (snapshot?.viewers ?? []).map((v) => {
        const peer = entry.peers.get(v.id);
        if (peer?.transport === "janus") return { ...v, transport: "janus" as const };
        const ws = peer?.ws;
        return ws ? { ...v, transport: "websocket" as const, stats: { ...ws.stats }, link: { ...ws.link } } : v;
      }),
      counters: snapshot?.counters ?? null,
      egress: snapshot?.egress ?? null,
      gateway_latency_ms: snapshot?.gateway_latency_ms ?? null,
      fanout_processes: snapshot?.fanout_processes ?? null,
      restarts: entry.process.restarts,
      pid: entry.process.pid ?? null,
      created_at: new Date(entry.createdAt).toISOString(),
    };
  }
}

function sameSpec(a: StreamerSpec, b: StreamerSpec): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(spec: StreamerSpec): unknown {
  const settings = Object.fromEntries(Object.entries(spec.settings).sort(([x], [y]) => x.localeCompare(y)));
  return { ...spec, appTitle: undefined, settings };
}
