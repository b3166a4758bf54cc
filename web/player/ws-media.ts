/**
 * The WebSocket media transport in the page (docs/ws-media.md): binary frames from the peer socket
 * → WebCodecs `VideoDecoder` (Annex B, configured without `description`) → the player's `<video>`
 * through a `MediaStreamTrackGenerator` where the browser has one (Chromium: the compositor shows
 * the decoded YUV frames, as for WebRTC), else drawn onto a canvas (`drawImage` on the main thread:
 * on a software-only machine that conversion, not the decoder, limits 1080p60), Opus →
 * `AudioDecoder` → an AudioWorklet (ws-audio.ts), a ping every second for the RTT, and the
 * counters behind the stats overlay.
 *
 * Decoding starts at a keyframe. A frame that cannot be decoded in order (no keyframe yet, a
 * decoder error, a decode queue that grows because this machine cannot keep up) drops the
 * decoder to the next keyframe and asks the server for one, as a WebRTC receiver sends a PLI.
 * Only the newest decoded frame is kept for drawing: a slow page shows fewer frames, never older ones.
 *
 * Where WebCodecs is missing (browsers expose it only to secure contexts: HTTPS or localhost), the
 * video goes through Media Source Extensions instead (mse-video.ts); where neither exists, the
 * player is told why in words the user can act on (`onUnplayable`), and nothing is decoded.
 */

interface TrackGenerator extends MediaStreamTrack {
  readonly writable: WritableStream<VideoFrame>;
}
type TrackGeneratorConstructor = new (init: { kind: "video" }) => TrackGenerator;
import { HEARTBEAT_INTERVAL_MS } from "../../src/peer/heartbeat.ts";
import { parseWsMedia, serializePing, type WsCodec } from "../../src/peer/ws-media.ts";
import { codecCandidates } from "./codec-string.ts";
import { mseAvailable, MseVideo } from "./mse-video.ts";
import { WsAudio } from "./ws-audio.ts";

/**
 * The page cannot keep up when frames wait in the decoder's queue (more than MAX_DECODE_QUEUE)
 * and the oldest undecoded one has waited MAX_DECODE_WAIT_MS: then we skip to the next keyframe.
 * A short spike (another process took the CPU for a moment) is absorbed, not punished.
 */
const MAX_DECODE_QUEUE = 8;
const MAX_DECODE_WAIT_MS = 300;
/** Waiting this long for a keyframe that was asked for: the socket is restarted (a fresh join starts at one). */
const KEYFRAME_GIVE_UP_MS = 3000;
/** Frames kept while the decoder is being configured (isConfigSupported is asynchronous). */
const MAX_PENDING = 30;
const KEYFRAME_REQUEST_INTERVAL_MS = 500;
/** The ping is also the heartbeat mlstream judges this viewer's liveness by (src/peer/heartbeat.ts). */
const PING_INTERVAL_MS = HEARTBEAT_INTERVAL_MS;

/** Totals since this transport started; the stats overlay samples them once a second. */
export interface WsMediaCounters {
  framesReceived: number;
  framesDecoded: number;
  /** Frames not decoded: before the first keyframe, after an error, or to catch up. */
  framesDropped: number;
  /** Decoded frames replaced by a newer one before they were drawn. */
  framesNotDrawn: number;
  framesDrawn: number;
  keyFramesDecoded: number;
  decodeErrors: number;
  keyframeRequests: number;
  /** Sum of (decoder output − decode() call), ms. */
  totalDecodeMs: number;
  bytesReceived: number;
  audioPackets: number;
  rttMs: number | undefined;
  width: number;
  height: number;
  /** The codec string in use ("" until configured). */
  codec: string;
  /** The decode path: WebCodecs, Media Source Extensions fed fragmented MP4, or none on this page. */
  decoder: DecodePath;
}

export type DecodePath = "WebCodecs" | "MSE (fMP4)" | "none";

