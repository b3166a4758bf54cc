/**
 * A viewer without a screen, for diagnosis (`mlstream join`): opens the peer WebSocket of a
 * streamer, answers its offer with a WebRtcReceiver, counts what arrives, optionally records the
 * video (Annex-B) and the audio (Ogg/Opus), and sends input on request.
 *
 * Joining walks through five stages, and a join that does not reach a first frame in time fails
 * with the stage it was stuck in — the lesson of a terminal-sharing tool whose viewer never
 * answered and which could only say "WebRTC required but not connected":
 *
 *   signaling  WebSocket open → hello → offer → our answer
 *   ice        ICE connectivity checks succeed
 *   dtls       the DTLS handshake completes (peer connection "connected")
 *   media      video RTP arrives
 *   keyframe   a frame that decodes on its own (IDR) is reassembled
 *
 * With `transport: "websocket"` (docs/ws-media.md) the media comes over the signaling socket
 * itself: the stages are signaling, then media (the first video frame on the socket).
 */
import { EventEmitter } from "node:events";
import { closeSync, openSync, writeSync } from "node:fs";
import nodeDataChannel from "node-datachannel";
import { serializeInputPacket, type InputPacket } from "../moonlight/input/input.ts";
import { createOggOpusFile } from "./ogg-opus-writer.ts";
import { toLibDataChannelUrl } from "./ice-servers.ts";
import type { ServerSignal, StreamerStatus, StreamInfo } from "./signaling.ts";
import { WebRtcReceiver } from "./webrtc-receiver.ts";
import { HEARTBEAT_INTERVAL_MS } from "./heartbeat.ts";
import { parseWsMedia, serializeInput, serializePing } from "./ws-media.ts";

export type JoinStage = "signaling" | "ice" | "dtls" | "media" | "keyframe";

/** Moments of a join, in milliseconds since it began. */
export interface JoinMilestones {
  ws_open?: number;
  hello?: number;
  offer?: number;
  answer?: number;
  ice_connected?: number;
  dtls_connected?: number;
  first_rtp?: number;
  first_frame?: number;
  input_ready?: number;
}

/** Joining failed: `stage` is where it stopped. */
export class JoinError extends Error {
  override name = "JoinError";
  readonly stage: JoinStage;

  constructor(stage: JoinStage, message: string) {
    super(`${stage}: ${message}`);
    this.stage = stage;
  }
}

export interface TerminalViewerOptions {
  /** ws:// or wss:// URL of the streamer's peer socket. */
  url: string;
  /** Sent with the upgrade (Authorization). */
  headers?: Record<string, string>;
  /** How long a join may take to reach its first frame. */
  timeoutMs: number;
  /** Write the video, as Annex-B from the first keyframe on, to this file. */
  recordVideo?: string;
  /** Write the audio, as Ogg/Opus, to this file. */
  recordAudio?: string;
  /** Local address for ICE (tests bind to loopback). */
  bindAddress?: string;
  /** Media over WebRTC (default) or over the socket itself; sent as `?transport=`. */
  transport?: "webrtc" | "websocket";
}

export interface TerminalViewerEvents {
  /** A milestone was reached (for progress display). */
  milestone: [name: keyof JoinMilestones, ms: number];
  status: [status: StreamerStatus, detail?: string];
  stream: [info: StreamInfo];
  /** The server ended the session (kicked, streamer stopped …) or the socket closed. */
  end: [reason: string];
}

/** What the status line and the summary show. */
export interface JoinStats {
  state: string;
  stream: { width: number; height: number; codec: string; fps: number } | null;
  streamer_status: StreamerStatus | null;
  frames: number;
  keyframes: number;
  bytes: number;
  frames_dropped: number;
  packets: number;
  packets_lost: number;
  audio_packets: number;
  /** Over the last second or so. */
  fps_now: number;
  mbps_now: number;
  jitter_ms: number;
  rtt_ms: number | null;
  first_frame_ms: number | null;
  elapsed_ms: number;
}

export interface JoinSummary {
  streamer: string | null;
  transport: "webrtc" | "websocket";
  peer_id: string | null;
  frames: number;
  keyframes: number;
  bytes: number;
  first_frame_ms: number | null;
  /** Averages from the first frame to the end. */
  fps: number;
  mbps: number;
  packets: number;
  packets_lost: number;
  frames_dropped: number;
  jitter_ms: number;
  rtt_ms: number | null;
  audio_packets: number;
  input_sent: number;
  stream: JoinStats["stream"];
  candidate_pair: string | null;
  stages: JoinMilestones;
  /** The stage that failed, or null. */
  failed_stage: JoinStage | null;
  /** The last time the server said this viewer's link was poor, and why (null: never). */
  link_notice: { quality: string; reason: string | null } | null;
  error: string | null;
  ended: string | null;
}

