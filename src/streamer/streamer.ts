/**
 * A Streamer owns one headless GameStream session and serves it to any number of viewers.
 *
 * - It starts without viewers and stays up after the last one leaves (persistent), unless an idle
 *   timeout is set. Viewers never own the session.
 * - Each frame is packetized once and written to every viewer from the session's socket callback,
 *   synchronously (no per-viewer tasks or queues: the system we replace drowned in those).
 * - A viewer joins at a keyframe: its track opening, a PLI, or a loss asks the host for an IDR,
 *   coalesced across viewers and retried until it arrives.
 * - Input from every viewer goes through the InputMixer (union of held keys, controller slots).
 *   A viewer not heard from for 2 s (heartbeats, src/peer/heartbeat.ts) is marked stale and what it
 *   held is released; it stays a viewer and counts again as soon as it speaks.
 * - When the host ends or drops the session, the streamer reports it and reconnects with backoff
 *   (the host resumes the running app); viewers stay connected and get a keyframe when it is back.
 */
import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import type { AudioPacket } from "../moonlight/audio/audio-depacketizer.ts";
import { AppNotFoundError, NotPairedError } from "../moonlight/errors.ts";
import { findH264Profile } from "../moonlight/video/h264.ts";
import type { InputPacket } from "../moonlight/input/input.ts";
import { emptySessionCounters, HostBusyError, type ConnectedInfo, type MoonlightSession, type SessionCounters, type SessionTermination } from "../moonlight/session.ts";
import type { VideoFrame } from "../moonlight/video/video-depacketizer.ts";
import type { ServerSignal, StreamerStatus, StreamInfo, ViewerSignal } from "../peer/signaling.ts";
import type { ViewerChannelsFactory } from "../peer/viewer-channels.ts";
import { WebRtcViewer, type IceSettings, type WebRtcViewerStats } from "../peer/webrtc-viewer.ts";
import type { FanoutShards } from "./fanout-shards.ts";
import type { ShardViewer } from "./shard-viewer.ts";
import { Backoff } from "./backoff.ts";
import { InputMixer } from "./input-mixer.ts";
import { JanusEgress, type JanusEgressHealth } from "./janus-egress.ts";
import { KeyframeRequester } from "./keyframe-requester.ts";
import { MediaFanout } from "./media-fanout.ts";
import { StreamBitrate } from "./stream-bitrate.ts";
import { ViewerKeyframePolicy, type KeyframeNeed, type ViewerKeyframeState } from "./viewer-keyframe-policy.ts";
import { ViewerLink, type LinkVerdict } from "./viewer-link.ts";
import { ViewerLiveness } from "./viewer-liveness.ts";

const log = logger("streamer");

/** High 5.2: covers any stream until the real SPS is known (the library default, 3.1, does not). */
const DEFAULT_PROFILE_LEVEL_ID = "640034";

export interface StreamerOptions {
  id: string;
  /** Makes a fresh session for each (re)connect (same host, app, identity and settings). */
  createSession: () => MoonlightSession;
  /** Stop this long after the last viewer leaves; 0 (default) keeps the streamer up. */
  idleTimeoutMs?: number;
  /** How long a viewer may be silent before its held input is released (default VIEWER_SILENCE_MS). */
  viewerSilenceMs?: number;
  ice?: IceSettings;
  backoff?: Backoff;
  /** Also publish into this Janus (its HTTP API URL): docs/scale.md. */
  janusUrl?: string;
  /** Understands channels a WebRTC viewer opens itself (src/peer/viewer-channels.ts). */
  viewerChannels?: ViewerChannelsFactory;
  /**
   * WebRTC viewers live in these fan-out processes instead of this one (streamer.fanout_processes):
   * their per-packet SRTP and sends then run on other cores. The streamer closes them when it stops.
   */
  fanoutShards?: FanoutShards;
  /** A viewer's keyframe requests after a loss reach the host at most this often (streamer.viewer_keyframe_interval_ms). */
  viewerKeyframeIntervalMs?: number;
}

/**
 * A loss report within this long (or two round trips, if longer) of a keyframe sent to the viewer
 * was sent before that keyframe reached it: it is not a new loss. Without this, a viewer behind a
 * queue (a slow link) that asked again while its keyframe was on the way was put back to waiting
 * for the next one, and skipped every frame of the keyframe it had just been sent.
 */
