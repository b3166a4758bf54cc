/**
 * Fragmented MP4 (ISO/IEC 14496-12 "ISO BMFF", H.264 in it per ISO/IEC 14496-15) for Media Source
 * Extensions: an init segment from the stream's SPS and PPS, then one fragment per access unit, so
 * that a frame can be appended the moment it arrives (the latency of the MSE decode path).
 *
 * Why not a library: jmuxer (the kept H.264 → MSE muxer) imports Node's `stream`, which pulls a
 * ~130 KB polyfill into the UI bundle; it appends only on the next frame when the SourceBuffer is
 * busy, trims its buffer at keyframes it expects at a fixed rate (GameStream sends keyframes only
 * on request), and reads the SPS once. mux.js and mp4-muxer transmux whole GOPs. What we need is
 * ~10 boxes.
 *
 * Every box: size (u32, big-endian, including this header) · type (4 ASCII) · payload. "Full"
 * boxes start their payload with version (u8) · flags (u24).
 *
 *   init:     ftyp · moov( mvhd · trak( tkhd · mdia( mdhd · hdlr · minf( vmhd · dinf(dref(url)) ·
 *             stbl( stsd(avc1(avcC)) · stts · stsc · stsz · stco )))) · mvex(trex) )
 *   fragment: moof( mfhd · traf( tfhd · tfdt · trun ) ) · mdat
 */

/** Media time units per second (the 90 kHz video clock, as RTP's). */
export const TIMESCALE = 90_000;
const TRACK_ID = 1;

type Part = Uint8Array | number[];

