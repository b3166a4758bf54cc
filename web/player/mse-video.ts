/**
 * The WebSocket transport's second decode path, for pages where WebCodecs is missing (browsers
 * expose it only in secure contexts: HTTPS or localhost; a plain-HTTP name behind a proxy is not
 * one): each H.264 access unit becomes one fMP4 fragment (fmp4.ts) appended to a Media Source
 * Extensions SourceBuffer playing in the player's `<video>`.
 *
 * Near-live: one fragment per frame, appended as it arrives; the MediaSource's duration is
 * +Infinity (Chromium then treats the stream as live and renders with low delay); media time
 * advances by one nominal frame per frame whatever the arrival jitter (a gap over two frames
 * would make MSE drop everything up to the next keyframe); when playback lags the buffered end
 * it plays faster, and far behind it waits for a keyframe it asked for and jumps to it (a seek
 * into a GOP would decode the whole GOP first; GameStream's GOP is endless). What was played is
 * removed once a newer keyframe allows it, asking for one when the back buffer grows long.
 *
 * "Decoded" here is when the frame was handed to the compositor (requestVideoFrameCallback's
 * presentationTime): MSE has no decoder-output callback.
 */
import type { WsCodec } from "../../src/peer/ws-media.ts";
import { annexBNalUnits, BitReader, h264CodecString, rbsp } from "./codec-string.ts";
import { fragment, initSegment, TIMESCALE, type AvcTrack } from "./fmp4.ts";
import type { DecodedFrameInfo, WsMediaCounters } from "./ws-media.ts";

/** Playback further behind the buffered end than this plays faster … */
const CATCH_UP_S = 0.05;
const CATCH_UP_RATE = 1.1;
/** … further than this, much faster … */
const FAST_CATCH_UP_S = 0.15;
const FAST_CATCH_UP_RATE = 1.5;
/** … and further than this jumps to the next keyframe (asked for). */
const JUMP_S = 1;
/** Fragments waiting for the SourceBuffer beyond this: this page cannot keep up; skip to a keyframe. */
const MAX_QUEUE = 30;
/** Played media kept behind the playback position before it is removed (at a keyframe). */
const BACK_BUFFER_S = 15;
const BACK_BUFFER_KEYFRAME_INTERVAL_MS = 10_000;
/** Frames remembered for the latency callback (media time → capture time). */
const MAX_TIMES = 600;

const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;

export interface MseFrame {
  keyframe: boolean;
  frameNumber: number;
  captureTimeMs: number;
  receivedAt: number;
  data: Uint8Array;
}

export interface MseVideoOptions {
  video: HTMLVideoElement;
  counters: WsMediaCounters;
  /** Ask the server for a keyframe (rate-limited by the caller unless forced). */
  askForKeyframe(force?: boolean): void;
  /** The stream's frame rate (the nominal frame duration). */
  fps(): number | undefined;
  onFirstFrame(): void;
  onFrameDecoded(): ((frame: DecodedFrameInfo) => void) | undefined;
  /** The stream cannot be played on this path (codec); the text says why. */
  onUnplayable(reason: string): void;
}

/** True where this path can work at all. */
export function mseAvailable(): boolean {
  return typeof MediaSource === "function";
}

const mimeType = (codec: string) => `video/mp4; codecs="${codec}"`;
const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);

interface FrameTimes {
  frameNumber: number;
  keyframe: boolean;
  captureTimeMs: number;
  receivedAt: number;
}

export class MseVideo {
  readonly #options: MseVideoOptions;
  #mediaSource!: MediaSource;
  #objectUrl = "";
  #sourceBuffer: SourceBuffer | undefined;
  #track: (AvcTrack & { codec: string }) | undefined;
  #queue: Queued[] = [];
  #waitingForKeyframe = true;
  #jumpToNextKeyframe = false;
  #sequence = 1;
  #nextDecodeTime = 0;
  #keyframeTimes: number[] = [];
  #times = new Map<number, FrameTimes>();
  #lastBackBufferRequest = -Infinity;
  #presentedSinceResync = false;
  #started = false;
  #frameCallback: number | undefined;
  #closed = false;

  constructor(options: MseVideoOptions) {
    this.#options = options;
    this.#open();
    this.#watchFrames();
  }

