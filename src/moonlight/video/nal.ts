/**
 * Annex-B helpers for H.264 and HEVC access units: start-code scanning, NAL unit types, and the
 * frame classification the GameStream client applies (reference §5.5).
 *
 * Annex B: every NAL unit is preceded by a start code, 00 00 01 or 00 00 00 01. The NAL type is in
 * the first byte after it: H.264 `byte & 0x1f`, HEVC `(byte >> 1) & 0x3f`. All functions work on
 * (buffer, start, end) ranges so that callers can scan datagram payloads in place.
 */

export type VideoCodec = "h264" | "hevc" | "av1";

export const H264_NAL = {
  NON_IDR_SLICE: 1,
  IDR_SLICE: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
  FILLER: 12,
} as const;

export const HEVC_NAL = {
  /** 16…21 are IRAP pictures (BLA, IDR, CRA): a decoder can start there. */
  IRAP_FIRST: 16,
  IDR_W_RADL: 19,
  IDR_N_LP: 20,
  IRAP_LAST: 21,
  VPS: 32,
  SPS: 33,
  PPS: 34,
  AUD: 35,
  EOS: 36,
  FILLER: 38,
  PREFIX_SEI: 39,
  SUFFIX_SEI: 40,
} as const;

/**
 * Length of the start code at `pos` (3 or 4), or 0 if none starts there. Like the reference
 * client, a start code must be followed by at least one byte (the NAL header).
 */
export function startCodeLength(buf: Uint8Array, pos: number, end: number): number {
  const remaining = end - pos;
  if (remaining <= 3 || buf[pos] !== 0 || buf[pos + 1] !== 0) return 0;
  const b2 = buf[pos + 2];
  if (b2 === 1) return 3;
  if (b2 === 0 && remaining > 4 && buf[pos + 3] === 1) return 4;
  return 0;
}

/**
 * Position of the next start code at or after `from`, or `end` if there is none. Scans with a
 * stride of 3 around the zero bytes that any start code needs, so long slices cost about n/3 reads.
 */
export function findStartCode(buf: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i + 3 < end) {
    const b2 = buf[i + 2]!;
    if (b2 > 1) {
      i += 3; // no start code can begin at i, i+1 or i+2
      continue;
    }
    if (startCodeLength(buf, i, end) !== 0) return i;
    i++;
  }
  return end;
}

/** Position just after the start code at `pos` and the NAL that follows it: the next start code or `end`. */
export function nextNal(buf: Uint8Array, pos: number, end: number): number {
  const sc = startCodeLength(buf, pos, end);
  return findStartCode(buf, pos + (sc === 0 ? 1 : sc), end);
}

/** Type of the NAL unit whose start code begins at `pos` (−1 if no start code is there). */
export function nalTypeAt(codec: VideoCodec, buf: Uint8Array, pos: number, end: number): number {
  const sc = startCodeLength(buf, pos, end);
  if (sc === 0) return -1;
  const header = buf[pos + sc]!;
  return codec === "hevc" ? (header >> 1) & 0x3f : header & 0x1f;
}

export function isAccessUnitDelimiter(codec: VideoCodec, type: number): boolean {
  return codec === "hevc" ? type === HEVC_NAL.AUD : type === H264_NAL.AUD;
}

/** SEI NAL units the client strips from the start of a frame (HEVC: prefix SEI only). */
export function isSei(codec: VideoCodec, type: number): boolean {
  return codec === "hevc" ? type === HEVC_NAL.PREFIX_SEI : type === H264_NAL.SEI;
}

export function isPictureParameterSet(codec: VideoCodec, type: number): boolean {
  return codec === "hevc" ? type === HEVC_NAL.PPS : type === H264_NAL.PPS;
}

/**
 * The NAL type that marks an IDR frame when it comes first: SPS for H.264, VPS for HEVC. The
 * GameStream client treats exactly these frames as key frames (the host must send parameter sets
 * in-band with every IDR).
 */
export function isKeyFrameStart(codec: VideoCodec, type: number): boolean {
  return codec === "hevc" ? type === HEVC_NAL.VPS : type === H264_NAL.SPS;
}

/** A slice a decoder can start from: H.264 IDR slice, HEVC IRAP (16–21). */
export function isRandomAccessSlice(codec: VideoCodec, type: number): boolean {
  return codec === "hevc" ? type >= HEVC_NAL.IRAP_FIRST && type <= HEVC_NAL.IRAP_LAST : type === H264_NAL.IDR_SLICE;
}

export interface NalUnitRange {
  type: number;
  /** Offset of the start code. */
  start: number;
  /** Offset of the NAL header byte (start + start-code length). */
  payloadStart: number;
  /** Exclusive end (the next start code, or the end of the buffer; trailing zeros included). */
  end: number;
}

/** Lists the NAL units of an Annex-B buffer (bytes before the first start code are skipped). Allocates: not for the hot path. */
export function splitNalUnits(codec: VideoCodec, buf: Uint8Array, start = 0, end = buf.length): NalUnitRange[] {
  const units: NalUnitRange[] = [];
  let pos = findStartCode(buf, start, end);
  while (pos < end) {
    const sc = startCodeLength(buf, pos, end);
    const next = findStartCode(buf, pos + sc, end);
    units.push({ type: nalTypeAt(codec, buf, pos, end), start: pos, payloadStart: pos + sc, end: next });
    pos = next;
  }
  return units;
}

/**
 * True if the access unit is an IDR frame by the client's rule: after skipping a leading AUD and
 * SEI NAL units, the first NAL unit is an SPS (H.264) or VPS (HEVC).
 */
export function isIdrAccessUnit(codec: VideoCodec, buf: Uint8Array, start = 0, end = buf.length): boolean {
  let pos = findStartCode(buf, start, end);
  while (pos < end) {
    const type = nalTypeAt(codec, buf, pos, end);
    if (!isAccessUnitDelimiter(codec, type) && !isSei(codec, type)) return isKeyFrameStart(codec, type);
    pos = nextNal(buf, pos, end);
  }
  return false;
}
