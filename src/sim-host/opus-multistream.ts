/**
 * Opus multistream packets for the simulated host's 5.1 / 7.1 audio (§6.5), and the layout the
 * client's decoder uses.
 *
 * A multistream packet (RFC 6716 Appendix B, RFC 7845 §5.1.1) is the packets of its N streams one
 * after the other: streams 0…N−2 in self-delimited framing (an extra frame-length field after the
 * TOC byte — for code 3 after the frame-count, padding-length and VBR length fields — gives the
 * length of the last frame, so the decoder knows where the stream's packet ends), the last stream in
 * normal framing (it takes the rest). The first `coupled` streams are stereo, the others mono; all
 * must last equally long.
 *
 * The sim has a stereo loop only, so it sends the loop on stream 0 (the client's FL/FR with
 * Sunshine's normal-quality layouts) and, on every other stream, the smallest valid packet of the
 * same duration: the loop packet's TOC configuration with code 0 (one frame; code 1 for two) and
 * zero-length frames. A zero-length frame is what a DTX encoder sends for silence; libopus decodes it
 * by concealment, which for a stream that never had a signal is silence.
 */

/** Streams and coupled (stereo) streams of an Opus multistream layout. */
export interface OpusStreamCounts {
  streams: number;
  coupled: number;
}

/** A full Opus multistream decoder configuration, as moonlight-common-c builds it (§2.6). */
export interface OpusLayout extends OpusStreamCounts {
  channels: number;
  /** Per output channel (client order FL FR C LFE RL RR SL SR): the decoded channel it takes. */
  mapping: number[];
}

export function checkStreamCounts(counts: OpusStreamCounts): void {
  const { streams, coupled } = counts;
  if (!Number.isInteger(streams) || streams < 1 || streams > 255) throw new RangeError(`an Opus multistream packet has 1–255 streams, not ${streams}`);
  if (!Number.isInteger(coupled) || coupled < 0 || coupled > streams) throw new RangeError(`${coupled} coupled streams out of ${streams}`);
}

/**
 * The smallest valid packet for one stream: `frameCount` zero-length frames under `toc`'s
 * configuration (code 0 for one frame, 1 for two, else CBR code 3), the stereo flag as given. In
 * self-delimited framing the (zero) frame length follows.
 */
export function silentStreamPacket(toc: number, frameCount: number, stereo: boolean, selfDelimited: boolean): Uint8Array {
  if (!Number.isInteger(frameCount) || frameCount < 1 || frameCount > 48) throw new RangeError(`an Opus packet holds 1–48 frames, not ${frameCount}`);
  const head = (toc & 0xf8) | (stereo ? 0x04 : 0);
  const bytes = frameCount === 1 ? [head] : frameCount === 2 ? [head | 1] : [head | 3, frameCount];
  if (selfDelimited) bytes.push(0);
  return Uint8Array.from(bytes);
}

/**
 * A multistream packet: `first` (stream 0, already in the framing its position needs —
 * self-delimited unless it is the only stream) followed by a silent packet for each other stream of
 * `layout`, with `first`'s TOC configuration and frame count so every stream lasts as long.
 */
export function opusMultistreamPacket(first: Uint8Array, toc: number, frameCount: number, layout: OpusStreamCounts): Uint8Array {
  checkStreamCounts(layout);
  const parts = [first];
  for (let s = 1; s < layout.streams; s++) parts.push(silentStreamPacket(toc, frameCount, s < layout.coupled, s < layout.streams - 1));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The digits after `a=fmtp:97 surround-params=<channels>`: stream count, coupled count, one
 * mapping digit per channel (single decimal digits, as the client reads them). Undefined if the
 * client would refuse them.
 */
function parseLayoutDigits(rest: string, channels: number): OpusLayout | undefined {
  if (rest.length < 2 + channels || !/^\d+$/.test(rest.slice(0, 2 + channels))) return undefined;
  const digits = [...rest.slice(0, 2 + channels)].map(Number);
  const [streams, coupled] = [digits[0]!, digits[1]!];
  // The client would take these too, but its decoder could not be created.
  if (streams < 1 || coupled > streams) return undefined;
  return { channels, streams, coupled, mapping: digits.slice(2) };
}

/**
 * The Opus layout moonlight-common-c's parseOpusConfigurations() derives from the DESCRIBE reply's
 * surround-params lines (in reply order) for `channels` and the quality it then asked for: stereo
 * is always 2 / 1 / 1; otherwise the first line for that channel count is the normal-quality layout
 * (its mapping re-ordered for GFE's LFE position), the second the high-quality one; with no line,
 * 5.1 falls back to 4 / 2 and 7.1 fails (undefined).
 */
export function clientOpusLayout(surroundParams: readonly string[], channels: number, highQuality: boolean): OpusLayout | undefined {
  if (channels === 2) return { channels: 2, streams: 1, coupled: 1, mapping: [0, 1] };
  const prefix = String(channels);
  const matching = surroundParams.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  if (matching.length === 0) return channels === 6 ? { channels: 6, streams: 4, coupled: 2, mapping: [0, 4, 1, 5, 2, 3] } : undefined;
  // The client asks for high quality only when a second layout exists.
  if (highQuality && matching.length >= 2) return parseLayoutDigits(matching[1]!, channels);
  const normal = parseLayoutDigits(matching[0]!, channels);
  if (normal && (channels === 6 || channels === 8)) {
    const m = normal.mapping;
    normal.mapping = [m[0]!, m[1]!, m[2]!, m[channels - 1]!, ...m.slice(3, channels - 1)];
  }
  return normal;
}
