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
import type { ServerSignal, StreamerStatus, ViewerSignal } from "../peer/signaling.ts";
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
  counters: StreamerSnapshot["counters"] | null;
  gateway_latency_ms: StreamerSnapshot["gateway_latency_ms"] | null;
  restarts: number;
  /** The streamer's child process (null while it is being restarted). */
  pid: number | null;
  created_at: string;
}

interface Peer {
  id: string;
  viewOnly: boolean;
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
}

export interface SupervisorOptions {
  store: Store;
  hosts: HostService;
  ice: IceSettings;
  logLevel: string;
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

  /** Stops and forgets a streamer; `quitApp` also quits the app on the host. */
  async remove(id: string, quitApp: boolean): Promise<void> {
    const entry = this.#entry(id);
    this.#options.store.removeStreamer(id);
    await entry.process.stop({ quitApp });
    this.#streamers.delete(id);
  }

  /** A viewer's signaling channel opened: the child makes it an offer. Returns the peer id. */
  addPeer(streamerId: string, peer: Omit<Peer, "id">): string {
    const entry = this.#entry(streamerId);
    if (entry.process.ended) throw new HttpError(410, "streamer_stopped", `streamer '${streamerId}' is ${entry.process.status}`);
    const id = `peer-${++this.#peerSeq}-${randomBytes(3).toString("hex")}`;
    entry.peers.set(id, { id, ...peer });
    entry.process.addViewer(id, peer.viewOnly, peer.iceServers);
    return id;
  }

  signal(streamerId: string, peerId: string, message: ViewerSignal): void {
    const entry = this.#streamers.get(streamerId);
    if (entry?.peers.has(peerId)) entry.process.signal(peerId, message);
  }

  /** The viewer's signaling channel closed. */
  removePeer(streamerId: string, peerId: string, reason: string): void {
    const entry = this.#streamers.get(streamerId);
    if (!entry?.peers.delete(peerId)) return;
    entry.process.removeViewer(peerId, reason);
  }

  kick(streamerId: string, peerId: string): void {
    const entry = this.#entry(streamerId);
    const peer = entry.peers.get(peerId);
    if (!peer) throw new HttpError(404, "peer_not_found", `no peer '${peerId}' on streamer '${streamerId}'`);
    entry.peers.delete(peerId);
    entry.process.removeViewer(peerId, "kicked");
    peer.send({ type: "end", reason: "kicked" });
    peer.disconnect(CLOSE_KICKED, "kicked");
  }

  peers(streamerId: string): ViewerInfo[] {
    return this.get(streamerId).viewers;
  }

  /** For tests and operators: the child process of a streamer. */
  processOf(streamerId: string): StreamerProcess {
    return this.#entry(streamerId).process;
  }

  /** Stops every child (the streamers stay in the store and come back with the next `serve`). */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    await Promise.all([...this.#streamers.values()].map((entry) => entry.process.stop({ graceMs: 5000 })));
  }

  statusCounts(): Record<StreamerStatus, number> {
    const counts: Record<StreamerStatus, number> = { starting: 0, live: 0, reconnecting: 0, stopped: 0, failed: 0 };
    for (const entry of this.#streamers.values()) counts[entry.process.status]++;
    return counts;
  }

  #entry(id: string): Entry {
    const entry = this.#streamers.get(id);
    if (!entry) throw new HttpError(404, "streamer_not_found", `no streamer '${id}'`);
    return entry;
  }

  #launch(id: string, spec: StreamerSpec, createdAt: number): Entry {
    const process = new StreamerProcess(id, () => this.#initFor(id, spec));
    const entry: Entry = { id, spec, createdAt, process, peers: new Map() };
    this.#streamers.set(id, entry);
    process.on("signal", (peerId, message) => entry.peers.get(peerId)?.send(message));
    process.on("status", (status, detail) => {
      for (const peer of entry.peers.values()) peer.send({ type: "status", status, ...(detail ? { detail } : {}) });
    });
    process.on("viewerLeft", (peerId, reason) => {
      const peer = entry.peers.get(peerId);
      if (!peer) return;
      // The viewer's peer connection died (not its signaling channel): let it rejoin afresh.
      entry.peers.delete(peerId);
      peer.send({ type: "end", reason });
      peer.disconnect(CLOSE_PEER_FAILED, reason.slice(0, 100));
    });
    process.on("restarted", () => {
      for (const peer of entry.peers.values()) process.addViewer(peer.id, peer.viewOnly, peer.iceServers);
    });
    process.on("ended", (reason, failed) => {
      log.info(`${id}: ${failed ? "failed" : "ended"}: ${reason}`);
      // A streamer that ended by itself (idle policy) is forgotten; one stopped because serve is
      // shutting down is not; a failed one stays listed (and stored) so that operators see why.
      if (!failed && !this.#shuttingDown) this.#options.store.removeStreamer(id);
      for (const peer of entry.peers.values()) {
        peer.send({ type: "end", reason });
        peer.disconnect(CLOSE_STREAMER_GONE, reason.slice(0, 100));
      }
      entry.peers.clear();
    });
    process.start();
    return entry;
  }

  #initFor(id: string, spec: StreamerSpec) {
    const { store, hosts } = this.#options;
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
      settings: spec.settings,
      idleTimeoutMs: spec.idleTimeoutS * 1000,
      ice: this.#options.ice,
      logLevel: this.#options.logLevel,
    };
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
      viewers: snapshot?.viewers ?? [],
      counters: snapshot?.counters ?? null,
      gateway_latency_ms: snapshot?.gateway_latency_ms ?? null,
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
