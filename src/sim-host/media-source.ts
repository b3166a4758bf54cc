/**
 * What the simulated host "encodes": access units paced at the session fps, and Opus packets.
 *
 * - `LoopVideoSource` plays the committed loop (assets/loop.h264 / loop.h265 / loop-main10.h265:
 *   1280×720@60, 120 AUD-delimited frames, an IDR with in-band SPS/PPS(/VPS) every 30; loop.av1 /
 *   loop-main10.av1: the same as AV1 temporal units, a sequence header with every key frame). The loop is cut into access
 *   units once per process, and its SEI NAL units (x264/x265 print their whole option string into
 *   every IDR, 0.7–2 KB) are dropped: a host's encoder does not send them, and a large one pushes the
 *   IDR slice out of the frame's first datagram, where clients look for it. Playback starts on frame 0 (an IDR, as Sunshine's first frame must be);
 *   an IDR request makes the next frame the loop's next keyframe. The resolution is the loop's,
 *   whatever the client asked for — the sim does not scale.
 * - `LivePatternSource` runs ffmpeg (`testsrc2` → libx264, zerolatency, no B-frames, headers on
 *   every IDR, no periodic keyframes) at the requested size/fps/bitrate and cuts its Annex-B stdout
 *   into access units on the fly. An IDR request restarts the encoder: a fresh libx264 begins with
 *   an IDR, which is simpler and more robust than steering a running encoder.
 * - `OpusLoop` holds loop.opus (records `[u16le length][Opus packet]`, 5 ms each, VBR, stereo), pairs
 *   them for sessions that ask for 10 ms packets, and pads every packet to one length (RFC 6716
 *   §3.2.5) so that audio FEC works as with Sunshine's CBR encoder. For 5.1 / 7.1 it wraps them into
 *   Opus multistream packets (the loop on stream 0, silence on the others).
 *
 * Sources emit `frame` events; the video sender packetizes them.
 */
import { readFileSync } from "node:fs";
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import { HEVC_NAL, isIdrAccessUnit, isSei, splitNalUnits, type VideoCodec } from "../moonlight/video/nal.ts";
import { isAv1KeyTemporalUnit, splitTemporalUnits } from "../moonlight/video/av1-obu.ts";
import { AccessUnitSplitter, splitAccessUnits } from "./access-unit-splitter.ts";
import { checkStreamCounts, opusMultistreamPacket, type OpusStreamCounts } from "./opus-multistream.ts";
import { padLoopToBitrate } from "./filler-padding.ts";
import { Pacer } from "./pacer.ts";
// Imported as files so that `bun build --compile` embeds them: the sim host (and the demo) must
// work from the binary alone.
import loopH264Path from "./assets/loop.h264" with { type: "file" };
import loopH265Path from "./assets/loop.h265" with { type: "file" };
import loopOnDemandH264Path from "./assets/loop-ondemand.h264" with { type: "file" };
import loopOnDemandH265Path from "./assets/loop-ondemand.h265" with { type: "file" };
import loopMain10Path from "./assets/loop-main10.h265" with { type: "file" };
import loopOnDemandMain10Path from "./assets/loop-ondemand-main10.h265" with { type: "file" };
import loopAv1Path from "./assets/loop.av1" with { type: "file" };
import loopOnDemandAv1Path from "./assets/loop-ondemand.av1" with { type: "file" };
import loopAv1Main10Path from "./assets/loop-main10.av1" with { type: "file" };
import loopOnDemandAv1Main10Path from "./assets/loop-ondemand-main10.av1" with { type: "file" };
import loopOpusPath from "./assets/loop.opus" with { type: "file" };

const log = logger("sim-media");


/** Why a frame is a keyframe. */
export type SimIdrReason =
  /** First frame of the stream. */
  | "start"
  /** The client asked (control 0x0302). */
  | "request"
  /** The client reported lost frames (control 0x0301); the sim answers with an IDR. */
  | "rfi"
  /** The loop wrapped onto one of its own keyframes (not a Sunshine behaviour, a property of the asset). */
  | "loop";