/** What the page can decode the WebSocket transport's video with, best first. */
export function decodePath(): DecodePath {
  if (typeof VideoDecoder === "function" && typeof EncodedVideoChunk === "function") return "WebCodecs";
  if (mseAvailable()) return "MSE (fMP4)";
  return "none";
}

/** Why nothing plays, for a page with neither path. */
export const NO_DECODER_REASON =
  "This browser cannot decode the WebSocket stream on this page: WebCodecs is offered only on HTTPS (or localhost) pages, and Media Source Extensions is missing. Open the viewer over HTTPS, or allow WebRTC (UDP) on this network.";

export interface DecodedFrameInfo {
  frameNumber: number;
  keyframe: boolean;
  /** When the gateway had the frame (ms since the epoch, the server's clock). */
  captureTimeMs: number;
  /** When its message arrived here (same clock as decodedAtMs). */
  receivedAtMs: number;
  /** When the decoder output it here: `performance.timeOrigin + performance.now()`. */
  decodedAtMs: number;
}

export interface WsMediaOptions {
  /** Shows the frames when the browser can feed it decoded frames (MediaStreamTrackGenerator). */
  video: HTMLVideoElement;
  /** Otherwise the frames are drawn here. */
  canvas: HTMLCanvasElement;
  sendBinary(data: Uint8Array<ArrayBuffer>): void;
  requestKeyframe(): void;
  /** The stream info's profile-level-id, a fallback for the codec string. */
  profileLevelId(): string | undefined;
  /** The stream's bit depth (stream info `bitDepth`; 8 when absent). */
  bitDepth?(): 8 | 10;
  /** The first decoded frame, and the first after each resync (the player clears its connecting stage). */
  onFirstFrame?(): void;
  /** Keyframes were asked for in vain for KEYFRAME_GIVE_UP_MS while frames kept coming. */
  onKeyframeTimeout?(): void;
  /** The stream's frame rate (the MSE path's frame duration). */
  fps?(): number | undefined;
  /** Nothing on this page can decode the stream; the text says why and what to do. */
  onUnplayable?(reason: string): void;
}

interface InFlight {
  frameNumber: number;
  keyframe: boolean;
  captureTimeMs: number;
  receivedAt: number;
  submittedAt: number;
}

interface Pending {
  keyframe: boolean;
  frameNumber: number;
  captureTimeMs: number;
  receivedAt: number;
  data: Uint8Array;
}

