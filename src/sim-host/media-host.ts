/**
 * The media half of the simulated host: the sockets a real Sunshine opens next to nvhttp — RTSP
 * (TCP), video and audio (UDP), control (ENet/UDP) — and the streaming session they serve.
 *
 * The sockets live as long as the host, like Sunshine's; a `SimStreamSession` is created by each
 * RTSP ANNOUNCE of a pending launch session (from /launch or /resume) and is found again by the
 * pings and the ENet connection that follow. Once its control stream connects, the launch session
 * is used up: RTSP answers 503 until the next /launch or /resume. One stream at a time; a new
 * ANNOUNCE replaces the old stream.
 *
 * Also here: the input log (every input packet the client sent through the control stream),
 * host-initiated messages (termination, rumble), and the host-lifetime counters.
 */
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import { TerminationCode, type ControlMessage } from "../moonlight/control/control-messages.ts";
import type { EnetHostStats } from "../moonlight/control/enet/host.ts";
import { createAudioStats, type SimAudioStats } from "./audio-sender.ts";
import { SimControlHost, createControlStats, type SimControlStats, type SimInputEvent } from "./control-host.ts";
import { createVideoSource } from "./media-source.ts";
import { SimRtspServer, type SimRtspStats } from "./rtsp-server.ts";
import type { SimHostState, SimLaunchSession } from "./session.ts";
import { describedSurroundParams, parseStreamConfig } from "./stream-config.ts";
import { SimStreamSession, type StreamEndReason } from "./stream-session.ts";
import { SimUdpPort, type SimPing, type SimUdpPortStats, type UdpEndpoint } from "./udp-port.ts";
import { createVideoStats, type SimVideoStats } from "./video-sender.ts";

const log = logger("sim-media");

export interface SimMediaOptions {
  /** Loopback only, like the rest of the sim. Default 127.0.0.1. */
  bindAddress?: "127.0.0.1" | "::1";
  /** 0 = any free port (the default for each). A real host uses 48010 / 47998 / 48000 / 47999. */
  rtspPort?: number;
  videoPort?: number;
  audioPort?: number;
  controlPort?: number;
  /**
   * "sunshine" (default): control V2 IVs advertised, X-SS-Ping-Payload / X-SS-Connect-Data, frames
   * from 1. "wolf" (2024): no encryptionSupported line (legacy 16-byte control IVs), no session-id
   * headers (legacy PING pings, matching by IP), frames numbered from 0 (a real Moonlight client
   * drops frame 0 and waits for the next IDR: see #announce).
   */
  flavor?: "sunshine" | "wolf";
  /** Offer HEVC in DESCRIBE (the SimHost sets this from its codec support). */
  hevc?: boolean;
  /** Take HEVC Main10 (dynamicRangeMode 1) in ANNOUNCE (the SimHost sets this from SCM_HEVC_MAIN10). */
  hevcMain10?: boolean;
  /** Offer AV1 in DESCRIBE (`a=rtpmap:98 AV1/90000`; the SimHost sets this from SCM_AV1_MAIN8). */
  av1?: boolean;
  /** Take AV1 Main10 in ANNOUNCE (from SCM_AV1_MAIN10). */
  av1Main10?: boolean;
  /**
   * Keyframes: "periodic" (default; the loop has an IDR every 0.5 s) or "on-request" (Sunshine's
   * and Wolf's infinite GOP: an IDR only at the start, on request, and when the 4 s loop wraps).
   */
  keyframes?: "periodic" | "on-request";
  /**
   * Advertise `x-nv-video[0].refPicInvalidation` (Sunshine does when its encoder can invalidate
   * reference frames, e.g. NVENC); RFI messages are answered either way (with an IDR).
   */
  referenceFrameInvalidation?: boolean;
  /** Send Sunshine's HDR-mode message (0x010e, HDR off) after the client's Start B. */
  hdrModeMessage?: boolean;
  /** Ignore a keyframe request when this returns true (models the unanswered requests seen on a real Sunshine). */
  ignoreIdrRequest?: () => boolean;
  /** Video FEC percentage. Default 20 (Sunshine). */
  fecPercentage?: number;
  /** Video encryption: "never" (default, Sunshine on a LAN), "supported", or "required". */
  videoEncryption?: "never" | "supported" | "required";
  /** Pad the loop's access units with filler NAL units to this many kbit/s (send-rate benches); 0/absent = as recorded. */
  videoPadKbps?: number;
  /** Stream a live ffmpeg testsrc2 pattern (H.264) instead of the loop, when ffmpeg is there. */
  livePattern?: boolean;
  ffmpegPath?: string;
  /** Sunshine's ping_timeout. Default 10 000 ms. */
  pingTimeoutMs?: number;
  /** Input log entries kept (oldest dropped first). Default 10 000. */
  inputLogLimit?: number;
}

