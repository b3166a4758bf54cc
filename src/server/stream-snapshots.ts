/**
 * The latest picture of each streamer, for dashboards (GET /api/streamers/{id}/snapshot).
 *
 * GameStream hosts send a keyframe only when asked, so a picture needs a keyframe and every frame
 * after it. On the first request for a streamer its video is tapped (the same media tap the
 * WebSocket viewers use) and a keyframe is asked for; from then on the buffer holds the latest
 * keyframe and the frames after it, up to FRAMES_BEFORE_NEW_KEYFRAME, past which a fresh keyframe
 * is asked for so that decoding stays short. The tap stays on while requests keep coming
 * (LINGER_MS after the last), so a dashboard polling every few seconds costs no keyframe per poll.
 * A decoded image is reused for CACHE_MS, and concurrent requests share one decode.
 */
import { logger } from "../core/log.ts";
import { decodeLastFrame, FfmpegMissingError, type ImageFormat } from "./frame-decoder.ts";
import { HttpError } from "./http-error.ts";
import type { StreamerSupervisor, VideoTap } from "./streamer-supervisor.ts";

const log = logger("snapshot");

/** A decoded image serves every request within this long. */
export const CACHE_MS = 2000;
/** The tap stays on this long after the last request. */
const LINGER_MS = 15_000;
/** A watch whose last frame is older than this starts over. */
const STALE_MS = 5000;
/** How long a request waits for the first keyframe. */
const KEYFRAME_WAIT_MS = 5000;
/** Past this many frames after the keyframe a new keyframe is asked for (decode cost stays bounded). */
const FRAMES_BEFORE_NEW_KEYFRAME = 60;
/** Hard bounds of the buffer: beyond them frames wait for the next keyframe. */
const MAX_FRAMES = 600;
const MAX_BUFFER_BYTES = 32 << 20;

export interface Snapshot {
  image: Uint8Array<ArrayBuffer>;
  format: ImageFormat;
  /** When the frames decoded were received (ms since the epoch). */
  frameAt: number;
  decodeMs: number;
}

type Codec = "h264" | "hevc" | "av1";

interface Watch {
  frames: Uint8Array[];
  bytes: number;
  codec: Codec | undefined;
  lastFrameAt: number;
  askedForKeyframe: boolean;
  untap: () => void;
  linger: ReturnType<typeof setTimeout>;
  keyframeWaiters: (() => void)[];
  cache: Map<ImageFormat, { at: number; snapshot: Promise<Snapshot> }>;
}

export class SnapshotTimeoutError extends HttpError {
  constructor(id: string) {
    super(504, "snapshot_timeout", `streamer '${id}' sent no keyframe within ${KEYFRAME_WAIT_MS} ms`);
  }
}

export class StreamSnapshots {
  readonly #supervisor: StreamerSupervisor;
  readonly #watches = new Map<string, Watch>();
  /** How many images were decoded (each one ffmpeg run), for tests and metrics. */
  decodes = 0;

  constructor(supervisor: StreamerSupervisor) {
    this.#supervisor = supervisor;
  }

  async take(id: string, format: ImageFormat): Promise<Snapshot> {
    const ffmpeg = Bun.which("ffmpeg");
    if (!ffmpeg) throw new FfmpegMissingError();
    const view = this.#supervisor.get(id); // 404 for an unknown streamer
    if (view.status !== "live") throw new HttpError(409, "streamer_not_live", `streamer '${id}' is ${view.status}; a snapshot needs a live stream`);
    const watch = this.#watch(id);
    const cached = watch.cache.get(format);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.snapshot;
    const snapshot = this.#decode(id, watch, ffmpeg, format);
    watch.cache.set(format, { at: Date.now(), snapshot });
    snapshot.catch(() => {
      if (watch.cache.get(format)?.snapshot === snapshot) watch.cache.delete(format);
    });
    return snapshot;
  }

  /** Stops every tap (server shutdown, tests). Idempotent. */
  close(): void {
    for (const id of [...this.#watches.keys()]) this.#unwatch(id);
  }

  async #decode(id: string, watch: Watch, ffmpeg: string, format: ImageFormat): Promise<Snapshot> {
    if (watch.frames.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new SnapshotTimeoutError(id)), KEYFRAME_WAIT_MS);
        watch.keyframeWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const frames = watch.frames.slice();
    const frameAt = watch.lastFrameAt;
    const started = performance.now();
    const image = await decodeLastFrame(frames, { ffmpeg, codec: watch.codec ?? "h264", format });
    this.decodes++;
    const decodeMs = Math.round(performance.now() - started);
    log.debug(`${id}: ${format} snapshot of ${frames.length} frames in ${decodeMs} ms (${image.length} bytes)`);
    return { image, format, frameAt, decodeMs };
  }

  #watch(id: string): Watch {
    let watch = this.#watches.get(id);
    // Frames stopped (a new streamer under the same id, or a host that sends nothing while the
    // screen is still): start over with a fresh tap and keyframe.
    if (watch && watch.frames.length > 0 && Date.now() - watch.lastFrameAt > STALE_MS) {
      this.#unwatch(id);
      watch = undefined;
    }
    if (watch) {
      clearTimeout(watch.linger);
      watch.linger = setTimeout(() => this.#unwatch(id), LINGER_MS);
      return watch;
    }
    const created: Watch = {
      frames: [],
      bytes: 0,
      codec: undefined,
      lastFrameAt: 0,
      askedForKeyframe: false,
      untap: () => {},
      linger: setTimeout(() => this.#unwatch(id), LINGER_MS),
      keyframeWaiters: [],
      cache: new Map(),
    };
    const tap: VideoTap = (frame) => this.#onFrame(id, created, frame);
    created.untap = this.#supervisor.tapVideo(id, tap);
    this.#watches.set(id, created);
    return created;
  }

  #onFrame(id: string, watch: Watch, frame: Parameters<VideoTap>[0]): void {
    if (frame.keyframe) {
      watch.frames = [frame.data];
      watch.bytes = frame.data.length;
      watch.codec = frame.codec;
      watch.askedForKeyframe = false;
      watch.lastFrameAt = Date.now();
      for (const wake of watch.keyframeWaiters.splice(0)) wake();
      return;
    }
    if (watch.frames.length === 0 || watch.frames.length >= MAX_FRAMES || watch.bytes + frame.data.length > MAX_BUFFER_BYTES) return;
    watch.frames.push(frame.data);
    watch.bytes += frame.data.length;
    watch.lastFrameAt = Date.now();
    if (watch.frames.length >= FRAMES_BEFORE_NEW_KEYFRAME && !watch.askedForKeyframe) {
      watch.askedForKeyframe = true;
      try {
        this.#supervisor.requestKeyframe(id);
      } catch {
        // the streamer is gone: the linger timer ends the watch
      }
    }
  }

  #unwatch(id: string): void {
    const watch = this.#watches.get(id);
    if (!watch) return;
    this.#watches.delete(id);
    clearTimeout(watch.linger);
    watch.untap();
  }
}
