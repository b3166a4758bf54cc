/**
 * Raises the sim host's send rate without a bigger asset: an access unit is grown to a byte
 * target by appending one filler-data NAL unit (H.264 type 12, HEVC type 38), which decoders
 * discard. The filler is 0xFF bytes closed by the rbsp trailing bits 0x80, so it can contain
 * no start code and needs no emulation prevention (H.264 §7.3.2.7, HEVC §7.3.2.8).
 *
 *   | 00 00 00 01 | NAL header (1 B H.264, 2 B HEVC) | FF … FF | 80 |
 */
import { H264_NAL, HEVC_NAL, type VideoCodec } from "../moonlight/video/nal.ts";

/** Start code + the largest NAL header + the trailing 0x80. */
const FILLER_OVERHEAD = 4 + 2 + 1;

export class FillerCodecError extends Error {
  override name = "FillerCodecError";
}

/** `accessUnit` grown to `targetBytes` with a trailing filler NAL unit (unchanged when already that large). */
export function padWithFiller(codec: VideoCodec, accessUnit: Uint8Array, targetBytes: number): Uint8Array {
  if (codec === "av1") throw new FillerCodecError("AV1 has no filler NAL unit (padding would need OBU_PADDING)");
  if (accessUnit.length + FILLER_OVERHEAD >= targetBytes) return accessUnit;
  const out = new Uint8Array(targetBytes);
  out.set(accessUnit, 0);
  let pos = accessUnit.length;
  out[pos + 3] = 1; // 00 00 00 01
  pos += 4;
  if (codec === "h264") {
    out[pos++] = H264_NAL.FILLER; // forbidden 0, nal_ref_idc 0
  } else {
    out[pos++] = HEVC_NAL.FILLER << 1; // layer id 0
    out[pos++] = 1; // temporal id + 1
  }
  out.fill(0xff, pos, targetBytes - 1);
  out[targetBytes - 1] = 0x80;
  return out;
}

/** Pads every access unit of a loop so that, played at `fps`, it averages about `kbps` (key frames larger than the target stay as they are). */
export function padLoopToBitrate(codec: VideoCodec, accessUnits: readonly Uint8Array[], fps: number, kbps: number): Uint8Array[] {
  const target = Math.round((kbps * 1000) / 8 / fps);
  return accessUnits.map((au) => padWithFiller(codec, au, target));
}