const STALE_LOSS_REPORT_MS = 300;

/** streamer.viewer_keyframe_interval_ms's default. */
export const DEFAULT_VIEWER_KEYFRAME_INTERVAL_MS = 5000;

/** A WebRTC viewer, here or in a fan-out process (same surface). */
type StreamerViewer = WebRtcViewer | ShardViewer;

export interface ViewerInfo {
  id: string;
  role: "viewer" | "view-only";
  transport: "webrtc" | "websocket" | "janus";
  connected_at: string;
  state: string;
  /** Not heard from lately (no heartbeat, no input): what it held on the host was released. */
  stale: boolean;
  /** WebRTC statistics; a WebSocket viewer's are kept by the process that owns its socket. */
  stats: (WebRtcViewerStats & { rtt_ms: number }) | Record<string, number>;
  /**
   * How good its link is and, when its picture is poor, why; a WebRTC viewer's also has what its
   * receiver reports said and its keyframe requests, a WebSocket viewer's only the verdict.
   */
  link?: Pick<LinkVerdict, "quality" | "reason"> & Partial<Omit<LinkVerdict, "quality" | "reason"> & { keyframes: ViewerKeyframeState }>;
}

/** Receives the raw stream for transports that do their own framing (the WebSocket transport). */
export interface MediaTap {
  video(frame: VideoFrame, codec: "h264" | "hevc" | "av1"): void;
  audio(packet: AudioPacket, channels: number): void;
}

interface ExternalViewer {
  id: string;
  viewOnly: boolean;
  connectedAt: number;
  /** performance.now() of its last heartbeat or input (relayed by the process that owns its socket). */
  lastHeardAt: number;
  /** Reaches the viewer through whoever owns its socket. */
  signal?: (message: ServerSignal) => void;
}

export interface StreamerSnapshot {
  id: string;
  status: StreamerStatus;
  host_connected: boolean;
  stream: { width: number; height: number; fps: number; codec: string; bit_depth: 8 | 10; profile_level_id: string; media_receive: "thread" | "event-loop" } | null;
  viewers: ViewerInfo[];
  counters: SessionCounters & {
    frames_fanned_out: number;
    keyframes_requested: number;
    keyframe_requests_sent: number;
    /** Set while a viewer has no picture yet: for how long, how often we asked, and why it waits. */
    keyframe_wait: { waiting_ms: number; requests_sent: number; reason: string } | null;
    reconnects: number;
    input_forwarded: number;
    input_merged: number;
    input_dropped: number;
  };
  gateway_latency_ms: { p50: number; p99: number; samples: number };
  /** The fan-out processes holding the WebRTC viewers (streamer.fanout_processes), null when in-process. */
  fanout_processes: { pid: number; viewers: number; exited: boolean; frames_skipped: number }[] | null;
  /** Where else the stream goes (an SFU), and how that is going. */
  egress: { janus: JanusEgressHealth } | null;
  last_error: string | null;
  created_at: string;
}

export interface StreamerEvents {
  status: [status: StreamerStatus, detail?: string];
  viewerJoined: [id: string];
  /** A WebRTC viewer's media track opened (its ICE and DTLS are through). */
  viewerOpen: [id: string];
  /** What viewers are told about the stream changed (e.g. the profile, once the first SPS is read). */
  streamChanged: [];
  viewerLeft: [id: string, reason: string];
  /** A viewer went silent (its held input was released), or was heard from again. */
  viewerStale: [id: string, stale: boolean];
  /** Rumble for a controller owned by a viewer (routed back by the transport). */
  rumble: [viewerId: string, controllerNumber: number, lowFrequency: number, highFrequency: number];
  stopped: [reason: string];
}

export class StreamerStateError extends Error {
  override name = "StreamerStateError";
}

function isPermanent(error: unknown): boolean {
  const cause = (error as { cause?: unknown })?.cause ?? error;
  return error instanceof HostBusyError || cause instanceof NotPairedError || cause instanceof AppNotFoundError;
}