export interface SimVideoFrame {
  /** Annex-B access unit (leading AUD included). */
  data: Uint8Array;
  isIdr: boolean;
  /** Set when `isIdr`. */
  idrReason: SimIdrReason | undefined;
  /** RTP timestamp, 90 kHz. */
  timestamp: number;
  /** Position in the loop (−1 for the live source). */
  loopIndex: number;
}

export interface VideoSourceEvents {
  frame: [frame: SimVideoFrame];
  /** The source cannot continue (e.g. ffmpeg died twice); it has stopped. */
  error: [error: Error];
}

export interface VideoSource extends EventEmitter<VideoSourceEvents> {
  readonly codec: VideoCodec;
  /** Begins emitting frames; the first one is an IDR. Idempotent. */
  start(): void;
  /** Makes an upcoming frame (the next one for the loop) an IDR. */
  requestIdr(reason: SimIdrReason): void;
  /** Stops for good; idempotent. */
  close(): void;
}

export class SimMediaError extends Error {
  override name = "SimMediaError";
}

// ---------------------------------------------------------------------------------------------
// Loop assets
// ---------------------------------------------------------------------------------------------

export interface VideoLoop {
  codec: VideoCodec;
  /** 10-bit (HEVC Main10, AV1 Main 10-bit) rather than 8-bit. */
  tenBit: boolean;
  accessUnits: Uint8Array[];
  /** Indices of the IDR access units, ascending. */
  keyframes: number[];
}

/**
 * Which loop: "periodic" (an IDR every 0.5 s — a property of the asset, handy for real clients
 * that wait for a keyframe) or "on-request" (one IDR at frame 0 of a 4 s loop: like Sunshine's
 * infinite GOP, a keyframe comes only when asked, or when the loop wraps).
 */
export type LoopKeyframes = "periodic" | "on-request";

const videoLoops = new Map<string, VideoLoop>();

/** The committed files, by codec and bit depth (no 10-bit H.264: no host sends it). */
const LOOP_FILES: Record<string, Record<LoopKeyframes, string>> = {
  h264: { periodic: loopH264Path, "on-request": loopOnDemandH264Path },
  hevc: { periodic: loopH265Path, "on-request": loopOnDemandH265Path },
  "hevc/10": { periodic: loopMain10Path, "on-request": loopOnDemandMain10Path },
  av1: { periodic: loopAv1Path, "on-request": loopOnDemandAv1Path },
  "av1/10": { periodic: loopAv1Main10Path, "on-request": loopOnDemandAv1Main10Path },
};

/** The committed loop for `codec`, split into access units on first use. */
export function loadVideoLoop(codec: VideoCodec, keyframes: LoopKeyframes = "periodic", tenBit = false): VideoLoop {
  const key = `${codec}/${keyframes}/${tenBit ? 10 : 8}`;
  const cached = videoLoops.get(key);
  if (cached) return cached;
  const files = LOOP_FILES[tenBit ? `${codec}/10` : codec];
  if (!files) throw new SimMediaError(`the simulated host has no ${tenBit ? "10-bit " : ""}${codec} loop`);
  const stream = new Uint8Array(readFileSync(files[keyframes]));
  const accessUnits = codec === "av1" ? splitTemporalUnits(stream) : splitAccessUnits(codec, stream).map((au) => withoutSei(codec, au));
  const isKey = (au: Uint8Array) => (codec === "av1" ? isAv1KeyTemporalUnit(au) : isIdrAccessUnit(codec, au));
  const keyframeIndices = accessUnits.flatMap((au, i) => (isKey(au) ? [i] : []));
  if (accessUnits.length === 0 || keyframeIndices[0] !== 0) throw new SimMediaError(`loop for ${codec} does not start with an IDR`);
  const loop = { codec, tenBit, accessUnits, keyframes: keyframeIndices };
  videoLoops.set(key, loop);
  return loop;
}

