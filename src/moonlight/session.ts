/**
 * MoonlightSession: one headless GameStream session, from /launch (or /resume) to teardown
 * (reference §8). It drives the layers below in order — nvhttp launch, RTSP handshake, media
 * sockets + audio pings, ENet control stream, video pings — and turns the host's datagrams into
 * video frames and Opus packets as they complete.
 *
 * The layers are folders, one per protocol plane: http/ (nvhttp, pairing, launch), rtsp/, control/
 * (ENet, control messages), video/, audio/, input/, with fec/ shared by video and audio. This file
 * composes them, with media-receiver.ts (where video and audio are received: the media receive
 * thread, or the event loop) and host-silence.ts.
 * The simulated host (src/sim-host/) imports these layers; nothing here imports it.
 *
 * Policy differences from the reference client, on purpose (field notes): we accept Wolf's frame 0
 * and ask for an IDR as soon as we have no usable reference, instead of discarding ~120 frames
 * first, so the first picture arrives at once.
 */
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import type { AudioPacket } from "./audio/audio-depacketizer.ts";
import { VIDEO_FORMAT_MASK_10BIT } from "./rtsp/announce-sdp.ts";
import { ControlStream, type TerminationEvent } from "./control/control-stream.ts";
import type { ControlMessage } from "./control/control-messages.ts";
import { HostSilenceWatch } from "./host-silence.ts";
import type { InputPacket } from "./input/input.ts";
import { createSessionKeys, type AudioConfiguration, type SessionKeys } from "./http/launch.ts";
import { MEDIA_RECEIVE_BUFFER_BYTES } from "./media-socket.ts";
import { openMediaReceiver, type MediaReceiveMode, type MediaReceiver } from "./media-receiver.ts";
import type { VideoCodec } from "./video/nal.ts";
import type { NvHttpClient } from "./http/nvhttp.ts";
import { performRtspHandshake, type RtspHandshakeResult } from "./rtsp/rtsp-client.ts";
import type { ServerInfo } from "./http/serverinfo.ts";
import type { VideoFrame } from "./video/video-depacketizer.ts";
import { offeredVideoFormats } from "./video-formats.ts";

const log = logger("session");

