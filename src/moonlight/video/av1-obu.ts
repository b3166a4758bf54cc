/**
 * AV1 open bitstream units (AV1 spec §5.3), as a GameStream host sends them: a "low overhead"
 * stream, one temporal unit per frame, every OBU with its size field.
 *
 * OBU header (1 or 2 bytes):
 *   byte 0: forbidden(1) | obu_type(4) | extension_flag(1) | has_size_field(1) | reserved(1)
 *   byte 1 (extension_flag): temporal_id(3) | spatial_id(2) | reserved(3)
 * then obu_size as LEB128 (when has_size_field), then obu_size payload bytes.
 *
 * LEB128: 7 bits per byte, least significant group first, high bit = "more bytes follow"; AV1
 * allows at most 8 bytes and values below 2^32.
 */

export const AV1_OBU = {
  SEQUENCE_HEADER: 1,
  TEMPORAL_DELIMITER: 2,
  FRAME_HEADER: 3,
  TILE_GROUP: 4,
  METADATA: 5,
  FRAME: 6,
  REDUNDANT_FRAME_HEADER: 7,
  TILE_LIST: 8,
  PADDING: 15,
} as const;

export class Av1BitstreamError extends Error {
  override name = "Av1BitstreamError";
}

/** One OBU inside a buffer, by offsets (no copy). */
export interface ObuRange {
  type: number;
  /** Offset of the header byte. */
  start: number;
  /** 1, or 2 with the extension byte. */
  headerLength: number;
  /** Offset of the payload (after header and size field). */
  payloadStart: number;
  /** Exclusive end of the payload. */
  end: number;
}

/** Bytes `value` takes as LEB128. */
export function leb128Length(value: number): number {
  let n = 1;
  for (let v = value >>> 7; v > 0; v >>>= 7) n++;
  return n;
}

/** Writes `value` as LEB128 at `at`; returns the offset after it. */
export function writeLeb128(out: Uint8Array, at: number, value: number): number {
  let v = value >>> 0;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/**
 * Reads a LEB128 at `at` (not past `end`). Returns the value, and its length in `lengthOut[0]`
 * (the caller's reused array: no allocation per call); −1 when it is cut off or longer than 8 bytes.
 */
export function readLeb128(buf: Uint8Array, at: number, end: number, lengthOut: number[]): number {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (at + i >= end) break;
    const byte = buf[at + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) {
      lengthOut[0] = i + 1;
      return value > 0xffffffff ? -1 : value;
    }
  }
  lengthOut[0] = 0;
  return -1;
}

const lebLength = [0];

/** The OBUs of a low-overhead buffer (every OBU must carry its size). Allocates: not for the hot path. */
export function splitObus(buf: Uint8Array, start = 0, end = buf.length): ObuRange[] {
  const obus: ObuRange[] = [];
  let at = start;
  while (at < end) {
    const header = buf[at]!;
    if (header & 0x80) throw new Av1BitstreamError(`forbidden bit set in the OBU header at ${at}`);
    const headerLength = header & 0x04 ? 2 : 1;
    if ((header & 0x02) === 0) throw new Av1BitstreamError(`OBU at ${at} has no size field`);
    const size = readLeb128(buf, at + headerLength, end, lebLength);
    if (size < 0) throw new Av1BitstreamError(`bad OBU size at ${at}`);
    const payloadStart = at + headerLength + lebLength[0]!;
    if (payloadStart + size > end) throw new Av1BitstreamError(`OBU at ${at} runs past the end (${size} bytes)`);
    obus.push({ type: (header >> 3) & 0x0f, start: at, headerLength, payloadStart, end: payloadStart + size });
    at = payloadStart + size;
  }
  return obus;
}

/** Cuts a low-overhead stream into temporal units, each starting with its temporal delimiter. */
export function splitTemporalUnits(stream: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let unitStart = -1;
  for (const obu of splitObus(stream)) {
    if (obu.type !== AV1_OBU.TEMPORAL_DELIMITER) continue;
    if (unitStart >= 0) units.push(stream.subarray(unitStart, obu.start));
    unitStart = obu.start;
  }
  if (unitStart >= 0) units.push(stream.subarray(unitStart));
  return units;
}

/**
 * True when the temporal unit starts a new coded video sequence: it carries a sequence header and
 * its first frame is a shown key frame. In a frame header (§5.9.2, with
 * reduced_still_picture_header = 0, as every video stream has) the first bit is
 * show_existing_frame and the next two are frame_type (0 = KEY_FRAME).
 */
export function isAv1KeyTemporalUnit(tu: Uint8Array, start = 0, end = tu.length): boolean {
  let sequenceHeader = false;
  let at = start;
  while (at < end) {
    const header = tu[at]!;
    if (header & 0x80 || (header & 0x02) === 0) return false;
    const type = (header >> 3) & 0x0f;
    const headerLength = header & 0x04 ? 2 : 1;
    const size = readLeb128(tu, at + headerLength, end, lebLength);
    if (size < 0) return false;
    const payload = at + headerLength + lebLength[0]!;
    if (type === AV1_OBU.SEQUENCE_HEADER) sequenceHeader = true;
    if (type === AV1_OBU.FRAME || type === AV1_OBU.FRAME_HEADER) {
      if (!sequenceHeader || size === 0 || payload >= end) return false;
      const bits = tu[payload]!;
      return (bits & 0x80) === 0 && (bits & 0x60) === 0;
    }
    at = payload + size;
  }
  return false;
}