export class Streamer extends EventEmitter<StreamerEvents> {
  readonly id: string;
  readonly createdAt = new Date();
  readonly #options: StreamerOptions;
  readonly #viewers = new Map<string, StreamerViewer>();
  /** Viewers whose media another process delivers (WebSocket transport); only their input is here. */
  readonly #external = new Map<string, ExternalViewer>();
  #tap: MediaTap | undefined;
  #externalWaiting = false;
  readonly #mixer: InputMixer;
  readonly #liveness: ViewerLiveness;
  readonly #keyframes: KeyframeRequester;
  readonly #viewerKeyframes: ViewerKeyframePolicy;
  readonly #links = new Map<string, ViewerLink>();
  /** When each viewer was last sent a keyframe (performance.now()). */
  readonly #keyframeSentAt = new Map<string, number>();
  /** The link quality each viewer was last told (none until it first had trouble). */
  readonly #toldLink = new Map<string, LinkVerdict["quality"]>();
  readonly #bitrate = new StreamBitrate();
  readonly #backoff: Backoff;
  readonly #fanout = new MediaFanout({ videoSsrc: randomInt(1, 0x7fffffff), audioSsrc: randomInt(1, 0x7fffffff) });
  #session: MoonlightSession | undefined;
  #janus: JanusEgress | undefined;
  #info: ConnectedInfo | undefined;
  #profileLevelId = DEFAULT_PROFILE_LEVEL_ID;
  /** The first keyframe can arrive before start() resolves (codec still unknown): read it then. */
  #earlyKeyframe: Uint8Array | undefined;
  #status: StreamerStatus = "starting";
  #lastError: string | null = null;
  #lastCounters: SessionCounters | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnects = 0;
  #viewerSeq = 0;
  #stopped = false;

