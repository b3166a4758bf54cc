/**
 * H.264 sequence parameter set facts that the layers above need: the profile and level, as the
 * `profile-level-id` a WebRTC offer must carry (field notes: the library default 42e01f is too low
 * for 1080p60, so it has to come from the stream).
 *
 * SPS layout (ITU-T H.264 §7.3.2.1.1), after the 1-byte NAL header:
 *   profile_idc u8 | constraint_set0..5 flags + 2 reserved bits u8 | level_idc u8 | ue(v) …
 * The RBSP may contain emulation-prevention bytes (00 00 03), removed before reading.
 */
import { H264_NAL, findStartCode, nalTypeAt, nextNal, startCodeLength } from "./nal.ts";

export interface H264Profile {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  /** Six lowercase hex digits, e.g. "640028" (High, level 4.0). */
  profileLevelId: string;
}

/**
 * Copies up to `max` RBSP bytes from a NAL unit body (`start` just after the NAL header),
 * dropping emulation-prevention bytes.
 */
export function readRbsp(buf: Uint8Array, start: number, end: number, max: number): Uint8Array {
  const out = new Uint8Array(Math.min(max, end - start));
  let n = 0;
  let zeros = 0;
  for (let i = start; i < end && n < out.length; i++) {
    const b = buf[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** Profile and level from an SPS NAL unit given without its start code (first byte = NAL header). */
export function parseH264SpsProfile(nal: Uint8Array): H264Profile | null {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== H264_NAL.SPS) return null;
  const rbsp = readRbsp(nal, 1, nal.length, 3);
  if (rbsp.length < 3) return null;
  const [profileIdc, constraintFlags, levelIdc] = [rbsp[0]!, rbsp[1]!, rbsp[2]!];
  const hex = (v: number) => v.toString(16).padStart(2, "0");
  return { profileIdc, constraintFlags, levelIdc, profileLevelId: hex(profileIdc) + hex(constraintFlags) + hex(levelIdc) };
}

/** Finds the first SPS in an Annex-B access unit and returns its profile, or null if there is none. */
export function findH264Profile(accessUnit: Uint8Array): H264Profile | null {
  const end = accessUnit.length;
  let pos = findStartCode(accessUnit, 0, end);
  while (pos < end) {
    if (nalTypeAt("h264", accessUnit, pos, end) === H264_NAL.SPS) {
      const bodyStart = pos + startCodeLength(accessUnit, pos, end);
      return parseH264SpsProfile(accessUnit.subarray(bodyStart, nextNal(accessUnit, pos, end)));
    }
    pos = nextNal(accessUnit, pos, end);
  }
  return null;
}