export interface StreamSettings {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** Video payload per datagram; rounded down to a multiple of 16. Default 1392 (a LAN client's). */
  packetSize?: number;
  /** Codecs we accept, in preference order; the host picks among those it supports. Default ["h264"]. */
  codecs?: VideoCodec[];
  audio?: AudioConfiguration;
  /** Also play audio on the host. */
  localAudio?: boolean;
  /** Let the host change its display mode. */
  sops?: boolean;
  /** Virtual gamepads to create on the host at launch (bit per pad). */
  gamepadMask?: number;
  hdr?: boolean;
  /** Treat the host as remote (smaller packets on the host side). Default false. */
  remote?: boolean;
  /**
   * After a loss on the host's link, ask a host that can (its DESCRIBE has refPicInvalidation:
   * Sunshine with NVENC/AMF/QSV) to invalidate the lost frames (RFI, control 0x0301) instead of
   * sending an IDR, and announce a decoder that takes any number of reference frames. The viewers'
   * decoders then see a gap in frame_num before the host's next frame; Moonlight enables this only
   * for decoders known to cope, and a browser's is not known, so the default is false.
   */
  referenceFrameInvalidation?: boolean;
}

export type SessionStage = "launch" | "rtsp" | "audio" | "control" | "video" | "streaming";

export interface ConnectedInfo {
  width: number;
  height: number;
  fps: number;
  codec: VideoCodec;
  /** 10 when a 10-bit format (HEVC Main10, AV1 Main10) was negotiated. */
  bitDepth: 8 | 10;
  packetSize: number;
  audio: { channels: number; encrypted: boolean; packetDurationMs: number };
  /** The session continued a paused one (/resume) rather than starting the app. */
  resumed: boolean;
  appId: number;
  /** Where media is received: the receive thread, or the event loop (media-receiver.ts). */
  mediaReceive: MediaReceiveMode;
}

export interface SessionTermination {
  /** 0 graceful; −100 no video, −101 no key frame, −1 control connection lost; host codes otherwise. */
  code: number;
  reason: string;
}

export interface MoonlightSessionEvents {
  stage: [stage: SessionStage];
  connected: [info: ConnectedInfo];
  /** A complete access unit (Annex B), synchronously from the socket callback. */
  video: [frame: VideoFrame];
  audio: [packet: AudioPacket];
  rumble: [event: Extract<ControlMessage, { kind: "rumble" }>];
  hdr: [event: Extract<ControlMessage, { kind: "hdrMode" }>];
  /**
   * Nothing at all has come from the host for HOST_SILENCE_MS (true), or it is heard again (false).
   * The session goes on: only the control stream's timeout (10 s) ends it.
   */
  hostSilent: [silent: boolean, silentMs: number];
  /** The session ended without stop() being called (host ended it, timeouts, connection lost). */
  terminated: [termination: SessionTermination];
}

export interface SessionCounters {
  videoDatagrams: number;
  audioDatagrams: number;
  videoBytes: number;
  framesEmitted: number;
  framesDropped: number;
  framesLost: number;
  fecRecoveries: number;
  idrRequests: number;
  /** Reference-frame invalidations asked for instead of an IDR (settings.referenceFrameInvalidation). */
  rfiRequests: number;
  malformedDatagrams: number;
  audioPackets: number;
  audioFecRecoveries: number;
  audioLost: number;
  inputPacketsSent: number;
}

export class SessionStageError extends Error {
  override name = "SessionStageError";
  readonly stage: SessionStage;
  constructor(stage: SessionStage, cause: unknown) {
    super(`${stage}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.stage = stage;
  }
}

export class HostBusyError extends Error {
  override name = "HostBusyError";
}

export class SessionStateError extends Error {
  override name = "SessionStateError";
}

export interface MoonlightSessionOptions {
  /** A paired client for the host. */
  client: NvHttpClient;
  appId: number;
  settings: StreamSettings;
  /** When another app runs: "fail" (default) or "quit" it first. */
  whenBusy?: "fail" | "quit";
  /** Fixed session keys (tests); random otherwise. */
  keys?: SessionKeys;
  /** Seconds without any video before giving up (reference: 10). */
  firstVideoTimeoutMs?: number;
  /** Audio to drop at start, in ms. Default 0: a viewer joining later wants sound at once. */
  initialAudioDiscardMs?: number;
  /** Loss injection (tests, diagnostics): a video datagram for which this returns true is dropped on arrival. */
  dropVideoDatagram?: () => boolean;
  /** Where media is received (media-receiver.ts); default: the receive thread where it can run. */
  mediaReceiveMode?: MediaReceiveMode;
}

function codecOf(videoFormat: number): VideoCodec {
  if (videoFormat & 0xf000) return "av1";
  if (videoFormat & 0x0f00) return "hevc";
  return "h264";
}

function channelCount(audio: AudioConfiguration | undefined): 2 | 6 | 8 {
  return audio === "7.1" ? 8 : audio === "5.1" ? 6 : 2;
}

/** All counters at zero (a session that has not received anything yet). */
export function emptySessionCounters(): SessionCounters {
  return {
    videoDatagrams: 0,
    audioDatagrams: 0,
    videoBytes: 0,
    framesEmitted: 0,
    framesDropped: 0,
    framesLost: 0,
    fecRecoveries: 0,
    idrRequests: 0,
    rfiRequests: 0,
    malformedDatagrams: 0,
    audioPackets: 0,
    audioFecRecoveries: 0,
    audioLost: 0,
    inputPacketsSent: 0,
  };
}

export class MoonlightSession extends EventEmitter<MoonlightSessionEvents> {
  readonly counters: SessionCounters = emptySessionCounters();
  readonly #options: MoonlightSessionOptions;
  readonly #keys: SessionKeys;
  #state: "idle" | "starting" | "streaming" | "stopped" = "idle";
  #stage: SessionStage | undefined;
  #connected: ConnectedInfo | undefined;
  #rtsp: RtspHandshakeResult | undefined;
  #control: ControlStream | undefined;
  #media: MediaReceiver | undefined;
  #audioPrompt = true;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #silence: HostSilenceWatch | undefined;
  #sawKeyframe = false;
  #stopping: Promise<void> | undefined;

  constructor(options: MoonlightSessionOptions) {
    super();
    this.#options = options;
    this.#keys = options.keys ?? createSessionKeys();
  }

  get state(): "idle" | "starting" | "streaming" | "stopped" {
    return this.#state;
  }

  get stage(): SessionStage | undefined {
    return this.#stage;
  }

  /**
   * Whether anyone consumes `audio` events now (default true). false lets the receive thread hold
   * Opus packets for the next frame (≤ 100 ms) instead of waking the event loop for each: every
   * packet still arrives, in order, only later. The streamer clears it while it has no listener.
   */
  set audioPrompt(prompt: boolean) {
    this.#audioPrompt = prompt;
    if (this.#media && this.#media.audioPrompt !== prompt) this.#media.audioPrompt = prompt;
  }

  /** What the stream is, once connected. */
  get info(): ConnectedInfo | undefined {
    return this.#connected;
  }

  /**
   * Launches (or resumes) the app and connects every stream. Resolves once the control stream is
   * up and the video path is open; frames follow as `video` events. On failure, everything opened
   * so far is closed and a SessionStageError names the stage.
   */
  async start(signal?: AbortSignal): Promise<ConnectedInfo> {
    if (this.#state !== "idle") throw new SessionStateError(`start() on a ${this.#state} session`);
    this.#state = "starting";
    const { client, settings, appId } = this.#options;
    const packetSize = Math.floor((settings.packetSize ?? 1392) / 16) * 16;
    const codecs = settings.codecs ?? ["h264"];
    const channels = channelCount(settings.audio);
    try {
      // ── launch or resume ──
      this.#enter("launch");
      const serverInfo = await this.#atStage("launch", () => client.serverInfo({ https: true, ...(signal ? { signal } : {}) }));
      const resumed = await this.#atStage("launch", () => this.#launchOrResume(serverInfo, signal));
      this.#check(signal);

      // ── RTSP ──
      this.#enter("rtsp");
      const host = client.address;
      this.#rtsp = await this.#atStage("rtsp", () =>
        performRtspHandshake({
          address: host,
          sessionUrl: resumed.sessionUrl,
          key: this.#keys.rikey,
          settings: {
            width: settings.width,
            height: settings.height & ~1,
            fps: settings.fps,
            bitrateKbps: settings.bitrateKbps,
            packetSize,
            decoderSupportsRfi: settings.referenceFrameInvalidation ?? false,
            audioChannels: channels,
            videoFormats: offeredVideoFormats(codecs, settings.hdr ?? false, serverInfo.codecModeSupport),
            remote: settings.remote ?? false,
          },
        }),
      );
      const rtsp = this.#rtsp;
      this.#check(signal);

      // ── media sockets (video and audio) and audio pings (the host starts sending once it hears us) ──
      this.#enter("audio");
      const packetDurationMs = 5;
      const codec = codecOf(rtsp.videoFormat);
      const dropVideo = this.#options.dropVideoDatagram;
      this.#media = await this.#atStage("audio", () =>
        openMediaReceiver(
          {
            host,
            video: {
              port: rtsp.video.port,
              ...(rtsp.video.pingPayload ? { pingPayload: rtsp.video.pingPayload } : {}),
              codec,
              // What the host cuts shards to (smaller than asked with encryption or when remote).
              packetSize: rtsp.videoPacketSize,
              ...((rtsp.encryptionEnabled & 0x02) !== 0 ? { key: this.#keys.rikey } : {}),
              referenceFrameInvalidation: (settings.referenceFrameInvalidation ?? false) && rtsp.describe.refPicInvalidation,
            },
            audio: {
              port: rtsp.audio.port,
              ...(rtsp.audio.pingPayload ? { pingPayload: rtsp.audio.pingPayload } : {}),
              packetDurationMs,
              initialDiscardMs: this.#options.initialAudioDiscardMs ?? 0,
              ...(rtsp.audioEncrypted ? { key: this.#keys.rikey, keyId: this.#keys.rikeyId } : {}),
            },
            receiveBufferBytes: MEDIA_RECEIVE_BUFFER_BYTES,
            ...(dropVideo ? { dropVideoDatagram: dropVideo } : {}),
            ...(this.#options.mediaReceiveMode ? { mode: this.#options.mediaReceiveMode } : {}),
          },
          {
            onFrame: (frame) => this.#onFrame(frame),
            onAudio: (packet) => this.emit("audio", packet),
            onFrameLoss: (loss) => this.#invalidateReferenceFrames(loss.firstFrame, loss.lastFrame),
            onIdrNeeded: (reason) => {
              log.debug(`requesting IDR (${reason})`);
              this.requestIdr();
            },
            onError: (error) => this.#terminate({ code: -1, reason: error.message }),
          },
        ),
      );
      this.#media.audioPrompt = this.#audioPrompt;
      log.debug(`media received ${this.#media.mode === "thread" ? "in the media receive thread" : "on the event loop"}`);
      this.#media.startAudioPings();

      // ── control stream ──
      this.#enter("control");
      this.#control = await this.#atStage("control", () =>
        ControlStream.connect({
          address: host,
          port: rtsp.control.port,
          connectData: rtsp.control.connectData ?? 0,
          key: this.#keys.rikey,
          ivScheme: rtsp.controlIvScheme,
          localAddress: host.includes(":") ? "::" : "0.0.0.0",
        }),
      );
      this.#wireControl(this.#control);
      this.#check(signal);

      // ── video pings (the host's video starts when it hears them) ──
      this.#enter("video");
      this.#media.startVideoPings();
      this.#armWatchdog();
      this.#check(signal);

      this.#connected = {
        width: settings.width,
        height: settings.height & ~1,
        fps: settings.fps,
        codec,
        bitDepth: rtsp.videoFormat & VIDEO_FORMAT_MASK_10BIT ? 10 : 8,
        packetSize,
        audio: { channels, encrypted: rtsp.audioEncrypted, packetDurationMs },
        resumed: resumed.resumed,
        appId,
        mediaReceive: this.#media.mode,
      };
      this.#state = "streaming";
      this.#silence = new HostSilenceWatch({
        traffic: () => (this.#media ? this.#media.videoStats.packets + this.#media.audioStats.packets : 0) + (this.#control?.peer.stats.commandsReceived ?? 0),
        onChange: (silent, silentMs) => {
          if (silent) log.warn(`nothing from the host for ${Math.round(silentMs)} ms`);
          else log.info("the host is heard again");
          this.emit("hostSilent", silent, silentMs);
        },
      });
      this.#enter("streaming");
      this.emit("connected", this.#connected);
      return this.#connected;
    } catch (error) {
      await this.#teardown();
      this.#state = "stopped";
      throw error;
    }
  }

  /** Asks the host for a key frame (coalescing is the caller's business). */
  requestIdr(): void {
    if (!this.#control) return;
    this.counters.idrRequests++;
    try {
      this.#control.requestIdr();
    } catch (error) {
      log.debug(`IDR request not sent: ${(error as Error).message}`);
    }
  }

  /** Asks the host to stop referencing frames first…last (only when it advertised RFI). */
  #invalidateReferenceFrames(firstFrame: number, lastFrame: number): void {
    if (!this.#control) return;
    this.counters.rfiRequests++;
    log.debug(`invalidating reference frames ${firstFrame}…${lastFrame}`);
    try {
      this.#control.invalidateReferenceFrames(firstFrame, lastFrame);
    } catch (error) {
      log.debug(`RFI not sent: ${(error as Error).message}`);
    }
  }

  /** Sends one input packet to the host (encrypted on the control stream). */
  send(input: InputPacket): void {
    if (!this.#control || this.#state !== "streaming") return;
    this.#control.sendInput(input);
    this.counters.inputPacketsSent++;
  }

  /**
   * Ends the session from any state: closes the control stream gracefully (the host pauses the
   * session, so a later start() can /resume it), the sockets and timers. `quitApp` also ends the
   * app on the host (/cancel). Idempotent.
   */
  stop(options: { quitApp?: boolean } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = "stopped";
      await this.#teardown();
      if (options.quitApp) {
        try {
          await this.#options.client.cancel();
        } catch (error) {
          log.warn(`could not quit the app on the host: ${(error as Error).message}`);
        }
      }
    })();
    return this.#stopping;
  }

  /** Counters merged from every layer, for status endpoints and metrics. */
  snapshot(): SessionCounters {
    const v = this.#media?.videoStats;
    const a = this.#media?.audioStats;
    if (v) {
      this.counters.videoDatagrams = v.packets;
      this.counters.videoBytes = this.#media!.videoBytes;
      this.counters.framesEmitted = v.framesEmitted;
      this.counters.framesDropped = v.framesDropped;
      this.counters.framesLost = v.framesLost;
      this.counters.fecRecoveries = v.fecRecoveries;
      this.counters.malformedDatagrams = v.malformed + (a?.malformed ?? 0);
    }
    if (a) {
      this.counters.audioDatagrams = a.packets;
      this.counters.audioPackets = a.emitted;
      this.counters.audioFecRecoveries = a.fecRecoveries;
      this.counters.audioLost = a.lost;
    }
    return { ...this.counters };
  }

  async #launchOrResume(serverInfo: ServerInfo, signal?: AbortSignal): Promise<{ sessionUrl: string; resumed: boolean }> {
    const { client, settings, appId } = this.#options;
    const launch = {
      appId,
      width: settings.width,
      height: settings.height & ~1,
      fps: settings.fps,
      keys: this.#keys,
      sops: settings.sops ?? false,
      localAudioPlayMode: settings.localAudio ?? false,
      audio: settings.audio ?? "stereo",
      gamepadMask: settings.gamepadMask ?? 0,
      hdr: settings.hdr ?? false,
    };
    if (serverInfo.busy && serverInfo.currentGame !== 0 && serverInfo.currentGame !== appId) {
      if (this.#options.whenBusy !== "quit") throw new HostBusyError(`the host is running another app, ${await this.#appName(serverInfo.currentGame, signal)}: quit it on the host (or stop the streamer that started it with --quit) first`);
      log.info(`quitting app ${serverInfo.currentGame} on the host first`);
      await client.cancel(signal);
    } else if (serverInfo.busy && serverInfo.currentGame === appId) {
      const result = await client.resume(launch, signal);
      return { sessionUrl: result.sessionUrl, resumed: true };
    }
    const result = await client.launch(launch, signal);
    return { sessionUrl: result.sessionUrl, resumed: false };
  }

  /** `"Desktop" (id 1093255277)`, or just the id when the host will not list its apps. */
  async #appName(appId: number, signal?: AbortSignal): Promise<string> {
    try {
      const app = (await this.#options.client.appList(signal ? { signal } : {})).find((a) => a.id === appId);
      if (app) return `"${app.title}" (id ${appId})`;
    } catch (error) {
      log.debug(`could not list the host's apps: ${(error as Error).message}`);
    }
    return `app id ${appId}`;
  }

  #wireControl(control: ControlStream): void {
    control.on("rumble", (event) => this.emit("rumble", event));
    control.on("hdrMode", (event) => this.emit("hdr", event));
    control.on("termination", (event: TerminationEvent) => {
      const code = event.code === 0 && !this.#sawKeyframe ? -102 : event.code;
      this.#terminate({ code, reason: event.reason });
    });
    control.on("closed", ({ reason }) => {
      if (reason === "terminated" || reason === "local") return;
      this.#terminate({ code: -1, reason: `control connection ${reason === "timeout" ? "timed out" : `closed (${reason})`}` });
    });
  }

  #onFrame(frame: VideoFrame): void {
    if (frame.isIdr && !this.#sawKeyframe) {
      this.#sawKeyframe = true;
      if (this.#watchdog) clearTimeout(this.#watchdog);
      this.#watchdog = undefined;
    }
    this.emit("video", frame);
  }

  /** The reference client's guards: some video within 10 s, and a key frame 10 s after that. */
  #armWatchdog(): void {
    const limit = this.#options.firstVideoTimeoutMs ?? 10_000;
    this.#watchdog = setTimeout(() => {
      if (this.#sawKeyframe) return;
      const gotVideo = (this.#media?.videoStats.packets ?? 0) > 0;
      if (!gotVideo) return this.#terminate({ code: -100, reason: `no video received within ${limit / 1000} s` });
      this.#watchdog = setTimeout(() => {
        if (!this.#sawKeyframe) this.#terminate({ code: -101, reason: "no complete key frame received" });
      }, limit);
    }, limit);
  }

  #terminate(termination: SessionTermination): void {
    if (this.#state === "stopped") return;
    log.info(`session ended: ${termination.reason} (${termination.code})`);
    this.#state = "stopped";
    void this.#teardown().finally(() => this.emit("terminated", termination));
  }

  async #teardown(): Promise<void> {
    if (this.#watchdog) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    this.#silence?.close();
    this.#media?.close();
    const control = this.#control;
    if (control) await control.close().catch(() => undefined);
  }

  #enter(stage: SessionStage): void {
    this.#stage = stage;
    this.emit("stage", stage);
  }

  async #atStage<T>(stage: SessionStage, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof SessionStageError || error instanceof HostBusyError) throw error;
      throw new SessionStageError(stage, error);
    }
  }

  #check(signal?: AbortSignal): void {
    if (this.#state === "stopped") throw new SessionStageError(this.#stage ?? "launch", new Error("stopped"));
    if (signal?.aborted) throw new SessionStageError(this.#stage ?? "launch", new Error("cancelled"));
  }
}