  constructor(options: StreamerOptions) {
    super();
    this.id = options.id;
    this.#options = options;
    this.#backoff = options.backoff ?? new Backoff();
    // The fan-out processes are one sink: each frame crosses to each process once.
    if (options.fanoutShards) this.#fanout.add(options.fanoutShards);
    this.#mixer = new InputMixer((packet) => this.#session?.send(packet));
    this.#liveness = new ViewerLiveness({
      ...(options.viewerSilenceMs !== undefined ? { silenceMs: options.viewerSilenceMs } : {}),
      onStale: (id, silentMs) => {
        this.#mixer.release(id);
        log.info(`${this.id}: viewer ${id} silent for ${Math.round(silentMs)} ms: stale, its held input released`);
        this.emit("viewerStale", id, true);
      },
      onBack: (id) => {
        log.info(`${this.id}: viewer ${id} is heard from again`);
        this.emit("viewerStale", id, false);
      },
    });
    this.#keyframes = new KeyframeRequester({
      send: () => this.#session?.requestIdr(),
      // A viewer whose request is held back (it asked within its interval) or that gets keyframes
      // only does not keep the repeats going: it waits for whichever keyframe comes next.
      isWaiting: () =>
        this.#externalWaiting ||
        this.#janus?.waitingForKeyframe === true ||
        [...this.#external.keys()].some((id) => this.#viewerKeyframes.awaiting(id)) || [...this.#viewers.values()].some((v) => this.#waitsForHost(v)),
    });
    this.#viewerKeyframes = new ViewerKeyframePolicy({
      requestFromHost: () => this.#keyframes.request(),
      intervalMs: options.viewerKeyframeIntervalMs ?? DEFAULT_VIEWER_KEYFRAME_INTERVAL_MS,
      othersWatching: (id) => {
        let others = this.#external.size - (this.#external.has(id) ? 1 : 0) + (this.#janus ? 1 : 0);
        for (const viewer of this.#viewers.values()) if (viewer.id !== id && viewer.receivingVideo) others++;
        return others;
      },
    });
  }

  get status(): StreamerStatus {
    return this.#status;
  }

  get streamInfo(): ConnectedInfo | undefined {
    return this.#info;
  }

  get viewerCount(): number {
    return this.#viewers.size + this.#external.size;
  }

  /**
   * Adds a viewer whose media is delivered elsewhere (the server process owns its WebSocket): it
   * counts as a viewer and its input goes through the mixer.
   */
  addExternalViewer(options: { id: string; viewOnly?: boolean; signal?: (message: ServerSignal) => void }): {
    input: (packet: InputPacket) => void;
    /** The viewer's heartbeat (its socket's PING), relayed. */
    heartbeat: () => void;
    close: (reason?: string) => void;
  } {
    if (this.#stopped) throw new StreamerStateError("streamer stopped");
    const { id } = options;
    const viewer: ExternalViewer = { id, viewOnly: options.viewOnly ?? false, connectedAt: Date.now(), lastHeardAt: performance.now(), ...(options.signal ? { signal: options.signal } : {}) };
    this.#external.set(id, viewer);
    this.#updateAudioPrompt();
    this.#viewerKeyframes.add(id);
    this.#mixer.addViewer(id, { viewOnly: options.viewOnly ?? false });
    this.#liveness.watch(id, () => viewer.lastHeardAt);
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.emit("viewerJoined", id);
    log.info(`${this.id}: viewer ${id} joined over WebSocket (${this.viewerCount} now)`);
    return {
      input: (packet) => {
        viewer.lastHeardAt = performance.now();
        this.#mixer.handle(id, packet);
      },
      heartbeat: () => {
        viewer.lastHeardAt = performance.now();
      },
      close: (reason = "left") => this.#closeExternal(id, reason),
    };
  }

  #closeExternal(id: string, reason: string): void {
    if (!this.#external.delete(id)) return;
    this.#updateAudioPrompt();
    this.#viewerKeyframes.remove(id);
    this.#liveness.unwatch(id);
    this.#mixer.removeViewer(id);
    this.emit("viewerLeft", id, reason);
    // As for WebRTC viewers: an operator reading the log sees who came and went on either transport.
    log.info(`${this.id}: viewer ${id} left over WebSocket (${reason}); ${this.viewerCount} remain`);
    this.#armIdleTimer();
  }

  /** Sets (or clears) the raw media tap for WebSocket viewers. */
  setMediaTap(tap: MediaTap | undefined): void {
    this.#tap = tap;
    this.#updateAudioPrompt();
  }

  /**
   * Opus packets reach this process one by one only while someone takes them (a viewer, the tap
   * for WebSocket viewers, Janus); otherwise the receive thread lets them travel with the next frame,
   * sparing an idle streamer ~200 wakeups a second (issue 22). Called wherever one of those changes.
   */
  #updateAudioPrompt(): void {
    const session = this.#session;
    if (session) session.audioPrompt = this.#viewers.size > 0 || this.#external.size > 0 || this.#tap !== undefined || this.#janus !== undefined;
  }

  /**
   * Someone outside needs a keyframe; `stillWaiting` keeps the retry going. A WebSocket viewer's
   * own need (`viewer`) goes through the per-viewer policy as a WebRTC viewer's does: one that keeps
   * losing its picture cannot raise everyone's keyframe rate; its request, once passed on, is
   * repeated until a keyframe comes, a held one is not.
   */
  requestKeyframe(stillWaiting = true, viewer?: { id: string; need: KeyframeNeed }): void {
    if (viewer && this.#external.has(viewer.id)) {
      this.#viewerKeyframes.request(viewer.id, viewer.need);
      return;
    }
    this.#externalWaiting = stillWaiting;
    if (stillWaiting) this.#keyframes.request();
  }

  /** Connects to the host; resolves when live, rejects on a permanent failure (not paired, no such app, host busy). */
  async start(): Promise<void> {
    if (this.#stopped) throw new StreamerStateError("streamer stopped");
    await this.#connect();
  }

  /**
   * Adds a WebRTC viewer. `signal` carries messages to it; feed its replies to the returned
   * handle's `handleSignal`. The offer is sent at once, even before the host is live.
   */
  addViewer(options: { signal: (message: ServerSignal) => void; viewOnly?: boolean; id?: string; iceServers?: string[] }): { id: string; handleSignal: (m: ViewerSignal) => void; close: (reason?: string) => void } {
    if (this.#stopped) throw new StreamerStateError("streamer stopped");
    const id = options.id ?? `p${++this.#viewerSeq}-${randomInt(0, 0xffff).toString(16)}`;
    const settings = {
      id,
      stream: this.#streamInfoFor(),
      videoSsrc: this.#fanout.videoSsrc,
      audioSsrc: this.#fanout.audioSsrc,
      viewOnly: options.viewOnly ?? false,
      signal: options.signal,
      ...(this.#options.ice || options.iceServers
        ? { ice: { ...this.#options.ice, ...(options.iceServers ? { iceServers: options.iceServers } : {}) } }
        : {}),
    };
    const shards = this.#options.fanoutShards;
    // In a fan-out process the viewer starts (sends its offer) as soon as the process has it.
    const viewer: StreamerViewer = shards
      ? shards.add(settings)
      : new WebRtcViewer({ ...settings, ...(this.#options.viewerChannels ? { channels: this.#options.viewerChannels } : {}) });
    this.#viewers.set(id, viewer);
    this.#updateAudioPrompt();
    if (!shards) this.#fanout.add(viewer as WebRtcViewer);
    this.#mixer.addViewer(id, { viewOnly: options.viewOnly ?? false });
    this.#liveness.watch(id, () => viewer.lastHeardAt);
    viewer.on("input", (packet) => this.#mixer.handle(id, packet));
    const link = new ViewerLink();
    this.#links.set(id, link);
    this.#viewerKeyframes.add(id);
    viewer.on("keyframeRequest", (reason) => this.#onViewerKeyframeRequest(viewer, link, reason));
    viewer.on("linkFeedback", (fractionLost, rembBps) => {
      if (rembBps !== undefined) link.remb(rembBps);
      if (fractionLost !== undefined) link.report(fractionLost, this.#bitrate.bps);
      this.#tellLink(viewer, link);
    });
    viewer.on("open", () => this.emit("viewerOpen", id));
    viewer.on("closed", (reason) => this.#onViewerClosed(id, reason));
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (viewer instanceof WebRtcViewer) viewer.start();
    options.signal({ type: "status", status: this.#status, ...(this.#lastError ? { detail: this.#lastError } : {}) });
    this.emit("viewerJoined", id);
    log.info(`${this.id}: viewer ${id} joined (${this.#viewers.size} now)`);
    return { id, handleSignal: (m) => viewer.handleSignal(m), close: (reason) => viewer.close(reason ?? "kicked") };
  }

  removeViewer(id: string, reason = "removed"): boolean {
    const viewer = this.#viewers.get(id);
    if (!viewer) return false;
    viewer.close(reason);
    return true;
  }

  /** Stops the streamer: viewers are told and closed, the session ends (`quitApp` also quits the app). Idempotent. */
  async stop(options: { quitApp?: boolean; reason?: string } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const reason = options.reason ?? "stopped";
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#keyframes.close();
    this.#viewerKeyframes.close();
    this.#liveness.close();
    // Every viewer's held input is released on the host (the mixer sends the key-ups) before the
    // session ends: WebSocket viewers too, whose sockets the server closes only after we are gone.
    for (const viewer of [...this.#viewers.values()]) viewer.close(`streamer ${reason}`);
    for (const id of [...this.#external.keys()]) this.#closeExternal(id, `streamer ${reason}`);
    await this.#janus?.close();
    await this.#options.fanoutShards?.close();
    const session = this.#session;
    this.#session = undefined;
    if (session) await session.stop({ quitApp: options.quitApp ?? false });
    this.#setStatus("stopped", reason);
    this.emit("stopped", reason);
  }

  snapshot(): StreamerSnapshot {
    const counters = this.#session?.snapshot() ?? this.#lastCounters ?? emptySessionCounters();
    return {
      id: this.id,
      status: this.#status,
      host_connected: this.#session?.state === "streaming",
      stream: this.#info
        ? { width: this.#info.width, height: this.#info.height, fps: this.#info.fps, codec: this.#info.codec, bit_depth: this.#info.bitDepth, profile_level_id: this.#profileLevelId, media_receive: this.#info.mediaReceive }
        : null,
      viewers: [
        ...[...this.#viewers.values()].map(
          (v): ViewerInfo => ({
            id: v.id,
            role: v.viewOnly ? "view-only" : "viewer",
            transport: "webrtc",
            connected_at: new Date(v.connectedAt).toISOString(),
            state: v.state,
            stale: this.#liveness.isStale(v.id),
            stats: { ...v.stats, rtt_ms: v.rttMs },
            ...this.#linkOf(v.id),
          }),
        ),
        ...[...this.#external.values()].map(
          (v): ViewerInfo => ({
            id: v.id,
            role: v.viewOnly ? "view-only" : "viewer",
            transport: "websocket",
            connected_at: new Date(v.connectedAt).toISOString(),
            state: "connected",
            stale: this.#liveness.isStale(v.id),
            stats: {},
          }),
        ),
      ],
      counters: {
        ...counters,
        frames_fanned_out: this.#fanout.framesFannedOut,
        keyframes_requested: this.#keyframes.asked,
        keyframe_requests_sent: this.#keyframes.sent,
        keyframe_wait: this.#keyframes.waitState() ?? null,
        reconnects: this.#reconnects,
        input_forwarded: this.#mixer.stats.forwarded,
        input_merged: this.#mixer.stats.merged,
        input_dropped: this.#mixer.stats.dropped,
      },
      gateway_latency_ms: (this.#options.fanoutShards?.latency ?? this.#fanout.latency).summary(),
      fanout_processes:
        this.#options.fanoutShards?.load.map((p) => ({ pid: p.pid, viewers: p.viewers, exited: p.exited, frames_skipped: p.framesSkipped })) ?? null,
      egress: this.#janus ? { janus: { ...this.#janus.health } } : null,
      last_error: this.#lastError,
      created_at: this.createdAt.toISOString(),
    };
  }

  async #connect(): Promise<void> {
    const session = this.#options.createSession();
    this.#session = session;
    this.#updateAudioPrompt();
    session.on("video", (frame) => this.#onVideo(frame));
    session.on("audio", (packet) => this.#onAudio(packet));
    session.on("rumble", (event) => {
      const owner = this.#mixer.controllerOwner(event.controllerNumber);
      if (!owner) return;
      this.emit("rumble", owner.viewerId, owner.controllerNumber, event.lowFrequencyMotor, event.highFrequencyMotor);
      // Back to the pad that owns the slot, in that viewer's own controller numbering.
      const message: ServerSignal = { type: "rumble", controllerNumber: owner.controllerNumber, lowFrequency: event.lowFrequencyMotor, highFrequency: event.highFrequencyMotor };
      this.#viewers.get(owner.viewerId)?.sendSignal(message);
      this.#external.get(owner.viewerId)?.signal?.(message);
    });
    session.on("hostSilent", (silent) => this.#onHostSilent(session, silent));
    session.on("terminated", (termination) => this.#onTerminated(session, termination));
    try {
      const info = await session.start();
      if (this.#stopped || this.#session !== session) {
        await session.stop();
        return;
      }
      this.#onConnected(info);
    } catch (error) {
      this.#lastCounters = session.snapshot();
      this.#lastError = (error as Error).message;
      if (this.#stopped) return;
      if (isPermanent(error)) {
        this.#session = undefined;
        this.#setStatus("failed", this.#lastError);
        throw error;
      }
      log.warn(`${this.id}: could not connect (${this.#lastError}); retrying`);
      this.#scheduleReconnect();
    }
  }

  #onConnected(info: ConnectedInfo): void {
    const changed = !this.#info || this.#info.codec !== info.codec || this.#info.width !== info.width || this.#info.height !== info.height;
    this.#info = info;
    if (this.#earlyKeyframe) this.#readProfile(this.#earlyKeyframe);
    this.#earlyKeyframe = undefined;
    this.#lastError = null;
    this.#backoff.reset();
    this.#fanout.setCodec(info.codec);
    for (const viewer of this.#viewers.values()) {
      if (changed) viewer.updateStream(this.#streamInfoFor());
      viewer.resetToKeyframe();
    }
    this.#publishToJanus(changed);
    this.#setStatus("live");
    log.info(`${this.id}: live ${info.width}x${info.height}@${info.fps} ${info.codec}${info.resumed ? " (resumed)" : ""}`);
    if (this.#viewers.size > 0) this.#keyframes.request();
    this.#armIdleTimer();
  }

  /**
   * The host went silent: viewers are told at once (within 2 s) that we are reconnecting, not after
   * the control stream's 10 s timeout. The session is kept: a host that is back within the timeout
   * just resumes (live again), and one that is not ends the session and the usual reconnect with
   * backoff follows.
   */
  #onHostSilent(session: MoonlightSession, silent: boolean): void {
    if (this.#session !== session || this.#stopped) return;
    if (silent && this.#status === "live") this.#setStatus("reconnecting", "the host is not responding");
    else if (!silent && this.#status === "reconnecting") {
      this.#setStatus("live");
      this.#keyframes.request();
    }
  }

  #onTerminated(session: MoonlightSession, termination: SessionTermination): void {
    if (this.#session !== session || this.#stopped) return;
    this.#lastCounters = session.snapshot();
    this.#lastError = `${termination.reason} (${termination.code})`;
    log.warn(`${this.id}: host session ended: ${this.#lastError}`);
    this.#session = undefined;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    this.#setStatus("reconnecting", this.#lastError ?? undefined);
    const delay = this.#backoff.next();
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#reconnects++;
      this.#connect().catch((error) => log.error(`${this.id}: ${(error as Error).message}`));
    }, delay);
  }

  #onVideo(frame: VideoFrame): void {
    if (frame.isIdr) {
      if (this.#info) this.#readProfile(frame.data);
      else this.#earlyKeyframe = frame.data;
    }
    if (this.#tap && this.#info) this.#tap.video(frame, this.#info.codec);
    if (frame.isIdr) this.#externalWaiting = false;
    this.#bitrate.add(frame.data.byteLength);
    const written = this.#fanout.writeVideo(frame.data, frame.isIdr, frame.arrivalUs);
    // WebSocket viewers get their frames through the tap (in the server's process): a keyframe
    // there meets their needs too.
    if (frame.isIdr && (written || (this.#tap !== undefined && this.#external.size > 0))) this.#viewerKeyframes.keyframeSent();
    if (frame.isIdr && written) {
      const now = performance.now();
      for (const viewer of this.#viewers.values()) if (viewer.receivingVideo) this.#keyframeSentAt.set(viewer.id, now);
      // A viewer whose link is slower than the stream gets this keyframe and skips to the next one.
      for (const viewer of this.#viewers.values()) if (this.#links.get(viewer.id)?.keyframesOnly) viewer.resetToKeyframe();
    }
    // With only WebSocket viewers nothing is written here, yet their keyframe has arrived (the tap).
    if (frame.isIdr && (written || this.#viewers.size === 0)) this.#keyframes.keyframeArrived();
  }

  /**
   * A viewer lost its picture (PLI, FIR, its player asked) or its track just opened. A lost picture
   * means its delta frames no longer decode: it skips to the next keyframe, whoever asked for it,
   * and its own request reaches the host only as often as the policy allows.
   */
  #onViewerKeyframeRequest(viewer: StreamerViewer, link: ViewerLink, reason: "pli" | "fir" | "viewer" | "track-open"): void {
    if (reason === "track-open") {
      this.#viewerKeyframes.request(viewer.id, "join");
      return;
    }
    const sinceKeyframe = performance.now() - (this.#keyframeSentAt.get(viewer.id) ?? Number.NEGATIVE_INFINITY);
    if (sinceKeyframe < Math.max(STALE_LOSS_REPORT_MS, 2 * viewer.rttMs)) return;
    viewer.resetToKeyframe();
    link.keyframeRequest();
    this.#viewerKeyframes.request(viewer.id, "loss");
    this.#tellLink(viewer, link);
  }

  /**
   * Tells the viewer when its link verdict changes, so that its player can say why the picture is
   * poor. Checked on each receiver report (about once a second) and each lost picture.
   */
  #tellLink(viewer: StreamerViewer, link: ViewerLink): void {
    const verdict = link.verdict(this.#bitrate.bps, this.#viewerKeyframes.intervalMs);
    if (this.#toldLink.get(viewer.id) === verdict.quality) return;
    if (verdict.quality === "good" && !this.#toldLink.has(viewer.id)) return;
    this.#toldLink.set(viewer.id, verdict.quality);
    viewer.sendSignal({ type: "link", quality: verdict.quality, reason: verdict.reason });
    if (verdict.quality !== "good") log.info(`${this.id}: viewer ${viewer.id}: ${verdict.quality} link: ${verdict.reason}`);
  }

  /** Whether this viewer's wait should keep the host requests repeating. */
  #waitsForHost(viewer: StreamerViewer): boolean {
    if (!viewer.waitingForKeyframe || viewer.state !== "connected") return false;
    if (this.#links.get(viewer.id)?.keyframesOnly) return false;
    return this.#viewerKeyframes.state(viewer.id)?.holding !== true;
  }

  #linkOf(id: string): { link?: LinkVerdict & { keyframes: ViewerKeyframeState } } {
    const link = this.#links.get(id);
    const keyframes = this.#viewerKeyframes.state(id);
    if (!link || !keyframes) return {};
    return { link: { ...link.verdict(this.#bitrate.bps, this.#viewerKeyframes.intervalMs), keyframes } };
  }

  /**
   * Publishes into Janus once the codec is known, and again (a new mountpoint) when the stream changes.
   */
  #publishToJanus(streamChanged: boolean): void {
    const url = this.#options.janusUrl;
    if (!url || !this.#info || this.#stopped || (this.#janus && !streamChanged)) return;
    const previous = this.#janus;
    if (previous) {
      this.#fanout.delete(previous);
      void previous.close();
    }
    const janus = new JanusEgress({
      url,
      name: this.id,
      codec: this.#info.codec,
      videoSsrc: this.#fanout.videoSsrc,
      audioSsrc: this.#fanout.audioSsrc,
      onKeyframeRequest: () => this.#keyframes.request(),
    });
    this.#janus = janus;
    this.#updateAudioPrompt();
    this.#fanout.add(janus);
    janus.start().catch((error) => log.warn(`${this.id}: Janus: ${(error as Error).message}`));
  }

  /** The H.264 profile-level-id viewers are offered, from the stream's own SPS. */
  #readProfile(keyframe: Uint8Array): void {
    if (this.#info?.codec !== "h264") return;
    const profile = findH264Profile(keyframe);
    if (!profile || profile.profileLevelId === this.#profileLevelId) return;
    this.#profileLevelId = profile.profileLevelId;
    this.emit("streamChanged");
  }

  #onAudio(packet: AudioPacket): void {
    if (!packet.data) return;
    this.#fanout.writeAudio(packet.data, packet.timestamp);
    if (this.#tap) this.#tap.audio(packet, this.#info?.audio.channels ?? 2);
  }

  #onViewerClosed(id: string, reason: string): void {
    const viewer = this.#viewers.get(id);
    if (!viewer) return;
    this.#viewers.delete(id);
    this.#updateAudioPrompt();
    this.#links.delete(id);
    this.#toldLink.delete(id);
    this.#keyframeSentAt.delete(id);
    this.#viewerKeyframes.remove(id);
    if (viewer instanceof WebRtcViewer) this.#fanout.delete(viewer);
    this.#liveness.unwatch(id);
    this.#mixer.removeViewer(id);
    this.emit("viewerLeft", id, reason);
    log.info(`${this.id}: viewer ${id} left (${reason}); ${this.#viewers.size} remain`);
    this.#armIdleTimer();
  }

  #armIdleTimer(): void {
    const idle = this.#options.idleTimeoutMs ?? 0;
    if (idle <= 0 || this.viewerCount > 0 || this.#idleTimer || this.#stopped) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.viewerCount === 0) void this.stop({ reason: `idle for ${Math.round(idle / 1000)} s` });
    }, idle);
  }

  #streamInfoFor(): StreamInfo {
    const info = this.#info;
    return {
      width: info?.width ?? 0,
      height: info?.height ?? 0,
      fps: info?.fps ?? 0,
      codec: info?.codec ?? "h264",
      ...(info?.bitDepth === 10 ? { bitDepth: 10 as const } : {}),
      profileLevelId: this.#profileLevelId,
      audio: { channels: info?.audio.channels ?? 2, sampleRate: 48_000 },
      input: true,
      capabilities: { touch: true, pen: true, controllers: 16 },
    };
  }

  #setStatus(status: StreamerStatus, detail?: string): void {
    if (this.#status === status && status !== "reconnecting") return;
    this.#status = status;
    this.emit("status", status, detail);
    this.#broadcast({ type: "status", status, ...(detail ? { detail } : {}) });
  }

  #broadcast(message: ServerSignal): void {
    for (const viewer of this.#viewers.values()) viewer.sendSignal(message);
  }
}