const u16 = (v: number) => [(v >>> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const zeros = (n: number) => new Array<number>(n).fill(0);
/** The unity transformation matrix of mvhd and tkhd. */
const MATRIX = [...u32(0x0001_0000), ...u32(0), ...u32(0), ...u32(0), ...u32(0x0001_0000), ...u32(0), ...u32(0), ...u32(0), ...u32(0x4000_0000)];

function box(type: string, ...parts: Part[]): Uint8Array {
  let size = 8;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  out.set([...u32(size), ...ascii(type)]);
  let offset = 8;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const fullBox = (type: string, version: number, flags: number, ...parts: Part[]) => box(type, [version, (flags >>> 16) & 0xff, (flags >>> 8) & 0xff, flags & 0xff], ...parts);

export interface AvcTrack {
  /** SPS and PPS NAL units, without start codes. */
  sps: Uint8Array;
  pps: Uint8Array;
  width: number;
  height: number;
}

/** avcC (14496-15 5.3.3.1): version 1 · profile, compatibility, level (SPS bytes 1–3) · 4-byte NAL lengths · 1 SPS · 1 PPS. */
function avcC(track: AvcTrack): Uint8Array {
  const { sps, pps } = track;
  return box("avcC", [1, sps[1]!, sps[2]!, sps[3]!, 0xfc | 3, 0xe0 | 1, ...u16(sps.length)], sps, [1, ...u16(pps.length)], pps);
}

/** The init segment: one H.264 video track, no samples (they come in fragments). */
export function initSegment(track: AvcTrack): Uint8Array {
  const { width, height } = track;
  const ftyp = box("ftyp", ascii("isom"), u32(0x200), ascii("isom"), ascii("iso6"), ascii("avc1"), ascii("mp41"));
  const mvhd = fullBox("mvhd", 0, 0, u32(0), u32(0), u32(TIMESCALE), u32(0), u32(0x0001_0000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(TRACK_ID + 1));
  // flags 3: track enabled and in the movie.
  const tkhd = fullBox("tkhd", 0, 3, u32(0), u32(0), u32(TRACK_ID), zeros(4), u32(0), zeros(8), u16(0), u16(0), u16(0), zeros(2), MATRIX, u32(width << 16), u32(height << 16));
  // language "und" packed as three 5-bit letters.
  const mdhd = fullBox("mdhd", 0, 0, u32(0), u32(0), u32(TIMESCALE), u32(0), u16(0x55c4), u16(0));
  const hdlr = fullBox("hdlr", 0, 0, u32(0), ascii("vide"), zeros(12), ascii("mlstream video"), [0]);
  const vmhd = fullBox("vmhd", 0, 1, zeros(8));
  const dinf = box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1)));
  // VisualSampleEntry: reserved(6) · data_reference_index · pre_defined/reserved(16) · width · height ·
  // 72 dpi ×2 · reserved · frame_count 1 · compressorname(32) · depth 24 · pre_defined −1 · avcC.
  const avc1 = box("avc1", zeros(6), u16(1), zeros(16), u16(width), u16(height), u32(0x0048_0000), u32(0x0048_0000), u32(0), u16(1), zeros(32), u16(0x18), u16(0xffff), avcC(track));
  const stbl = box("stbl", fullBox("stsd", 0, 0, u32(1), avc1), fullBox("stts", 0, 0, u32(0)), fullBox("stsc", 0, 0, u32(0)), fullBox("stsz", 0, 0, u32(0), u32(0)), fullBox("stco", 0, 0, u32(0)));
  const trak = box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", vmhd, dinf, stbl)));
  const mvex = box("mvex", fullBox("trex", 0, 0, u32(TRACK_ID), u32(1), u32(0), u32(0), u32(0)));
  const moov = box("moov", mvhd, trak, mvex);
  const out = new Uint8Array(ftyp.length + moov.length);
  out.set(ftyp);
  out.set(moov, ftyp.length);
  return out;
}

/** Sample flags (14496-12 8.8.3.1): a sync sample depends on nothing; others depend on earlier ones and are not sync. */
const SYNC_SAMPLE = 0x0200_0000;
const NON_SYNC_SAMPLE = 0x0101_0000;
/** tfhd flag: offsets are from the start of the moof. */
const DEFAULT_BASE_IS_MOOF = 0x02_0000;
/** trun flags: data-offset, sample-duration, sample-size, sample-flags present. */
const TRUN_FLAGS = 0x0001 | 0x0100 | 0x0200 | 0x0400;
/** Bytes of moof for one sample: moof 8 + mfhd 16 + traf 8 + tfhd 16 + tfdt 20 + trun 12+4+4+12. */
const MOOF_SIZE = 8 + 16 + 8 + 16 + 20 + 32;

/**
 * One fragment carrying one access unit. `units` are its NAL units without start codes (parameter
 * sets and delimiters already taken out); they are written length-prefixed (AVCC) into the mdat.
 */
export function fragment(sequence: number, decodeTime: number, duration: number, keyframe: boolean, units: readonly Uint8Array[]): Uint8Array {
  let payload = 0;
  for (const unit of units) payload += 4 + unit.length;
  const out = new Uint8Array(MOOF_SIZE + 8 + payload);
  const view = new DataView(out.buffer);
  let p = 0;
  const header = (size: number, type: string) => {
    view.setUint32(p, size);
    for (let i = 0; i < 4; i++) out[p + 4 + i] = type.charCodeAt(i);
    p += 8;
  };
  const full = (size: number, type: string, version: number, flags: number) => {
    header(size, type);
    view.setUint32(p, ((version << 24) | flags) >>> 0);
    p += 4;
  };
  header(MOOF_SIZE, "moof");
  full(16, "mfhd", 0, 0);
  view.setUint32(p, sequence >>> 0);
  p += 4;
  header(MOOF_SIZE - 24, "traf");
  full(16, "tfhd", 0, DEFAULT_BASE_IS_MOOF);
  view.setUint32(p, TRACK_ID);
  p += 4;
  // tfdt version 1: a 64-bit base media decode time.
  full(20, "tfdt", 1, 0);
  view.setUint32(p, Math.floor(decodeTime / 2 ** 32));
  view.setUint32(p + 4, decodeTime >>> 0);
  p += 8;
  full(32, "trun", 0, TRUN_FLAGS);
  view.setUint32(p, 1); // sample_count
  view.setInt32(p + 4, MOOF_SIZE + 8); // data_offset: the mdat's payload, from the moof's start
  view.setUint32(p + 8, duration);
  view.setUint32(p + 12, payload);
  view.setUint32(p + 16, keyframe ? SYNC_SAMPLE : NON_SYNC_SAMPLE);
  p += 20;
  header(8 + payload, "mdat");
  for (const unit of units) {
    view.setUint32(p, unit.length);
    out.set(unit, p + 4);
    p += 4 + unit.length;
  }
  return out;
}
