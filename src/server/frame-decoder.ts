/**
 * Decodes a run of video frames — a keyframe and the frames after it, Annex-B (H.264/HEVC) or
 * AV1 temporal units — to one still image of the last frame, with Debian's `ffmpeg` spawned per
 * call: input piped, bounded in time and output size. mlstream carries no video decoder of its own.
 */
import { HttpError } from "./http-error.ts";

export type ImageFormat = "png" | "jpeg";

export const IMAGE_TYPES: Record<ImageFormat, string> = { png: "image/png", jpeg: "image/jpeg" };

/** ffmpeg's demuxer for each stream codec. */
const DEMUXER = { h264: "h264", hevc: "hevc", av1: "obu" } as const;

export class FfmpegMissingError extends HttpError {
  constructor() {
    super(501, "ffmpeg_missing", "snapshots are decoded with ffmpeg, which this server does not have on its PATH: install it (Debian: apt-get install ffmpeg) and restart serve");
  }
}

export class SnapshotDecodeError extends HttpError {
  constructor(detail: string) {
    super(502, "snapshot_decode_failed", `ffmpeg could not decode the latest frames: ${detail}`);
  }
}

export interface DecodeOptions {
  /** ffmpeg's path (found on PATH by the caller). */
  ffmpeg: string;
  codec: keyof typeof DEMUXER;
  format: ImageFormat;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

/** The last decodable frame of `frames` (frames[0] a keyframe) as a PNG or JPEG image. */
export async function decodeLastFrame(frames: readonly Uint8Array[], options: DecodeOptions): Promise<Uint8Array<ArrayBuffer>> {
  // Frame n counts decoded frames; if the decoder dropped one, the keyframe alone is the fallback.
  const last = await runFfmpeg(frames, options, frames.length - 1);
  if (last.length > 0) return last;
  const first = frames.length > 1 ? await runFfmpeg(frames.slice(0, 1), options, 0) : last;
  if (first.length === 0) throw new SnapshotDecodeError("no picture in the keyframe");
  return first;
}

async function runFfmpeg(frames: readonly Uint8Array[], options: DecodeOptions, index: number): Promise<Uint8Array<ArrayBuffer>> {
  const { ffmpeg, codec, format } = options;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxOutputBytes = options.maxOutputBytes ?? 32 << 20;
  const args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", DEMUXER[codec], "-i", "pipe:0"];
  args.push("-vf", `select=gte(n\\,${index})`, "-frames:v", "1", "-f", "image2pipe");
  args.push(...(format === "png" ? ["-c:v", "png"] : ["-c:v", "mjpeg", "-q:v", "4"]), "pipe:1");
  const proc = Bun.spawn(args, { stdin: "pipe", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  const writing = (async () => {
    try {
      for (const frame of frames) proc.stdin.write(frame);
      await proc.stdin.end();
    } catch {
      // ffmpeg stopped reading (it had its frame, or failed): its exit says which.
    }
  })();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
    size += chunk.length;
    if (size > maxOutputBytes) {
      proc.kill("SIGKILL");
      throw new SnapshotDecodeError(`the image is larger than ${maxOutputBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr as ReadableStream).text(), writing]);
  if (proc.signalCode === "SIGKILL") throw new SnapshotDecodeError(`ffmpeg took longer than ${timeoutMs} ms`);
  if (code !== 0) throw new SnapshotDecodeError(stderr.trim().split("\n").slice(-2).join("; ") || `ffmpeg exited with ${code}`);
  return Buffer.concat(chunks);
}