export class WsMedia {
  readonly counters: WsMediaCounters = {
    framesReceived: 0,
    framesDecoded: 0,
    framesDropped: 0,
    framesNotDrawn: 0,
    framesDrawn: 0,
    keyFramesDecoded: 0,
    decodeErrors: 0,
    keyframeRequests: 0,
    totalDecodeMs: 0,
    bytesReceived: 0,
    audioPackets: 0,
    rttMs: undefined,
    width: 0,
    height: 0,
    codec: "",
    decoder: "none",
  };
  readonly audio = new WsAudio();
  /** Called for every decoded frame (the latency benchmark sets it). */
  onFrameDecoded: ((frame: DecodedFrameInfo) => void) | undefined;
  /** Where the frames are shown. */
  readonly surface: "video" | "canvas";
  #mse: MseVideo | undefined;
  #unplayable: string | undefined;
  readonly #options: WsMediaOptions;
  #context: CanvasRenderingContext2D | null = null;
  #generator: TrackGenerator | undefined;
  #writer: WritableStreamDefaultWriter<VideoFrame> | undefined;
  #writing = false;
  #decodedSinceResync = false;
  #decoder: VideoDecoder | undefined;
  #decoderCodec: WsCodec | undefined;
  #configuring = false;
  #pending: Pending[] = [];
  #waitingForKeyframe = true;
  #lastKeyframeRequest = -Infinity;
  /** Since when frames arrive that cannot be decoded for want of a keyframe (undefined: not waiting). */
  #waitingSince: number | undefined;
  #inFlight = new Map<number, InFlight>();
  #toDraw: VideoFrame | undefined;
  #drawScheduled = false;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: WsMediaOptions) {
    this.#options = options;
    this.counters.decoder = decodePath();
    if (this.counters.decoder !== "WebCodecs") {
      // The <video> plays what MSE is given (or shows nothing, and the player says why).
      this.surface = "video";
      if (this.counters.decoder === "MSE (fMP4)") {
        this.#mse = new MseVideo({
          video: options.video,
          counters: this.counters,
          askForKeyframe: (force) => this.#askForKeyframe(force),
          fps: () => options.fps?.(),
          onFirstFrame: () => options.onFirstFrame?.(),
          onFrameDecoded: () => this.onFrameDecoded,
          onUnplayable: (reason) => this.#setUnplayable(reason),
        });
      } else queueMicrotask(() => this.#setUnplayable(NO_DECODER_REASON));
      this.#startPing();
      return;
    }
    const Generator = (globalThis as unknown as { MediaStreamTrackGenerator?: TrackGeneratorConstructor }).MediaStreamTrackGenerator;
    if (Generator) {
      this.#generator = new Generator({ kind: "video" });
      this.#writer = this.#generator.writable.getWriter();
      options.video.srcObject = new MediaStream([this.#generator]);
      void options.video.play().catch(() => {});
      this.surface = "video";
    } else {
      this.#context = options.canvas.getContext("2d", { alpha: false, desynchronized: true });
      this.surface = "canvas";
    }
    this.#startPing();
  }

  /** Why nothing plays on this page (undefined while something can). */
  get unplayable(): string | undefined {
    return this.#unplayable;
  }

  #setUnplayable(reason: string): void {
    if (this.#unplayable === reason || this.#closed) return;
    this.#unplayable = reason;
    console.error(`mlstream: ${reason}`);
    this.#options.onUnplayable?.(reason);
  }

  #startPing(): void {
    this.#pingTimer = setInterval(() => this.#options.sendBinary(serializePing("ping", performance.now())), PING_INTERVAL_MS);
    this.#options.sendBinary(serializePing("ping", performance.now()));
  }

  /** One binary message from the peer socket. */
  handle(bytes: Uint8Array): void {
    if (this.#closed) return;
    const receivedAt = performance.now();
    this.counters.bytesReceived += bytes.byteLength;
    let message;
    try {
      message = parseWsMedia(bytes);
    } catch (error) {
      console.warn("mlstream: websocket media", (error as Error).message);
      return;
    }
    switch (message.type) {
      case "video":
        this.#onVideo(message.codec, { keyframe: message.keyframe, frameNumber: message.frameNumber, captureTimeMs: message.captureTimeMs, receivedAt, data: message.data });
        return;
      case "audio":
        this.counters.audioPackets++;
        this.audio.push(message.data, message.channels);
        return;
      case "ping":
        this.#options.sendBinary(serializePing("pong", message.clockMs));
        return;
      case "pong":
        this.counters.rttMs = performance.now() - message.clockMs;
        return;
      case "input":
        return;
    }
  }

  /** Start over at the next keyframe (a new stream, or the tab was hidden). */
  resync(): void {
    this.#mse?.resync();
    this.#decodedSinceResync = false;
    this.#dropToKeyframe(false);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pingTimer);
    this.#resetDecoder();
    this.#mse?.close();
    this.#toDraw?.close();
    this.#toDraw = undefined;
    void this.#writer?.close().catch(() => {});
    this.#generator?.stop();
    if (this.#generator && this.#options.video.srcObject instanceof MediaStream && this.#options.video.srcObject.getTracks()[0] === this.#generator) this.#options.video.srcObject = null;
    this.audio.close();
  }

  #onVideo(codec: WsCodec, frame: Pending): void {
    const { keyframe, data } = frame;
    this.counters.framesReceived++;
    if (this.counters.decoder !== "WebCodecs") {
      if (this.#mse) this.#mse.push(codec, frame);
      else this.counters.framesDropped++;
      return;
    }
    if (codec !== this.#decoderCodec && this.#decoder) this.#resetDecoder();
    if (this.#waitingForKeyframe && !keyframe) {
      this.counters.framesDropped++;
      this.#askForKeyframe();
      const now = performance.now();
      this.#waitingSince ??= now;
      if (now - this.#waitingSince > KEYFRAME_GIVE_UP_MS) {
        this.#waitingSince = undefined;
        this.#options.onKeyframeTimeout?.();
      }
      return;
    }
    if (keyframe && this.#waitingForKeyframe) {
      this.#waitingForKeyframe = false;
      this.#waitingSince = undefined;
      if (!this.#decoder && !this.#configuring) {
        // The decoder needs configuring from this keyframe (asynchronous): keep what follows.
        this.#pending = [{ ...frame, data: data.slice() }];
        void this.#configure(codec, data);
        return;
      }
    }
    if (this.#configuring) {
      if (this.#pending.length >= MAX_PENDING) {
        this.counters.framesDropped++;
        this.#dropToKeyframe(true);
        return;
      }
      this.#pending.push({ ...frame, data: data.slice() });
      return;
    }
    const decoder = this.#decoder;
    if (!decoder || decoder.state !== "configured") {
      this.counters.framesDropped++;
      this.#dropToKeyframe(true);
      return;
    }
    if (!keyframe && decoder.decodeQueueSize > MAX_DECODE_QUEUE && this.#oldestWaitMs() > MAX_DECODE_WAIT_MS) {
      // This page cannot keep up: skip to the next keyframe rather than fall further behind.
      this.counters.framesDropped++;
      this.#dropToKeyframe(true);
      return;
    }
    this.#decode(decoder, frame);
  }

  /** How long the oldest frame not yet out of the decoder has waited. */
  #oldestWaitMs(): number {
    for (const first of this.#inFlight.values()) return performance.now() - first.submittedAt;
    return 0;
  }

  #decode(decoder: VideoDecoder, frame: Pending): void {
    const { keyframe, frameNumber, captureTimeMs, receivedAt, data } = frame;
    // The capture time (µs) is the chunk's timestamp: the decoded frame carries it back.
    let timestamp = Math.round(captureTimeMs * 1000);
    while (this.#inFlight.has(timestamp)) timestamp++;
    this.#inFlight.set(timestamp, { frameNumber, keyframe, captureTimeMs, receivedAt, submittedAt: performance.now() });
    try {
      decoder.decode(new EncodedVideoChunk({ type: keyframe ? "key" : "delta", timestamp, data }));
    } catch (error) {
      this.#inFlight.delete(timestamp);
      this.#onDecoderError(error as Error);
    }
  }

  async #configure(codec: WsCodec, keyframe: Uint8Array): Promise<void> {
    this.#configuring = true;
    try {
      let chosen: string | undefined;
      for (const candidate of codecCandidates(codec, keyframe, codec === "h264" ? this.#options.profileLevelId() : undefined, this.#options.bitDepth?.() ?? 8)) {
        const config: VideoDecoderConfig = { codec: candidate, optimizeForLatency: true };
        const support = await VideoDecoder.isConfigSupported(config).catch(() => undefined);
        if (support?.supported) {
          chosen = candidate;
          break;
        }
      }
      if (this.#closed) return;
      if (!chosen) {
        console.error(`mlstream: this browser cannot decode ${codec} with WebCodecs`);
        this.counters.decodeErrors++;
        this.#pending = [];
        this.#waitingForKeyframe = true;
        return;
      }
      const decoder = new VideoDecoder({
        output: (frame) => this.#onOutput(decoder, frame),
        error: (error) => {
          if (decoder === this.#decoder) this.#onDecoderError(error);
        },
      });
      decoder.configure({ codec: chosen, optimizeForLatency: true });
      this.#decoder = decoder;
      this.#decoderCodec = codec;
      this.counters.codec = chosen;
    } finally {
      this.#configuring = false;
    }
    const pending = this.#pending;
    this.#pending = [];
    for (const frame of pending) {
      if (this.#decoder?.state !== "configured") break;
      this.#decode(this.#decoder, frame);
    }
  }

  #onOutput(decoder: VideoDecoder, frame: VideoFrame): void {
    const now = performance.now();
    const info = this.#inFlight.get(frame.timestamp);
    this.#inFlight.delete(frame.timestamp);
    if (decoder !== this.#decoder || this.#closed) {
      frame.close();
      return;
    }
    this.counters.framesDecoded++;
    if (info) {
      this.counters.totalDecodeMs += now - info.submittedAt;
      if (info.keyframe) this.counters.keyFramesDecoded++;
      this.onFrameDecoded?.({
        frameNumber: info.frameNumber,
        keyframe: info.keyframe,
        captureTimeMs: info.captureTimeMs,
        receivedAtMs: performance.timeOrigin + info.receivedAt,
        decodedAtMs: performance.timeOrigin + now,
      });
    }
    if (!this.#decodedSinceResync) {
      this.#decodedSinceResync = true;
      this.#options.onFirstFrame?.();
    }
    this.counters.width = frame.displayWidth;
    this.counters.height = frame.displayHeight;
    if (this.#writer) {
      this.#show(this.#writer, frame);
      return;
    }
    if (this.#toDraw) {
      this.#toDraw.close();
      this.counters.framesNotDrawn++;
    }
    this.#toDraw = frame;
    if (!this.#drawScheduled) {
      this.#drawScheduled = true;
      requestAnimationFrame(() => this.#draw());
    }
  }

  /** Into the <video>'s track; a frame that would queue behind an unfinished write is dropped. */
  #show(writer: WritableStreamDefaultWriter<VideoFrame>, frame: VideoFrame): void {
    if (this.#writing) {
      frame.close();
      this.counters.framesNotDrawn++;
      return;
    }
    this.#writing = true;
    // The stream takes the frame (and closes it).
    writer.write(frame).then(
      () => {
        this.#writing = false;
        this.counters.framesDrawn++;
      },
      () => {
        this.#writing = false;
      },
    );
  }

  #draw(): void {
    this.#drawScheduled = false;
    const frame = this.#toDraw;
    this.#toDraw = undefined;
    if (!frame) return;
    try {
      const canvas = this.#options.canvas;
      if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
        canvas.width = frame.displayWidth;
        canvas.height = frame.displayHeight;
      }
      this.#context?.drawImage(frame, 0, 0);
      this.counters.framesDrawn++;
    } finally {
      frame.close();
    }
  }

  #onDecoderError(error: Error): void {
    console.warn(`mlstream: video decoder: ${error.message}`);
    this.counters.decodeErrors++;
    this.#resetDecoder();
    this.#askForKeyframe(true);
  }

  #dropToKeyframe(ask: boolean): void {
    this.#waitingForKeyframe = true;
    this.#pending = [];
    if (ask) this.#askForKeyframe();
  }

  #askForKeyframe(force = false): void {
    const now = performance.now();
    if (!force && now - this.#lastKeyframeRequest < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.#lastKeyframeRequest = now;
    this.counters.keyframeRequests++;
    this.#options.requestKeyframe();
  }

  #resetDecoder(): void {
    const decoder = this.#decoder;
    this.#decoder = undefined;
    this.#decoderCodec = undefined;
    this.#inFlight.clear();
    this.#pending = [];
    this.#waitingForKeyframe = true;
    if (decoder && decoder.state !== "closed") decoder.close();
  }
}