  /** One access unit from the socket. */
  push(codec: WsCodec, frame: MseFrame): void {
    if (this.#closed) return;
    const counters = this.#options.counters;
    if (codec !== "h264") {
      this.#options.onUnplayable(`This page has no WebCodecs (not a secure origin), and its Media Source Extensions path plays H.264 only; the stream is ${codec.toUpperCase()}. Open the viewer over HTTPS, or allow WebRTC on this network.`);
      counters.framesDropped++;
      return;
    }
    if (this.#waitingForKeyframe && !frame.keyframe) {
      counters.framesDropped++;
      this.#options.askForKeyframe();
      return;
    }
    if (this.#queue.length >= MAX_QUEUE) {
      // The SourceBuffer takes frames slower than they come: start again at a keyframe.
      counters.framesDropped++;
      this.#queue = [];
      this.#waitingForKeyframe = true;
      this.#options.askForKeyframe(true);
      return;
    }
    const units: Uint8Array[] = [];
    let sps: Uint8Array | undefined;
    let pps: Uint8Array | undefined;
    for (const unit of annexBNalUnits(frame.data)) {
      const type = unit[0]! & 0x1f;
      if (type === NAL_SPS) sps = unit;
      else if (type === NAL_PPS) pps = unit;
      else if (type !== NAL_AUD) units.push(unit);
    }
    if (frame.keyframe) {
      if (sps && pps && !(sameBytes(this.#track?.sps, sps) && sameBytes(this.#track?.pps, pps))) {
        if (!this.#setTrack(frame.data, sps, pps)) return;
      }
      if (!this.#track) {
        counters.framesDropped++;
        this.#options.askForKeyframe();
        return;
      }
      this.#waitingForKeyframe = false;
      this.#keyframeTimes.push(this.#nextDecodeTime);
      if (this.#jumpToNextKeyframe || !this.#started) this.#queue.push({ kind: "jump", decodeTime: this.#nextDecodeTime });
    }
    const fps = this.#options.fps();
    const duration = Math.round(TIMESCALE / (fps && fps > 0 ? fps : 60));
    const decodeTime = this.#nextDecodeTime;
    this.#nextDecodeTime += duration;
    this.#times.set(decodeTime, { frameNumber: frame.frameNumber, keyframe: frame.keyframe, captureTimeMs: frame.captureTimeMs, receivedAt: frame.receivedAt });
    if (this.#times.size > MAX_TIMES) this.#times.delete(this.#times.keys().next().value!);
    this.#queue.push({ kind: "media", bytes: fragment(this.#sequence++, decodeTime, duration, frame.keyframe, units) as Uint8Array<ArrayBuffer>, init: false });
    this.#appendNext();
  }

  /** Start over at the next keyframe (a new stream, the tab was hidden). */
  resync(): void {
    this.#presentedSinceResync = false;
    this.#waitingForKeyframe = true;
    this.#jumpToNextKeyframe = true;
    this.#queue = this.#queue.filter((entry) => entry.kind !== "media" || entry.init);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
  }

  #open(): void {
    const mediaSource = new MediaSource();
    this.#mediaSource = mediaSource;
    this.#objectUrl = URL.createObjectURL(mediaSource);
    const video = this.#options.video;
    video.srcObject = null;
    video.src = this.#objectUrl;
    mediaSource.addEventListener("sourceopen", () => {
      URL.revokeObjectURL(this.#objectUrl);
      this.#createSourceBuffer();
    }, { once: true });
  }

  #detach(): void {
    if (this.#frameCallback !== undefined) this.#options.video.cancelVideoFrameCallback?.(this.#frameCallback);
    this.#frameCallback = undefined;
    this.#sourceBuffer = undefined;
    this.#queue = [];
    if (this.#mediaSource.readyState === "open") {
      try {
        this.#mediaSource.endOfStream();
      } catch {
        // Already ending.
      }
    }
    const video = this.#options.video;
    if (video.src === this.#objectUrl) {
      video.removeAttribute("src");
      video.load();
    }
  }

  /** After an error the SourceBuffer cannot take more: a fresh MediaSource, from the next keyframe. */
  #restart(): void {
    this.#options.counters.decodeErrors++;
    this.#detach();
    this.#track = undefined;
    this.#started = false;
    this.#waitingForKeyframe = true;
    this.#keyframeTimes = [];
    this.#open();
    this.#watchFrames();
    this.#options.askForKeyframe(true);
  }

  /** A new SPS/PPS: the init segment (and the SourceBuffer's type, if the codec string changed). */
  #setTrack(accessUnit: Uint8Array, sps: Uint8Array, pps: Uint8Array): boolean {
    const codec = h264CodecString(accessUnit) ?? "avc1.640034";
    if (!MediaSource.isTypeSupported(mimeType(codec))) {
      this.#options.onUnplayable(`This page has no WebCodecs (not a secure origin), and this browser's Media Source Extensions cannot play ${codec}. Open the viewer over HTTPS, or allow WebRTC on this network.`);
      return false;
    }
    const { width, height } = readSpsSize(sps);
    const previous = this.#track;
    this.#track = { sps: sps.slice(), pps: pps.slice(), width, height, codec };
    if (this.#sourceBuffer && previous && previous.codec !== codec) this.#queue.push({ kind: "type", codec });
    this.#queue.push({ kind: "media", bytes: initSegment(this.#track) as Uint8Array<ArrayBuffer>, init: true });
    this.#options.counters.codec = codec;
    this.#createSourceBuffer();
    return true;
  }

  #createSourceBuffer(): void {
    if (this.#sourceBuffer || !this.#track || this.#mediaSource.readyState !== "open") return;
    try {
      // +Infinity: a live stream, rendered with low delay.
      this.#mediaSource.duration = Number.POSITIVE_INFINITY;
      const buffer = this.#mediaSource.addSourceBuffer(mimeType(this.#track.codec));
      buffer.mode = "segments";
      buffer.addEventListener("updateend", () => this.#onUpdateEnd());
      buffer.addEventListener("error", () => this.#restart());
      this.#sourceBuffer = buffer;
    } catch (error) {
      console.warn(`mlstream: media source: ${(error as Error).message}`);
      this.#restart();
      return;
    }
    this.#appendNext();
  }

  #appendNext(): void {
    const buffer = this.#sourceBuffer;
    if (!buffer || buffer.updating || this.#closed) return;
    const next = this.#queue.shift();
    if (!next) return;
    if (next.kind === "type") {
      buffer.changeType?.(mimeType(next.codec));
      this.#appendNext();
      return;
    }
    if (next.kind === "jump") {
      this.#jumpTo(next.decodeTime);
      this.#appendNext();
      return;
    }
    try {
      buffer.appendBuffer(next.bytes);
    } catch (error) {
      console.warn(`mlstream: media source append: ${(error as Error).name} ${(error as Error).message}`);
      this.#restart();
    }
  }

  #onUpdateEnd(): void {
    this.#keepLive();
    this.#appendNext();
  }

  /** Plays from `decodeTime` (a keyframe about to be appended): the start, or the jump after falling behind. */
  #jumpTo(decodeTime: number): void {
    this.#jumpToNextKeyframe = false;
    this.#started = true;
    const video = this.#options.video;
    video.currentTime = decodeTime / TIMESCALE;
    video.playbackRate = 1;
    void video.play().catch(() => {});
  }

  /** Keeps playback at the buffered end (see the module comment), and the back buffer short. */
  #keepLive(): void {
    const video = this.#options.video;
    const buffered = this.#sourceBuffer?.buffered;
    if (!buffered || buffered.length === 0 || !this.#started) return;
    const end = buffered.end(buffered.length - 1);
    const lag = end - video.currentTime;
    if (lag > JUMP_S && !this.#jumpToNextKeyframe) {
      this.#jumpToNextKeyframe = true;
      this.#options.askForKeyframe(true);
    }
    const rate = lag > FAST_CATCH_UP_S ? FAST_CATCH_UP_RATE : lag > CATCH_UP_S ? CATCH_UP_RATE : 1;
    if (video.playbackRate !== rate) video.playbackRate = rate;
    if (video.paused && !this.#closed) void video.play().catch(() => {});
    this.#trimBackBuffer(buffered.start(0), video.currentTime);
  }

  #trimBackBuffer(start: number, now: number): void {
    if (now - start < BACK_BUFFER_S) return;
    // The newest keyframe already played: everything before it is no longer needed.
    let cut: number | undefined;
    while (this.#keyframeTimes.length > 0 && this.#keyframeTimes[0]! / TIMESCALE <= now) cut = this.#keyframeTimes.shift()! / TIMESCALE;
    if (cut !== undefined && cut > start + 0.5) {
      this.#keyframeTimes.unshift(cut * TIMESCALE);
      this.#sourceBuffer?.remove(start, cut - 0.001);
      return;
    }
    if (cut !== undefined) this.#keyframeTimes.unshift(cut * TIMESCALE);
    const now_ = performance.now();
    if (now_ - this.#lastBackBufferRequest > BACK_BUFFER_KEYFRAME_INTERVAL_MS) {
      this.#lastBackBufferRequest = now_;
      this.#options.askForKeyframe(true);
    }
  }

  /** Counts presented frames and reports each one's latency (requestVideoFrameCallback). */
  #watchFrames(): void {
    const video = this.#options.video;
    if (typeof video.requestVideoFrameCallback !== "function") return;
    const counters = this.#options.counters;
    let presented = -1;
    const onFrame = (_now: number, metadata: VideoFrameCallbackMetadata) => {
      if (this.#closed) return;
      this.#frameCallback = video.requestVideoFrameCallback(onFrame);
      const quality = video.getVideoPlaybackQuality();
      counters.framesDecoded = quality.totalVideoFrames - quality.droppedVideoFrames;
      counters.framesNotDrawn = quality.droppedVideoFrames;
      if (presented >= 0) counters.framesDrawn += Math.max(0, metadata.presentedFrames - presented);
      presented = metadata.presentedFrames;
      counters.width = metadata.width;
      counters.height = metadata.height;
      if (!this.#presentedSinceResync) {
        this.#presentedSinceResync = true;
        this.#options.onFirstFrame();
      }
      const times = this.#times.get(Math.round(metadata.mediaTime * TIMESCALE));
      const report = this.#options.onFrameDecoded();
      if (!times) return;
      if (times.keyframe) counters.keyFramesDecoded++;
      report?.({
        frameNumber: times.frameNumber,
        keyframe: times.keyframe,
        captureTimeMs: times.captureTimeMs,
        receivedAtMs: performance.timeOrigin + times.receivedAt,
        decodedAtMs: performance.timeOrigin + metadata.presentationTime,
      });
    };
    this.#frameCallback = video.requestVideoFrameCallback(onFrame);
  }
}

/** The append queue: media to append, a jump (play from a keyframe's time), a SourceBuffer type change. */
type Queued = { kind: "media"; bytes: Uint8Array<ArrayBuffer>; init: boolean } | { kind: "jump"; decodeTime: number } | { kind: "type"; codec: string };

/** Width and height from an H.264 SPS (7.3.2.1.1), cropping applied. */
export function readSpsSize(sps: Uint8Array): { width: number; height: number } {
  const bits = new BitReader(rbsp(sps.subarray(1)));
  const profile = bits.read(8);
  bits.read(16); // constraint flags, level
  ue(bits); // seq_parameter_set_id
  let chromaFormat = 1;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    chromaFormat = ue(bits);
    if (chromaFormat === 3) bits.read(1);
    ue(bits); // bit_depth_luma_minus8
    ue(bits); // bit_depth_chroma_minus8
    bits.read(1); // qpprime_y_zero_transform_bypass_flag
    if (bits.read(1)) {
      for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) {
        if (!bits.read(1)) continue;
        // scaling_list: skip its deltas.
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          if (next !== 0) next = (last + se(bits) + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  ue(bits); // log2_max_frame_num_minus4
  const pocType = ue(bits);
  if (pocType === 0) ue(bits);
  else if (pocType === 1) {
    bits.read(1);
    se(bits);
    se(bits);
    const cycle = ue(bits);
    for (let i = 0; i < cycle; i++) se(bits);
  }
  ue(bits); // max_num_ref_frames
  bits.read(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = ue(bits) + 1;
  const heightMapUnits = ue(bits) + 1;
  const frameMbsOnly = bits.read(1);
  if (!frameMbsOnly) bits.read(1);
  bits.read(1); // direct_8x8_inference_flag
  let crop = [0, 0, 0, 0];
  if (bits.read(1)) crop = [ue(bits), ue(bits), ue(bits), ue(bits)];
  const cropX = chromaFormat === 0 || chromaFormat === 3 ? 1 : 2;
  const cropY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return {
    width: widthMbs * 16 - cropX * (crop[0]! + crop[1]!),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (crop[2]! + crop[3]!),
  };
}

/** Exp-Golomb codes (H.264 9.1) on top of the bit reader. */
function ue(bits: BitReader): number {
  let leading = 0;
  while (bits.read(1) === 0 && leading < 32) leading++;
  return 2 ** leading - 1 + bits.read(leading);
}
function se(bits: BitReader): number {
  const k = ue(bits);
  return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
}