/** The access unit without its SEI NAL units (prefix and suffix SEI for HEVC). */
export function withoutSei(codec: VideoCodec, au: Uint8Array): Uint8Array {
  const units = splitNalUnits(codec, au);
  const sei = (type: number) => isSei(codec, type) || (codec === "hevc" && type === HEVC_NAL.SUFFIX_SEI);
  if (!units.some((u) => sei(u.type))) return au;
  const kept = units.filter((u) => !sei(u.type));
  const out = new Uint8Array(kept.reduce((n, u) => n + u.end - u.start, 0));
  let at = 0;
  for (const u of kept) {
    out.set(au.subarray(u.start, u.end), at);
    at += u.end - u.start;
  }
  return out;
}

let opusLoop: Uint8Array[] | undefined;

/** The 5 ms Opus packets of loop.opus. */
export function loadOpusLoop(): Uint8Array[] {
  if (opusLoop) return opusLoop;
  const file = new Uint8Array(readFileSync(loopOpusPath));
  const packets: Uint8Array[] = [];
  for (let at = 0; at + 2 <= file.length; ) {
    const length = file[at]! | (file[at + 1]! << 8);
    if (at + 2 + length > file.length) throw new SimMediaError("loop.opus is truncated");
    packets.push(file.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  opusLoop = packets;
  return packets;
}

/** Bytes of a frame-length field (RFC 6716 §3.2.1): 1 below 252, else 2. */
export function frameLengthBytes(length: number): number[] {
  if (length < 0 || length > 1275) throw new SimMediaError(`an Opus frame holds 0–1275 bytes, not ${length}`);
  if (length < 252) return [length];
  const first = 252 + (length & 3);
  return [first, (length - first) >> 2];
}

/** Padding-length field for `n` padding bytes (§3.2.5): a 255 per 254 bytes, then the rest. */
function paddingLengthBytes(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  while (rest >= 254) {
    out.push(255);
    rest -= 254;
  }
  out.push(rest);
  return out;
}

export interface OpusCode3Options {
  /**
   * Self-delimited framing (RFC 6716 Appendix B), as every stream but the last of a multistream
   * packet needs: the length of the last frame (of every frame, when they are all equal) follows
   * the padding-length and VBR frame-length fields. Padding still comes last, after the frames.
   */
  selfDelimited?: boolean;
}

/**
 * Builds a code-3 Opus packet (§3.2.5) carrying `frames` (each without TOC byte) under `toc`,
 * padded to exactly `targetSize` bytes when that is larger than the packet needs. Why: Sunshine
 * encodes CBR, so every packet of a session has the same length, and audio FEC (§6.4) works only
 * then; the committed loop is VBR, and padding is the lossless way to equalise it.
 */
export function opusCode3Packet(toc: number, frames: Uint8Array[], targetSize = 0, options: OpusCode3Options = {}): Uint8Array {
  const count = frames.length;
  if (count < 1 || count > 48) throw new SimMediaError(`an Opus packet holds 1–48 frames, not ${count}`);
  const vbr = frames.some((f) => f.length !== frames[0]!.length);
  const lengths = vbr ? frames.slice(0, -1).flatMap((f) => frameLengthBytes(f.length)) : [];
  if (options.selfDelimited) lengths.push(...frameLengthBytes(frames[count - 1]!.length));
  const body = frames.reduce((n, f) => n + f.length, 0);
  const unpadded = 2 + lengths.length + body;
  let padding = 0;
  let padField: number[] = [];
  if (targetSize > unpadded) {
    // The padding-length field takes room itself: find N with unpadded + |field(N)| + N = target.
    for (padding = targetSize - unpadded - 1; padding >= 0; padding--) {
      padField = paddingLengthBytes(padding);
      if (unpadded + padField.length + padding === targetSize) break;
    }
    if (padding < 0) {
      padding = 0;
      padField = [];
    }
  }
  const header = [(toc & 0xfc) | 3, (vbr ? 0x80 : 0) | (padField.length > 0 ? 0x40 : 0) | count, ...padField, ...lengths];
  const out = new Uint8Array(header.length + body + padding);
  out.set(header, 0);
  let at = header.length;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}

/**
 * Cycles through the Opus loop at `packetDurationMs`: 5 ms = one recorded frame per packet, 10 ms =
 * two (a pair whose TOC configurations differ repeats its first frame, so the packet still lasts
 * 10 ms). Every packet is padded to the size of the largest, like a CBR encoder's output.
 *
 * With more than one stream (5.1 / 7.1, §6.5) every packet is an Opus multistream packet laid out
 * as the client's decoder was told (`layout`): stream 0 carries the (stereo) loop in self-delimited
 * framing and every other stream a silent frame (see opus-multistream.ts), so the client decodes the
 * loop on the first channels and silence on the rest. Still one length for every packet.
 */
export class OpusLoop {
  readonly packets: Uint8Array[];
  readonly layout: OpusStreamCounts;
  #position = 0;

  constructor(packetDurationMs: number, layout: OpusStreamCounts = { streams: 1, coupled: 1 }) {
    checkStreamCounts(layout);
    this.layout = { streams: layout.streams, coupled: layout.coupled };
    const base = loadOpusLoop();
    if ((base[0]![0]! & 0x03) !== 0) throw new SimMediaError("loop.opus must hold single-frame (code 0) packets");
    const groups: { toc: number; frames: Uint8Array[] }[] = [];
    if (packetDurationMs === 5) {
      for (const p of base) groups.push({ toc: p[0]!, frames: [p.subarray(1)] });
    } else if (packetDurationMs === 10) {
      for (let i = 0; i + 1 < base.length; i += 2) {
        const a = base[i]!;
        const b = base[i + 1]!;
        const same = (a[0]! & 0xfc) === (b[0]! & 0xfc);
        groups.push({ toc: a[0]!, frames: [a.subarray(1), (same ? b : a).subarray(1)] });
      }
    } else {
      throw new SimMediaError(`no Opus loop for ${packetDurationMs} ms packets`);
    }
    const options = { selfDelimited: layout.streams > 1 };
    const target = Math.max(...groups.map((g) => opusCode3Packet(g.toc, g.frames, 0, options).length));
    this.packets = groups.map((g) => {
      const first = opusCode3Packet(g.toc, g.frames, target, options);
      return layout.streams > 1 ? opusMultistreamPacket(first, g.toc, g.frames.length, layout) : first;
    });
  }

  next(): Uint8Array {
    const packet = this.packets[this.#position]!;
    this.#position = (this.#position + 1) % this.packets.length;
    return packet;
  }
}

// ---------------------------------------------------------------------------------------------
// Loop video source
// ---------------------------------------------------------------------------------------------

export interface LoopVideoSourceOptions {
  codec: VideoCodec;
  /** The 10-bit loop (HEVC Main10, AV1 Main 10-bit). */
  tenBit?: boolean;
  fps: number;
  keyframes?: LoopKeyframes;
  /**
   * Models a host that sometimes does not answer a keyframe request (seen with a real Sunshine:
   * about 1 join in 5 waited for the client's retry): returns true for a request to ignore.
   */
  ignoreIdrRequest?: () => boolean;
  /** Grow the access units with filler NAL units to about this many kbit/s (filler-padding.ts). */
  padToKbps?: number;
}

export class LoopVideoSource extends EventEmitter<VideoSourceEvents> implements VideoSource {
  readonly codec: VideoCodec;
  readonly #loop: VideoLoop;
  readonly #fps: number;
  readonly #pacer: Pacer;
  readonly #ignoreIdrRequest: (() => boolean) | undefined;
  #position = 0;
  #pendingIdr: SimIdrReason | undefined = "start";
  #closed = false;
  /** Requests dropped by `ignoreIdrRequest`. */
  ignoredIdrRequests = 0;

  constructor(options: LoopVideoSourceOptions) {
    super();
    this.codec = options.codec;
    const loop = loadVideoLoop(options.codec, options.keyframes, options.tenBit);
    this.#ignoreIdrRequest = options.ignoreIdrRequest;
    this.#fps = options.fps > 0 ? options.fps : 60;
    this.#loop = options.padToKbps ? { ...loop, accessUnits: padLoopToBitrate(options.codec, loop.accessUnits, this.#fps, options.padToKbps) } : loop;
    this.#pacer = new Pacer({ intervalMs: 1000 / this.#fps, tick: (n) => this.#emitFrame(n) });
  }

  start(): void {
    if (!this.#closed) this.#pacer.start();
  }

  requestIdr(reason: SimIdrReason): void {
    // Like Sunshine's one-slot IDR event: requests before the next frame collapse into one, and
    // before the first frame the stream starts on an IDR anyway.
    if (this.#pendingIdr !== undefined) return;
    if (this.#ignoreIdrRequest?.()) {
      this.ignoredIdrRequests++;
      return;
    }
    this.#pendingIdr = reason;
  }

  close(): void {
    this.#closed = true;
    this.#pacer.stop();
  }

  #emitFrame(tick: number): void {
    const { accessUnits, keyframes } = this.#loop;
    let reason = this.#pendingIdr;
    if (reason !== undefined) {
      this.#pendingIdr = undefined;
      this.#position = keyframes.find((k) => k >= this.#position) ?? 0;
    }
    const index = this.#position;
    this.#position = (index + 1) % accessUnits.length;
    const isIdr = keyframes.includes(index);
    if (isIdr && reason === undefined) reason = "loop";
    const frame: SimVideoFrame = {
      data: accessUnits[index]!,
      isIdr,
      idrReason: isIdr ? reason : undefined,
      timestamp: Math.round(((tick + 1) * 90000) / this.#fps) >>> 0,
      loopIndex: index,
    };
    try {
      this.emit("frame", frame);
    } catch (error) {
      log.error("video frame listener threw", error);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Live ffmpeg test pattern
// ---------------------------------------------------------------------------------------------

export interface LivePatternSourceOptions {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** ffmpeg executable. Default "ffmpeg". */
  ffmpegPath?: string;
}

/** True when an ffmpeg with libx264 can be run. */
export function ffmpegAvailable(ffmpegPath = "ffmpeg"): boolean {
  try {
    const run = Bun.spawnSync([ffmpegPath, "-hide_banner", "-encoders"], { stdout: "pipe", stderr: "ignore" });
    return run.exitCode === 0 && run.stdout.toString().includes("libx264");
  } catch {
    return false;
  }
}

export class LivePatternSource extends EventEmitter<VideoSourceEvents> implements VideoSource {
  readonly codec: VideoCodec = "h264";
  readonly #options: Required<LivePatternSourceOptions>;
  #process: ReturnType<typeof Bun.spawn> | undefined;
  #generation = 0;
  #pendingIdr: SimIdrReason = "start";
  #restarting = false;
  #started = false;
  #closed = false;
  #startedAt = 0;
  #failures = 0;

  constructor(options: LivePatternSourceOptions) {
    super();
    const even = (n: number) => Math.max(16, n - (n % 2));
    this.#options = {
      width: even(options.width || 1280),
      height: even(options.height || 720),
      fps: options.fps > 0 ? options.fps : 60,
      bitrateKbps: options.bitrateKbps > 0 ? options.bitrateKbps : 5000,
      ffmpegPath: options.ffmpegPath ?? "ffmpeg",
    };
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#startedAt = performance.now();
    this.#spawn();
  }

  requestIdr(reason: SimIdrReason): void {
    if (!this.#started || this.#closed || this.#restarting) return;
    this.#pendingIdr = reason;
    this.#restarting = true;
    this.#spawn();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kill();
  }

  #args(): string[] {
    const { width, height, fps, bitrateKbps } = this.#options;
    return [
      "-hide_banner", "-loglevel", "error", "-nostdin",
      // -re: read the generated input at its frame rate, so ffmpeg paces the frames for us.
      "-re", "-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=${fps}`,
      "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
      "-bf", "0", "-b:v", `${bitrateKbps}k`, "-maxrate", `${bitrateKbps}k`, "-bufsize", `${Math.max(1, Math.round(bitrateKbps / fps))}k`,
      // Infinite GOP like a GameStream host; SPS/PPS and an AUD in every IDR/AU.
      "-x264-params", "keyint=infinite:min-keyint=1:scenecut=0:aud=1:repeat-headers=1",
      "-f", "h264", "pipe:1",
    ];
  }

  #spawn(): void {
    this.#kill();
    const generation = ++this.#generation;
    let child: ReturnType<typeof Bun.spawn>;
    try {
      child = Bun.spawn([this.#options.ffmpegPath, ...this.#args()], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    } catch (error) {
      this.#fail(new SimMediaError(`cannot run ffmpeg: ${(error as Error).message}`));
      return;
    }
    this.#process = child;
    const splitter = new AccessUnitSplitter("h264");
    void (async () => {
      try {
        for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
          if (generation !== this.#generation) return;
          for (const au of splitter.push(chunk)) this.#emitFrame(au);
        }
      } catch (error) {
        if (generation === this.#generation) log.debug(`ffmpeg stdout: ${(error as Error).message}`);
      }
    })();
    void child.exited.then(async (code) => {
      if (generation !== this.#generation || this.#closed) return;
      const stderr = await new Response(child.stderr as ReadableStream<Uint8Array>).text().catch(() => "");
      if (++this.#failures > 1) {
        this.#fail(new SimMediaError(`ffmpeg exited (${code}): ${stderr.trim().slice(0, 300)}`));
        return;
      }
      log.warn(`ffmpeg exited (${code}); restarting the test pattern`);
      this.#pendingIdr = "start";
      this.#spawn();
    });
  }

  #emitFrame(au: Uint8Array): void {
    if (this.#closed) return;
    const isIdr = isIdrAccessUnit("h264", au);
    let idrReason: SimIdrReason | undefined;
    if (isIdr) {
      idrReason = this.#pendingIdr;
      this.#restarting = false;
      this.#failures = 0;
    }
    const frame: SimVideoFrame = {
      data: au,
      isIdr,
      idrReason,
      timestamp: Math.round((performance.now() - this.#startedAt) * 90 + 90000 / this.#options.fps) >>> 0,
      loopIndex: -1,
    };
    try {
      this.emit("frame", frame);
    } catch (error) {
      log.error("video frame listener threw", error);
    }
  }

  #fail(error: Error): void {
    this.#closed = true;
    this.#kill();
    log.error(error.message);
    this.emit("error", error);
  }

  #kill(): void {
    const child = this.#process;
    this.#process = undefined;
    if (child && child.exitCode === null) child.kill("SIGKILL");
  }
}

export interface VideoSourceOptions {
  codec: VideoCodec;
  /** 10-bit video (the client negotiated HEVC Main10 or AV1 Main10). */
  tenBit?: boolean;
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** Use a live ffmpeg test pattern (H.264 only) instead of the committed loop. */
  livePattern?: boolean;
  ffmpegPath?: string;
  /** Which committed loop (default "periodic"). */
  keyframes?: LoopKeyframes;
  ignoreIdrRequest?: () => boolean;
  /** Loop only: filler up to about this many kbit/s. */
  padToKbps?: number;
}

/** The loop, or the live pattern when asked for, ffmpeg is usable and the codec is H.264. */
export function createVideoSource(options: VideoSourceOptions): VideoSource {
  if (options.livePattern) {
    if (options.codec !== "h264" || options.tenBit) {
      log.warn(`live test pattern is 8-bit H.264 only; playing the ${options.codec} loop`);
    } else if (!ffmpegAvailable(options.ffmpegPath)) {
      log.warn("ffmpeg with libx264 not found; playing the H.264 loop");
    } else {
      return new LivePatternSource(options);
    }
  }
  return new LoopVideoSource({
    codec: options.codec,
    ...(options.tenBit ? { tenBit: true } : {}),
    fps: options.fps,
    ...(options.keyframes ? { keyframes: options.keyframes } : {}),
    ...(options.ignoreIdrRequest ? { ignoreIdrRequest: options.ignoreIdrRequest } : {}),
    ...(options.padToKbps ? { padToKbps: options.padToKbps } : {}),
  });
}