const RATE_WINDOW_MS = 1000;
/** Ask for a keyframe again when RTP flows but no frame came out for this long. */
const PLI_AFTER_MS = 1000;

export class TerminalViewer extends EventEmitter<TerminalViewerEvents> {
  readonly #options: TerminalViewerOptions;
  readonly #started = performance.now();
  readonly milestones: JoinMilestones = {};
  #ws: WebSocket | undefined;
  #receiver: WebRtcReceiver | undefined;
  #peerId: string | null = null;
  #streamInfo: StreamInfo | undefined;
  #streamerStatus: { status: StreamerStatus; detail?: string } | undefined;
  #serverError: { error: string; message: string } | undefined;
  #closeInfo: { code: number; reason: string } | undefined;
  #ended: string | undefined;
  #failure: JoinError | undefined;
  #closed = false;
  #iceState = "new";
  #iceServers: string[] = [];
  #iceTransportPolicy: "all" | "relay" = "all";
  #pcState = "new";
  #localCandidates = 0;
  #remoteCandidates = 0;
  // Counters that survive a new offer (a restarted streamer).
  #frames = 0;
  #linkNotice: { quality: string; reason: string | null } | undefined;
  #keyframes = 0;
  #bytes = 0;
  #packets = 0;
  #base = { packetsLost: 0, framesDropped: 0, audio: 0 };
  #lastFrameAt = 0;
  #lastPliAt = 0;
  #firstFrameAt = 0;
  #lastEventAt = 0;
  #jitter = 0;
  #lastTransit: number | undefined;
  #rate: { at: number; frames: number; bytes: number }[] = [];
  #inputSent = 0;
  #video: number | undefined;
  #audio: ReturnType<typeof createOggOpusFile> | undefined;
  #audioSkipped = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #transport: "webrtc" | "websocket";
  #wsRttMs = -1;
  #lastPingAt = 0;
  #wsAudio = 0;
  #wsInput = false;

  constructor(options: TerminalViewerOptions) {
    super();
    this.#options = options;
    this.#transport = options.transport ?? "webrtc";
  }

  get transport(): "webrtc" | "websocket" {
    return this.#transport;
  }

  get peerId(): string | null {
    return this.#peerId;
  }

