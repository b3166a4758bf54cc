/**
 * Cuts an Annex-B elementary stream into access units at its access unit delimiters (H.264 NAL 9,
 * HEVC NAL 35), for the simulated host's media sources: once over the committed loop at load, and
 * incrementally over ffmpeg's stdout for the live test pattern.
 *
 * Every AU keeps its leading AUD, as an encoder emits it (the client strips it, §5.5). Bytes before
 * the first AUD are dropped. Incrementally, an AU is complete only when the next AUD shows up, so
 * the live source runs one frame behind the encoder; `flush()` hands out the last one.
 */
import { type VideoCodec, findStartCode, isAccessUnitDelimiter, nalTypeAt, startCodeLength } from "../moonlight/video/nal.ts";

/** Splits a whole stream at once. */
export function splitAccessUnits(codec: VideoCodec, stream: Uint8Array): Uint8Array[] {
  const splitter = new AccessUnitSplitter(codec);
  const units = splitter.push(stream);
  const last = splitter.flush();
  if (last) units.push(last);
  return units;
}

export class AccessUnitSplitter {
  readonly #codec: VideoCodec;
  #buffer = new Uint8Array(0);
  /** Offset of the AUD that starts the AU being collected, or −1 before the first AUD. */
  #auStart = -1;
  /** Scanning resumes here (a start code may straddle two chunks, so we back off a little). */
  #scanFrom = 0;
  /** Refuse to buffer more than this without an AUD (a broken encoder must not eat memory). */
  readonly #maxBuffer: number;

  constructor(codec: VideoCodec, options: { maxBufferBytes?: number } = {}) {
    this.#codec = codec;
    this.#maxBuffer = options.maxBufferBytes ?? 16 * 1024 * 1024;
  }

  /** Appends bytes; returns the access units completed by them (copies, owned by the caller). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length === 0) return [];
    const merged = new Uint8Array(this.#buffer.length + chunk.length);
    merged.set(this.#buffer, 0);
    merged.set(chunk, this.#buffer.length);
    this.#buffer = merged;

    const out: Uint8Array[] = [];
    const buf = this.#buffer;
    const end = buf.length;
    let pos = findStartCode(buf, this.#scanFrom, end);
    while (pos < end) {
      const sc = startCodeLength(buf, pos, end);
      // The NAL header byte must be present before we can classify the start code.
      if (sc === 0 || pos + sc >= end) break;
      if (isAccessUnitDelimiter(this.#codec, nalTypeAt(this.#codec, buf, pos, end))) {
        // A 3-byte start code preceded by a zero is the 4-byte form: keep the zero with this AU.
        const auBegin = sc === 3 && pos > 0 && buf[pos - 1] === 0 ? pos - 1 : pos;
        if (this.#auStart >= 0 && auBegin > this.#auStart) out.push(buf.slice(this.#auStart, auBegin));
        this.#auStart = auBegin;
      }
      pos = findStartCode(buf, pos + sc, end);
    }
    // Keep only the unfinished AU; rescan its last few bytes next time.
    const keepFrom = this.#auStart >= 0 ? this.#auStart : Math.max(0, end - 4);
    this.#buffer = buf.slice(keepFrom);
    this.#auStart = this.#auStart >= 0 ? 0 : -1;
    this.#scanFrom = Math.max(this.#auStart >= 0 ? 1 : 0, this.#buffer.length - 4);
    if (this.#buffer.length > this.#maxBuffer) {
      // No delimiter for far too long: drop what we have and wait for the next AUD.
      this.#buffer = new Uint8Array(0);
      this.#auStart = -1;
      this.#scanFrom = 0;
    }
    return out;
  }

  /** The AU still being collected (stream ended), or undefined. */
  flush(): Uint8Array | undefined {
    const last = this.#auStart >= 0 && this.#buffer.length > 0 ? this.#buffer.slice(this.#auStart) : undefined;
    this.#buffer = new Uint8Array(0);
    this.#auStart = -1;
    this.#scanFrom = 0;
    return last;
  }
}
