/**
 * A synthetic 1080p60-shaped H.264 stream for the fan-out benchmark: Annex-B access units with the
 * sizes and NAL layout a GameStream host sends (the content does not decode; the RTP path does not
 * care). P-frames: AUD + one non-IDR slice, mean sized so that a 2 s GOP averages the bitrate,
 * varying ±30 %. IDRs: AUD + SPS + PPS + IDR slice, 200–300 kB. Slice bytes are random with no
 * zero bytes, so no start code can appear inside a slice (real slices carry emulation prevention).
 */
import { seededRandom } from "../../../tests/support/seeded-random.ts";

export interface SyntheticStreamOptions {
  fps: number;
  bitsPerSecond: number;
  /** Mean IDR size in bytes (IDRs vary 200–300 kB around 250 kB by default). */
  idrBytes?: number;
  /** Seconds between periodic IDRs (used only to size P-frames). */
  idrPeriodSeconds?: number;
  /** Distinct frames to pre-build (frames are reused round-robin). */
  poolSize?: number;
  seed?: number;
}

export class SyntheticStream {
  readonly pFrames: Uint8Array[] = [];
  readonly idrFrames: Uint8Array[] = [];
  readonly pFrameMeanBytes: number;

  constructor(options: SyntheticStreamOptions) {
    const random = seededRandom(options.seed ?? 1);
    const idrBytes = options.idrBytes ?? 250_000;
    const framesPerGop = Math.round(options.fps * (options.idrPeriodSeconds ?? 2));
    const bytesPerGop = (options.bitsPerSecond / 8) * (framesPerGop / options.fps);
    this.pFrameMeanBytes = (bytesPerGop - idrBytes) / (framesPerGop - 1);
    const pool = options.poolSize ?? 120;
    for (let i = 0; i < pool; i++) this.pFrames.push(accessUnit(Math.round(this.pFrameMeanBytes * (0.7 + 0.6 * random())), false));
    for (let i = 0; i < 8; i++) this.idrFrames.push(accessUnit(Math.round(idrBytes * (0.8 + 0.4 * random())), true));
  }

  frame(index: number, idr: boolean): Uint8Array {
    const list = idr ? this.idrFrames : this.pFrames;
    return list[index % list.length]!;
  }
}

const AUD = [0, 0, 0, 1, 0x09, 0xf0];
// SPS/PPS only need the right NAL types: the depacketizer classifies a frame as IDR when the first
// NAL after the AUD is an SPS.
const SPS = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x2a, 0xac, 0x2b, 0x40, 0x3c, 0x01, 0x13, 0xf2, 0xe0];
const PPS = [0, 0, 0, 1, 0x68, 0xee, 0x3c, 0xb0];

function accessUnit(size: number, idr: boolean): Uint8Array {
  const head = idr ? [...AUD, ...SPS, ...PPS, 0, 0, 0, 1, 0x65] : [...AUD, 0, 0, 0, 1, 0x41];
  const au = new Uint8Array(size);
  for (let o = 0; o < size; o += 65536) crypto.getRandomValues(au.subarray(o, Math.min(size, o + 65536)));
  for (let i = 0; i < size; i++) if (au[i] === 0) au[i] = 0x80;
  au.set(head);
  return au;
}