  get inputReady(): boolean {
    if (this.#transport === "websocket") return this.#wsInput && this.#ws?.readyState === WebSocket.OPEN;
    return this.#receiver?.inputReady === true;
  }

  /** Why the session ended (server `end`, socket closed), if it did. */
  get ended(): string | undefined {
    return this.#ended;
  }

  /**
   * Opens the socket and resolves at the first frame; rejects with a JoinError naming the stage
   * when that does not happen within `timeoutMs` or when something fails on the way.
   */
  async connect(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    let ws: WebSocket;
    try {
      const url = new URL(this.#options.url);
      url.searchParams.set("transport", this.#transport);
      ws = new WebSocket(url.toString(), { headers: this.#options.headers ?? {} } as unknown as string[]);
    } catch (error) {
      this.#fail(new JoinError("signaling", `cannot open ${this.#options.url}: ${(error as Error).message}`));
      return done;
    }
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.#milestone("ws_open");
    ws.onmessage = (event) => this.#onMessage(event.data);
    ws.onclose = (event) => this.#onClose(event.code, event.reason);
    this.#timer = setInterval(() => this.#tick(), 100);
    const timeout = setTimeout(() => void this.#diagnose(`within ${Math.round(this.#options.timeoutMs / 100) / 10} s`), this.#options.timeoutMs);
    try {
      await done;
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Sends one input packet; false when the input channel is not open (or the viewer may not send). */
  sendInput(packet: InputPacket): boolean {
    let sent = false;
    if (this.#transport === "websocket") {
      if (this.inputReady) {
        this.#ws!.send(serializeInput(serializeInputPacket(packet)));
        sent = true;
      }
    } else sent = this.#receiver?.sendInput(packet) ?? false;
    if (sent) this.#inputSent++;
    return sent;
  }

  stats(): JoinStats {
    const now = performance.now();
    const video = this.#receiver?.videoStats;
    const oldest = this.#rate[0];
    const span = oldest ? (now - oldest.at) / 1000 : 0;
    const rtt = this.#transport === "websocket" ? Math.round(this.#wsRttMs * 10) / 10 : (this.#receiver?.rttMs ?? -1);
    return {
      state: this.#stateText(),
      stream: this.#streamInfo ? { width: this.#streamInfo.width, height: this.#streamInfo.height, codec: this.#streamInfo.codec, fps: this.#streamInfo.fps } : null,
      streamer_status: this.#streamerStatus?.status ?? null,
      frames: this.#frames,
      keyframes: this.#keyframes,
      bytes: this.#bytes,
      frames_dropped: this.#base.framesDropped + (video?.framesDropped ?? 0),
      packets: this.#packets,
      packets_lost: this.#base.packetsLost + (video?.packetsLost ?? 0),
      audio_packets: this.#base.audio + this.#wsAudio + (this.#receiver?.audioPackets ?? 0),
      fps_now: oldest && span > 0.2 ? (this.#frames - oldest.frames) / span : 0,
      mbps_now: oldest && span > 0.2 ? ((this.#bytes - oldest.bytes) * 8) / span / 1e6 : 0,
      jitter_ms: round(this.#jitter / 90, 2),
      rtt_ms: rtt >= 0 ? rtt : null,
      first_frame_ms: this.milestones.first_frame ?? null,
      elapsed_ms: Math.round(now - this.#started),
    };
  }

  summary(streamerId: string | null = null): JoinSummary {
    const stats = this.stats();
    const end = this.#lastFrameAt || performance.now();
    const seconds = this.#firstFrameAt ? Math.max((end - this.#firstFrameAt) / 1000, 1e-3) : 0;
    return {
      streamer: streamerId,
      transport: this.#transport,
      peer_id: this.#peerId,
      frames: stats.frames,
      keyframes: stats.keyframes,
      bytes: stats.bytes,
      first_frame_ms: stats.first_frame_ms,
      // n frames span n−1 intervals.
      fps: seconds > 0 && stats.frames > 1 ? round((stats.frames - 1) / seconds, 2) : 0,
      mbps: seconds > 0 ? round((stats.bytes * 8) / seconds / 1e6, 3) : 0,
      packets: stats.packets,
      packets_lost: stats.packets_lost,
      frames_dropped: stats.frames_dropped,
      jitter_ms: stats.jitter_ms,
      rtt_ms: stats.rtt_ms,
      audio_packets: stats.audio_packets,
      input_sent: this.#inputSent,
      stream: stats.stream,
      candidate_pair: this.#receiver?.selectedPair ?? null,
      stages: { ...this.milestones },
      failed_stage: this.#failure?.stage ?? null,
      error: this.#failure?.message ?? null,
      ended: this.#ended ?? null,
      link_notice: this.#linkNotice ?? null,
    };
  }

  /** Leaves (tells the server), closes the peer connection and the recordings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      try {
        ws.send(JSON.stringify({ type: "leave" }));
      } catch {
        // closing anyway
      }
    }
    try {
      ws?.close(1000, "leave");
    } catch {
      // closed already
    }
    this.#closeReceiver();
    if (this.#video !== undefined) closeSync(this.#video);
    this.#video = undefined;
    this.#audio?.closeFile();
    this.#audio = undefined;
  }

  #stateText(): string {
    if (this.#ended) return `ended (${this.#ended})`;
    if (this.#transport === "websocket") return this.#frames > 0 ? "playing (websocket)" : this.milestones.hello !== undefined ? "waiting for media" : "connecting";
    if (this.#frames > 0) return this.#pcState === "connected" ? "playing" : this.#pcState;
    if (this.milestones.dtls_connected !== undefined) return this.milestones.first_rtp !== undefined ? "waiting for a keyframe" : "waiting for media";
    if (this.milestones.ice_connected !== undefined) return "DTLS handshake";
    if (this.milestones.answer !== undefined) return `ICE ${this.#iceState}`;
    if (this.milestones.offer !== undefined) return "answering";
    if (this.milestones.hello !== undefined) return "waiting for the offer";
    if (this.milestones.ws_open !== undefined) return "waiting for hello";
    return "connecting";
  }

  #milestone(name: keyof JoinMilestones): void {
    if (this.milestones[name] !== undefined) return;
    const ms = Math.round(performance.now() - this.#started);
    this.milestones[name] = ms;
    this.emit("milestone", name, ms);
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    if (typeof data !== "string") return this.#onBinary(new Uint8Array(data as ArrayBuffer));
    let message: ServerSignal;
    try {
      message = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer)) as ServerSignal;
    } catch {
      return;
    }
    switch (message.type) {
      case "hello":
        this.#peerId = message.peerId;
        // The server's STUN/TURN list and policy are for this side of the connection too.
        this.#iceServers = (message.iceServers ?? []).map((server) => toLibDataChannelUrl(server));
        this.#iceTransportPolicy = message.iceTransportPolicy === "relay" ? "relay" : "all";
        this.#wsInput = message.role === "viewer";
        this.#milestone("hello");
        return;
      case "transport":
        // The server moved us to the WebSocket transport (transport=auto): media follows on the socket.
        this.#transport = message.transport;
        this.#closeReceiver();
        return;
      case "offer":
        this.#milestone("offer");
        this.#newReceiver();
        this.#receiver!.handleSignal(message);
        return;
      case "candidate":
        this.#remoteCandidates++;
        this.#receiver?.handleSignal(message);
        return;
      case "stream":
        this.#streamInfo = message.info;
        this.#receiver?.handleSignal(message);
        this.emit("stream", message.info);
        return;
      case "status":
        this.#streamerStatus = { status: message.status, ...(message.detail ? { detail: message.detail } : {}) };
        this.emit("status", message.status, message.detail);
        return;
      case "error":
        this.#serverError = { error: message.error, message: message.message };
        return;
      case "link":
        this.#linkNotice = message.quality === "good" ? this.#linkNotice : { quality: message.quality, reason: message.reason };
        return;
      case "end":
        this.#ended = message.reason;
        this.emit("end", message.reason);
        return;
    }
  }

  #onClose(code: number, reason: string): void {
    this.#closeInfo = { code, reason };
    if (this.#closed) return;
    this.#ended ??= this.#serverError?.message ?? (reason || `socket closed (${code})`);
    if (this.#frames === 0) void this.#diagnose("");
    else this.emit("end", this.#ended);
  }

  /** Media over the socket (docs/ws-media.md). */
  #onBinary(bytes: Uint8Array): void {
    let message;
    try {
      message = parseWsMedia(bytes);
    } catch {
      return;
    }
    const now = performance.now();
    switch (message.type) {
      case "video":
        this.#packets++;
        this.#onFrame({ data: message.data, keyframe: message.keyframe, receivedAt: now });
        return;
      case "audio":
        this.#wsAudio++;
        this.#audio?.write(message.data);
        return;
      case "ping":
        this.#ws?.send(serializePing("pong", message.clockMs));
        return;
      case "pong":
        this.#wsRttMs = now - message.clockMs;
        return;
    }
  }

  #onFrame(frame: { data: Uint8Array; keyframe: boolean; receivedAt: number }): void {
    this.#frames++;
    this.#bytes += frame.data.length;
    if (frame.keyframe) this.#keyframes++;
    this.#lastFrameAt = frame.receivedAt;
    if (!this.#firstFrameAt) {
      this.#firstFrameAt = frame.receivedAt;
      this.#milestone("first_frame");
      this.#openRecordings();
      this.#settle();
    }
    if (this.#video !== undefined) writeSync(this.#video, frame.data);
  }

  /** A (new) offer: a fresh peer connection, as after a streamer restart. */
  #newReceiver(): void {
    this.#closeReceiver();
    this.#iceState = "new";
    this.#pcState = "new";
    this.#lastTransit = undefined;
    const receiver = new WebRtcReceiver({
      ...(this.#options.bindAddress ? { bindAddress: this.#options.bindAddress } : {}),
      iceServers: this.#iceServers,
      iceTransportPolicy: this.#iceTransportPolicy,
      signal: (message) => {
        if (message.type === "answer") this.#milestone("answer");
        if (message.type === "candidate") this.#localCandidates++;
        if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
      },
    });
    this.#receiver = receiver;
    if (this.#streamInfo) receiver.handleSignal({ type: "stream", info: this.#streamInfo });
    receiver.on("iceState", (state) => {
      this.#iceState = state;
      if (state === "connected" || state === "completed") this.#milestone("ice_connected");
    });
    receiver.on("state", (state) => {
      if (state.startsWith("signal-error")) {
        if (this.milestones.answer === undefined) this.#fail(new JoinError("signaling", `the offer could not be answered (${state.slice("signal-error: ".length)})`));
        return;
      }
      this.#pcState = state;
      if (state === "connected") {
        // libdatachannel reports no separate ICE event on some paths: connected implies both.
        this.#milestone("ice_connected");
        this.#milestone("dtls_connected");
      }
      if ((state === "failed" || state === "closed") && this.#frames === 0 && !this.#closed) void this.#diagnose(`(peer connection ${state})`);
    });
    receiver.on("inputReady", () => this.#milestone("input_ready"));
    receiver.on("rtp", (packet) => this.#onRtp(packet));
    receiver.on("frame", (frame) => this.#onFrame(frame));
    receiver.on("audio", (opus) => {
      if (this.#audio) this.#audio.write(opus);
    });
    receiver.on("end", (reason) => {
      this.#ended = reason;
    });
  }

  #closeReceiver(): void {
    const old = this.#receiver;
    if (!old) return;
    const video = old.videoStats;
    this.#base.packetsLost += video?.packetsLost ?? 0;
    this.#base.framesDropped += video?.framesDropped ?? 0;
    this.#base.audio += old.audioPackets;
    old.removeAllListeners();
    old.close();
    this.#receiver = undefined;
  }

  /** RFC 3550 §6.4.1 interarrival jitter, in 90 kHz units. */
  #onRtp(packet: Uint8Array): void {
    this.#packets++;
    // SRTP flowing means ICE and DTLS are done, even when the state event comes later.
    this.#milestone("ice_connected");
    this.#milestone("dtls_connected");
    this.#milestone("first_rtp");
    const now = performance.now();
    this.#lastEventAt = now;
    if (packet.length < 8) return;
    const timestamp = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
    const transit = now * 90 - timestamp;
    if (this.#lastTransit !== undefined) {
      let d = Math.abs(transit - this.#lastTransit);
      if (d > 2 ** 31) d = Math.abs(d - 2 ** 32);
      this.#jitter += (d - this.#jitter) / 16;
    }
    this.#lastTransit = transit;
  }

  #openRecordings(): void {
    if (this.#options.recordVideo && this.#video === undefined) this.#video = openSync(this.#options.recordVideo, "w");
    if (this.#options.recordAudio && !this.#audio && !this.#audioSkipped) {
      const channels = this.#streamInfo?.audio.channels ?? 2;
      if (channels > 2) {
        this.#audioSkipped = true;
        process.emitWarning(`--record-audio: ${channels}-channel audio is not recorded (mono and stereo only)`);
        return;
      }
      this.#audio = createOggOpusFile(this.#options.recordAudio, { channels, comments: ["ENCODER=mlstream join"] });
    }
  }

  #tick(): void {
    const now = performance.now();
    // The RTT ping is also our heartbeat on the WebSocket transport (heartbeat.ts); over WebRTC
    // the receiver beats on the input channel itself.
    if (this.#transport === "websocket" && this.#ws?.readyState === WebSocket.OPEN && now - this.#lastPingAt >= HEARTBEAT_INTERVAL_MS) {
      this.#lastPingAt = now;
      this.#ws.send(serializePing("ping", now));
    }
    this.#rate.push({ at: now, frames: this.#frames, bytes: this.#bytes });
    while (this.#rate.length > 1 && now - this.#rate[0]!.at > RATE_WINDOW_MS) this.#rate.shift();
    // RTP flows but nothing decodable comes out: ask again (the server also asks on track open).
    const receiver = this.#receiver;
    if (receiver && this.#packets > 0 && now - Math.max(this.#lastFrameAt, this.#lastPliAt) > PLI_AFTER_MS && now - this.#lastEventAt < PLI_AFTER_MS) {
      this.#lastPliAt = now;
      receiver.requestKeyframe();
    }
  }

  /** Names the stage the join is stuck in. `why` ends the sentence ("within 10 s"). */
  async #diagnose(why: string): Promise<void> {
    if (this.#firstFrameAt || this.#failure) return;
    const m = this.milestones;
    const status = this.#streamerStatus ? `; streamer ${this.#streamerStatus.status}${this.#streamerStatus.detail ? `: ${this.#streamerStatus.detail}` : ""}` : "";
    const ended = this.#ended ? ` (${this.#ended})` : "";
    const suffix = why ? ` ${why}` : ended;
    if (m.ws_open === undefined) return this.#fail(new JoinError("signaling", await this.#whyNoSocket()));
    if (this.#serverError && m.offer === undefined) {
      const notFound = this.#serverError.error === "streamer_not_found" || this.#closeInfo?.code === 4004;
      return this.#fail(new JoinError("signaling", `${notFound ? "streamer not found: " : ""}${this.#serverError.message} (${this.#serverError.error})`));
    }
    if (m.hello === undefined) return this.#fail(new JoinError("signaling", `the socket opened but the server said no hello${suffix}`));
    if (this.#transport === "websocket") return this.#fail(new JoinError("media", `no video over the WebSocket${suffix} (${this.#wsAudio} audio packets)${status}`));
    if (m.offer === undefined) return this.#fail(new JoinError("signaling", `no offer from the streamer${suffix}${status}`));
    if (m.answer === undefined) return this.#fail(new JoinError("signaling", `the offer was never answered${suffix}`));
    if (m.ice_connected === undefined) {
      return this.#fail(new JoinError("ice", `no ICE connectivity${suffix} (ICE ${this.#iceState}; ${this.#localCandidates} local and ${this.#remoteCandidates} remote candidates)`));
    }
    if (m.dtls_connected === undefined) return this.#fail(new JoinError("dtls", `ICE connected but the DTLS handshake did not complete${suffix} (peer connection ${this.#pcState})`));
    if (m.first_rtp === undefined) return this.#fail(new JoinError("media", `connected, but no video RTP arrived${suffix}${status}`));
    const video = this.#receiver?.videoStats;
    return this.#fail(
      new JoinError("keyframe", `${this.#packets} RTP packets arrived but no decodable keyframe${suffix} (${video?.framesDropped ?? 0} frames dropped, ${video?.packetsLost ?? 0} packets lost)${status}`),
    );
  }

  /** The socket never opened: asks the same URL over HTTP to tell "unreachable" from "401". */
  async #whyNoSocket(): Promise<string> {
    const close = this.#closeInfo ? ` (closed with ${this.#closeInfo.code}${this.#closeInfo.reason ? ` ${this.#closeInfo.reason}` : ""})` : "";
    const httpUrl = this.#options.url.replace(/^ws/, "http");
    try {
      const response = await fetch(httpUrl, { headers: this.#options.headers ?? {}, signal: AbortSignal.timeout(3000) });
      if (response.status === 401) return `the server refused the token (401) at ${httpUrl}: set MLSTREAM_TOKEN or pass a viewer URL with ?access_token=`;
      if (response.status === 403) return `the server refused this token (403) at ${httpUrl}`;
      if (response.status === 404) return `no peer endpoint at ${httpUrl} (404): wrong server URL or base path?`;
      return `the WebSocket ${this.#options.url} was refused${close} (HTTP ${response.status})`;
    } catch (error) {
      const code = (error as { code?: string }).code;
      return `cannot reach ${httpUrl}${code ? ` (${code === "ConnectionRefused" ? "connection refused" : code})` : ""}: is 'mlstream serve' running?`;
    }
  }

  #settle(): void {
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  #fail(error: JoinError): void {
    if (this.#failure || this.#firstFrameAt) return;
    this.#failure = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

/**
 * Stops libdatachannel's threads so that a one-shot process (`mlstream join`) can exit. Closes
 * every peer connection of the process: never call it where other peers live.
 */
export function shutdownWebRtc(): void {
  nodeDataChannel.cleanup();
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** One status line: `● playing 1280x720 h264 · 59.8 fps 4.21 Mbps · key 3 · lost 0 · jitter 1.2 ms · rtt 0.4 ms · first frame 312 ms`. */
export function formatStatusLine(stats: JoinStats): string {
  const parts = [`${stats.frames > 0 ? "●" : "○"} ${stats.state}`];
  if (stats.stream) parts[0] += ` ${stats.stream.width}x${stats.stream.height} ${stats.stream.codec}`;
  if (stats.streamer_status && stats.streamer_status !== "live") parts[0] += ` (streamer ${stats.streamer_status})`;
  parts.push(`${stats.fps_now.toFixed(1)} fps ${stats.mbps_now.toFixed(2)} Mbps`);
  parts.push(`frames ${stats.frames} key ${stats.keyframes}`);
  parts.push(`lost ${stats.packets_lost}`);
  parts.push(`jitter ${stats.jitter_ms.toFixed(1)} ms`);
  parts.push(`rtt ${stats.rtt_ms === null ? "-" : `${stats.rtt_ms} ms`}`);
  parts.push(`first frame ${stats.first_frame_ms === null ? "-" : `${stats.first_frame_ms} ms`}`);
  if (stats.audio_packets > 0) parts.push(`audio ${stats.audio_packets}`);
  return parts.join(" · ");
}