export interface SimMediaPorts {
  rtsp: number;
  video: number;
  audio: number;
  control: number;
}

export interface SimMediaStats {
  rtsp: SimRtspStats;
  video: SimVideoStats;
  audio: SimAudioStats;
  control: SimControlStats;
  videoPort: SimUdpPortStats;
  audioPort: SimUdpPortStats;
  enet: EnetHostStats;
  /** Well-formed pings that matched no stream. */
  unmatchedPings: { video: number; audio: number };
  /** Streams created by ANNOUNCE, and ANNOUNCEs refused. */
  streams: number;
  rejectedAnnounces: number;
}

export interface SimMediaHostEvents {
  /** ANNOUNCE created a stream. */
  stream: [stream: SimStreamSession];
  streamEnded: [info: { stream: SimStreamSession; reason: StreamEndReason; terminationCode: number | undefined }];
  input: [event: SimInputEvent];
}

export class SimMediaHost extends EventEmitter<SimMediaHostEvents> {
  readonly #state: SimHostState;
  readonly #options: SimMediaOptions;
  readonly #rtsp: SimRtspServer;
  readonly #videoPort: SimUdpPort;
  readonly #audioPort: SimUdpPort;
  readonly #control: SimControlHost;
  readonly #inputLog: SimInputEvent[] = [];
  readonly #counters = {
    video: createVideoStats(),
    audio: createAudioStats(),
    control: createControlStats(),
    unmatchedPings: { video: 0, audio: 0 },
    streams: 0,
    rejectedAnnounces: 0,
  };
  #stream: SimStreamSession | undefined;
  #consumedLaunchId = -1;
  #streamCounter = 0;
  #closing: Promise<void> | undefined;

  private constructor(state: SimHostState, options: SimMediaOptions, parts: { rtsp: SimRtspServer; video: SimUdpPort; audio: SimUdpPort; control: SimControlHost }) {
    super();
    this.#state = state;
    this.#options = options;
    this.#rtsp = parts.rtsp;
    this.#videoPort = parts.video;
    this.#audioPort = parts.audio;
    this.#control = parts.control;
    this.#videoPort.on("ping", (ping) => this.#onPing("video", ping));
    this.#audioPort.on("ping", (ping) => this.#onPing("audio", ping));
    this.#control.on("connect", (peer, info) => {
      const stream = this.#stream;
      if (stream?.matchesControl(info.data, info.address)) {
        this.#counters.control.connections++;
        this.#consumedLaunchId = stream.launch.id;
        stream.attachControl(peer);
      } else {
        this.#counters.control.rejectedConnections++;
        log.debug(`control: connection from ${info.address}:${info.port} (data ${info.data}) matches no stream`);
        peer.disconnectNow();
      }
    });
  }

  /** Opens every media socket. `state` is the SimHost's (read for the pending launch session). */
  static async start(state: SimHostState, options: SimMediaOptions = {}): Promise<SimMediaHost> {
    const bind = options.bindAddress ?? "127.0.0.1";
    const opened: { close(): Promise<void> }[] = [];
    try {
      const video = await SimUdpPort.open("video", bind, options.videoPort ?? 0);
      opened.push(video);
      const audio = await SimUdpPort.open("audio", bind, options.audioPort ?? 0);
      opened.push(audio);
      const control = await SimControlHost.listen(bind, options.controlPort ?? 0);
      opened.push(control);
      // The RTSP server calls back into the host, which does not exist yet: bind late.
      let host: SimMediaHost | undefined;
      const rtsp = await SimRtspServer.listen(
        {
          pendingLaunch: () => (host === undefined ? undefined : host.#pendingLaunch()),
          describeBody: (launch) => (host as SimMediaHost).#describeBody(launch),
          ports: () => ({ audio: audio.port, video: video.port, control: control.port }),
          sessionIdHeaders: (options.flavor ?? "sunshine") === "sunshine",
          announce: (launch, sdp, clientAddress) => (host as SimMediaHost).#announce(launch, sdp, clientAddress),
        },
        bind,
        options.rtspPort ?? 0,
      );
      host = new SimMediaHost(state, options, { rtsp, video, audio, control });
      log.debug(`media ports: RTSP ${rtsp.port}, video ${video.port}, audio ${audio.port}, control ${control.port}`);
      return host;
    } catch (error) {
      await Promise.all(opened.map((o) => o.close()));
      throw error;
    }
  }

  get ports(): SimMediaPorts {
    return { rtsp: this.#rtsp.port, video: this.#videoPort.port, audio: this.#audioPort.port, control: this.#control.port };
  }

  /** Also sends every video / audio datagram to these endpoints (undefined = stop): the ingest bench's floor receiver. */
  mirrorMedia(video: UdpEndpoint | undefined, audio: UdpEndpoint | undefined): void {
    this.#videoPort.mirror = video;
    this.#audioPort.mirror = audio;
  }

  /** The current stream (after ANNOUNCE, until it ends). */
  get stream(): SimStreamSession | undefined {
    return this.#stream;
  }

  /** Input packets received through the control stream, oldest first. */
  get inputLog(): readonly SimInputEvent[] {
    return this.#inputLog;
  }

  clearInputLog(): void {
    this.#inputLog.length = 0;
  }

  get stats(): SimMediaStats {
    return {
      rtsp: this.#rtsp.stats,
      video: this.#counters.video,
      audio: this.#counters.audio,
      control: this.#counters.control,
      videoPort: this.#videoPort.stats,
      audioPort: this.#audioPort.stats,
      enet: this.#control.enetStats,
      unmatchedPings: this.#counters.unmatchedPings,
      streams: this.#counters.streams,
      rejectedAnnounces: this.#counters.rejectedAnnounces,
    };
  }

  /**
   * Ends the current stream: termination message (`code`, default 0x80030023 "server terminated")
   * then ENet disconnect. Returns false when nothing was streaming.
   */
  endSession(code: number = TerminationCode.serverTerminatedClosed): boolean {
    const stream = this.#stream;
    if (!stream || stream.ended) return false;
    stream.terminate(code);
    return true;
  }

  /** Sends a rumble message to the connected client (for tests). */
  sendRumble(controllerNumber: number, lowFrequencyMotor: number, highFrequencyMotor: number): boolean {
    return this.sendControlMessage({ kind: "rumble", controllerNumber, lowFrequencyMotor, highFrequencyMotor });
  }

  sendControlMessage(message: ControlMessage): boolean {
    return this.#stream?.sendControlMessage(message) ?? false;
  }

  /** Ends the stream (telling the client), then closes every socket. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      const stream = this.#stream;
      const control = stream?.control;
      if (stream && !stream.ended) {
        const gone = control?.connected ? new Promise<void>((resolve) => control.once("disconnect", () => resolve())) : Promise.resolve();
        stream.end("host-closed", TerminationCode.serverTerminatedClosed);
        // Give the termination a moment to be acknowledged; the ENet close below cuts it short.
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 300))]);
      }
      await Promise.all([this.#rtsp.close(), this.#videoPort.close(), this.#audioPort.close(), this.#control.close()]);
    })();
    return this.#closing;
  }

  #pendingLaunch(): SimLaunchSession | undefined {
    if (this.#closing) return undefined;
    const launch = this.#state.session;
    return launch !== undefined && launch.id !== this.#consumedLaunchId ? launch : undefined;
  }

  #describeBody(launch: SimLaunchSession): string {
    const sunshine = (this.#options.flavor ?? "sunshine") === "sunshine";
    const lines: string[] = ["a=x-ss-general.featureFlags:3"];
    if (sunshine) {
      const videoEnc = this.#options.videoEncryption ?? "never";
      lines.push(`a=x-ss-general.encryptionSupported:${0x01 | 0x04 | (videoEnc !== "never" ? 0x02 : 0)}`);
      lines.push(`a=x-ss-general.encryptionRequested:${0x01 | (videoEnc === "required" ? 0x02 : 0)}`);
    }
    if (sunshine && this.#options.referenceFrameInvalidation) lines.push("a=x-nv-video[0].refPicInvalidation:1");
    if (this.#options.hevc) lines.push("sprop-parameter-sets=AAAAAU");
    if (this.#options.av1) lines.push("a=rtpmap:98 AV1/90000");
    // The audio sender lays out its Opus multistream packets by the same list (streamOpusLayout).
    for (const params of describedSurroundParams(launch.surroundParams)) lines.push(`a=fmtp:97 surround-params=${params}`);
    // Sunshine ends lines with a bare \n; the client searches substrings.
    return `${lines.join("\n")}\n`;
  }

  #announce(launch: SimLaunchSession, sdp: string, clientAddress: string): void {
    let config;
    try {
      config = parseStreamConfig(sdp, { hevcOffered: this.#options.hevc ?? false, hevcMain10Offered: this.#options.hevcMain10 ?? false, av1Offered: this.#options.av1 ?? false, av1Main10Offered: this.#options.av1Main10 ?? false });
    } catch (error) {
      this.#counters.rejectedAnnounces++;
      throw error;
    }
    this.#stream?.end("replaced");
    const source = createVideoSource({
      codec: config.codec,
      tenBit: config.tenBit,
      width: config.width,
      height: config.height,
      fps: config.fps,
      bitrateKbps: config.bitrateKbps,
      ...(this.#options.livePattern ? { livePattern: true } : {}),
      ...(this.#options.ffmpegPath ? { ffmpegPath: this.#options.ffmpegPath } : {}),
      ...(this.#options.keyframes ? { keyframes: this.#options.keyframes } : {}),
      ...(this.#options.videoPadKbps ? { padToKbps: this.#options.videoPadKbps } : {}),
      ...(this.#options.ignoreIdrRequest ? { ignoreIdrRequest: this.#options.ignoreIdrRequest } : {}),
    });
    const sunshine = (this.#options.flavor ?? "sunshine") === "sunshine";
    const stream = new SimStreamSession({
      id: ++this.#streamCounter,
      launch,
      config,
      clientAddress,
      videoPort: this.#videoPort,
      audioPort: this.#audioPort,
      source,
      fecPercentage: this.#options.fecPercentage ?? 20,
      // Sunshine numbers frames from 1, Wolf from 0 — kept, to be faithful. The consequence for a
      // real client: moonlight-common-c expects frame 1 first and silently drops frame 0, which on
      // Wolf is the only spontaneous IDR, then discards every P-frame ("Waiting for IDR frame")
      // until its consecutive-drop limit (120 frames, 2–4 s) makes it send an IDR request
      // (fixtures/wolf-h264-clean: request after frame 120, IDR 122). Our own client accepts frame 0
      // on purpose. From the loop a real client recovers at the loop's next keyframe (frame 30);
      // from the live pattern, which has no periodic keyframes, only through that request — which
      // the source answers with an IDR on the very next frame, in either flavour.
      firstFrameIndex: sunshine ? 1 : 0,
      pingTimeoutMs: this.#options.pingTimeoutMs ?? 10_000,
      matchBySessionId: sunshine && config.sessionIdV1,
      hdrModeMessage: sunshine && (this.#options.hdrModeMessage ?? false),
      stats: { video: this.#counters.video, audio: this.#counters.audio, control: this.#counters.control },
    });
    this.#counters.streams++;
    this.#stream = stream;
    stream.on("input", (event) => {
      this.#inputLog.push(event);
      const limit = this.#options.inputLogLimit ?? 10_000;
      if (this.#inputLog.length > limit) this.#inputLog.splice(0, this.#inputLog.length - limit);
      this.#emitSafely("input", event);
    });
    stream.on("ended", ({ reason, terminationCode }) => {
      if (this.#stream === stream) this.#stream = undefined;
      this.#emitSafely("streamEnded", { stream, reason, terminationCode });
    });
    log.info(
      `stream ${stream.id}: ${config.codec}${config.tenBit ? " 10-bit" : ""} ${config.width}x${config.height}@${config.fps}, packet ${config.packetSize}, ` +
        `audio ${config.audioPacketDurationMs} ms${config.audioEncrypted ? " encrypted" : ""}, control ${config.controlIvScheme} IVs`,
    );
    this.#emitSafely("stream", stream);
  }

  #onPing(kind: "video" | "audio", ping: SimPing): void {
    const stream = this.#stream;
    if (!stream?.matchesPing(ping)) {
      this.#counters.unmatchedPings[kind]++;
      return;
    }
    (kind === "video" ? stream.video : stream.audio).handlePing(ping);
  }

  #emitSafely<K extends keyof SimMediaHostEvents>(event: K, ...args: SimMediaHostEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: SimMediaHostEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      log.error(`media host ${String(event)} listener threw`, error);
    }
  }
}
