/**
 * One streaming session of the simulated host: what Sunshine creates at RTSP ANNOUNCE and tears
 * down when the client leaves, times out, or the host ends it.
 *
 * It owns the session's video and audio senders (waiting for pings), its media source, and — once
 * the client's ENet connection is matched to it — the control connection. Matching follows
 * Sunshine (§3.3, §5.1): a client that announced ML_FF_SESSION_ID_V1 is recognised by the ping
 * payload / connect data handed out in SETUP, any other by its IP address.
 *
 * Liveness (Sunshine's ping_timeout, 10 s by default): the first video and audio pings and the
 * control connection must arrive within the timeout, and an attached control connection must not
 * stay silent longer than it; otherwise the session ends.
 */
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import { AudioCipher } from "../moonlight/audio/audio-packet.ts";
import { TerminationCode, type ControlMessage, type HdrMetadata } from "../moonlight/control/control-messages.ts";
import type { EnetPeer } from "../moonlight/control/enet/peer.ts";
import { VideoCipher } from "../moonlight/video/video-crypto.ts";
import { AudioSender, type SimAudioStats } from "./audio-sender.ts";
import { SimControlConnection, type SimControlStats, type SimInputEvent } from "./control-host.ts";
import type { SimIdrReason, VideoSource } from "./media-source.ts";
import type { SimLaunchSession } from "./session.ts";
import { streamOpusLayout, type SimStreamConfig } from "./stream-config.ts";
import type { SimPing, SimUdpPort } from "./udp-port.ts";
import { VideoSender, type SimVideoStats } from "./video-sender.ts";

const log = logger("sim-stream");

/** Sunshine sends HDR off with all-zero metadata: a 27-byte payload of zeros (fixtures/sunshine-h264-encrypted). */
const NO_HDR_METADATA: HdrMetadata = {
  displayPrimaries: [
    { x: 0, y: 0 },
    { x: 0, y: 0 },
    { x: 0, y: 0 },
  ],
  whitePoint: { x: 0, y: 0 },
  maxDisplayLuminance: 0,
  minDisplayLuminance: 0,
  maxContentLightLevel: 0,
  maxFrameAverageLightLevel: 0,
  maxFullFrameLuminance: 0,
};

export type StreamEndReason =
  /** endSession() / /cancel: a termination message was sent. */
  | "terminated"
  /** The client disconnected its control stream (or ENet timed it out). */
  | "client-disconnected"
  /** No ping / control connection / control traffic within the ping timeout. */
  | "timeout"
  /** A newer ANNOUNCE took its place. */
  | "replaced"
  /** The host is closing. */
  | "host-closed";

export interface StreamSessionOptions {
  id: number;
  launch: SimLaunchSession;
  config: SimStreamConfig;
  /** Address the ANNOUNCE came from (legacy clients are matched by it). */
  clientAddress: string;
  videoPort: SimUdpPort;
  audioPort: SimUdpPort;
  source: VideoSource;
  fecPercentage: number;
  firstFrameIndex: number;
  pingTimeoutMs: number;
  /**
   * Recognise the client by ping payload / connect data (it announced ML_FF_SESSION_ID_V1 and the
   * host sent the X-SS headers); otherwise by IP address.
   */
  matchBySessionId: boolean;
  /** Tell the client the HDR mode (off) after its Start B, as Sunshine does. */
  hdrModeMessage?: boolean;
  stats: { video: SimVideoStats; audio: SimAudioStats; control: SimControlStats };
}

export interface StreamSessionEvents {
  /** The client's control stream is attached. */
  control: [connection: SimControlConnection];
  input: [event: SimInputEvent];
  ended: [info: { reason: StreamEndReason; terminationCode: number | undefined }];
}

export class SimStreamSession extends EventEmitter<StreamSessionEvents> {
  readonly id: number;
  readonly launch: SimLaunchSession;
  readonly config: SimStreamConfig;
  readonly clientAddress: string;
  readonly video: VideoSender;
  readonly audio: AudioSender;
  readonly #stats: StreamSessionOptions["stats"];
  readonly #pingTimeoutMs: number;
  readonly #matchBySessionId: boolean;
  readonly #hdrModeMessage: boolean;
  readonly #createdAt = performance.now();
  readonly #watchdog: ReturnType<typeof setInterval>;
  #control: SimControlConnection | undefined;
  #ended: StreamEndReason | undefined;

  constructor(options: StreamSessionOptions) {
    super();
    this.id = options.id;
    this.launch = options.launch;
    this.config = options.config;
    this.clientAddress = options.clientAddress;
    this.#stats = options.stats;
    this.#pingTimeoutMs = options.pingTimeoutMs;
    this.#matchBySessionId = options.matchBySessionId;
    this.#hdrModeMessage = options.hdrModeMessage ?? false;
    const { config, launch } = options;
    this.video = new VideoSender({
      port: options.videoPort,
      source: options.source,
      packetSize: config.packetSize,
      fecPercentage: options.fecPercentage,
      minRequiredFecPackets: config.minRequiredFecPackets,
      firstFrameIndex: options.firstFrameIndex,
      ...(config.videoEncrypted ? { cipher: new VideoCipher(launch.rikey) } : {}),
      stats: options.stats.video,
    });
    // 5.1 / 7.1: the client set its Opus decoder up by our DESCRIBE reply; send packets it can take.
    const layout = streamOpusLayout(config, launch.surroundParams);
    if (!layout) log.warn(`no Opus layout for ${config.audioChannels} channels in the DESCRIBE reply; sending stereo`);
    this.audio = new AudioSender({
      port: options.audioPort,
      packetDurationMs: config.audioPacketDurationMs,
      layout: layout ?? { streams: 1, coupled: 1 },
      ...(config.audioEncrypted ? { cipher: new AudioCipher(launch.rikey, launch.rikeyId) } : {}),
      stats: options.stats.audio,
    });
    // A coarse check is enough: the timeout is seconds, like Sunshine's.
    this.#watchdog = setInterval(() => this.#checkLiveness(), Math.min(1000, Math.max(50, this.#pingTimeoutMs / 4)));
  }

  get control(): SimControlConnection | undefined {
    return this.#control;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Does this (video or audio) ping come from this session's client? */
  matchesPing(ping: SimPing): boolean {
    if (this.#ended) return false;
    if (this.#matchBySessionId) return ping.kind === "ss" && ping.payload === this.launch.avPingPayload;
    return ping.address === this.clientAddress;
  }

  /** Does this ENet connection belong to this session's client? */
  matchesControl(data: number, address: string): boolean {
    if (this.#ended || this.#control) return false;
    return this.#matchBySessionId ? data >>> 0 === this.launch.controlConnectData >>> 0 : address === this.clientAddress;
  }

  attachControl(peer: EnetPeer): SimControlConnection {
    const connection = new SimControlConnection(peer, { key: this.launch.rikey, ivScheme: this.config.controlIvScheme, stats: this.#stats.control });
    this.#control = connection;
    // Start A is an IDR request too; before the first frame it changes nothing (that one is an IDR).
    connection.on("startA", () => {
      if (this.video.started) this.video.requestIdr("request");
    });
    connection.on("idrRequest", () => this.video.requestIdr("request"));
    // Sunshine hands an RFI range to its encoder; an encoder that cannot invalidate references
    // (any software one, and this loop) answers with an IDR (video.cpp invalidate_ref_frames).
    connection.on("invalidateReferenceFrames", () => this.video.requestIdr("rfi"));
    if (this.#hdrModeMessage) connection.on("startB", () => connection.send({ kind: "hdrMode", enabled: false, metadata: NO_HDR_METADATA }));
    connection.on("input", (event) => this.#emitSafely("input", event));
    connection.on("disconnect", () => this.end("client-disconnected"));
    log.debug(`stream ${this.id}: control stream attached (${connection.ivScheme} IVs)`);
    this.#emitSafely("control", connection);
    return connection;
  }

  requestIdr(reason: SimIdrReason): void {
    this.video.requestIdr(reason);
  }

  /** Seals and sends any host→client control message (rumble, HDR, LED…). */
  sendControlMessage(message: ControlMessage): boolean {
    return this.#control?.send(message) ?? false;
  }

  /**
   * Ends the session. With a termination code (endSession, /cancel) the client is told before the
   * control connection is closed; otherwise it is simply dropped. Idempotent.
   */
  end(reason: StreamEndReason, terminationCode?: number): void {
    if (this.#ended) return;
    this.#ended = reason;
    clearInterval(this.#watchdog);
    this.video.close();
    this.audio.close();
    const control = this.#control;
    if (control?.connected) {
      if (terminationCode !== undefined) control.terminate(terminationCode);
      else control.disconnectNow();
    }
    log.info(`stream ${this.id} ended (${reason})`);
    this.#emitSafely("ended", { reason, terminationCode });
  }

  /** Ends with Sunshine's "server terminated" HRESULT unless told otherwise. */
  terminate(code: number = TerminationCode.serverTerminatedClosed): void {
    this.end("terminated", code);
  }

  #checkLiveness(): void {
    const now = performance.now();
    const sinceStart = now - this.#createdAt;
    const control = this.#control;
    let why: string | undefined;
    if (sinceStart > this.#pingTimeoutMs) {
      if (!this.video.started) why = "no video ping";
      else if (!this.audio.started) why = "no audio ping";
      else if (!control) why = "no control connection";
    }
    if (control && now - control.lastReceiveAt > this.#pingTimeoutMs) why = "control stream silent";
    if (why === undefined) return;
    log.info(`stream ${this.id}: ${why} within ${this.#pingTimeoutMs} ms`);
    this.end("timeout", control ? TerminationCode.serverTerminatedClosed : undefined);
  }

  #emitSafely<K extends keyof StreamSessionEvents>(event: K, ...args: StreamSessionEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: StreamSessionEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      log.error(`stream ${String(event)} listener threw`, error);
    }
  }
}
