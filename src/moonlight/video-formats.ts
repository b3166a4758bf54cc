/**
 * The VIDEO_FORMAT_* mask a session offers in RTSP (§2.7): the codecs asked for, their 10-bit
 * profiles when HDR is asked for, and only what the host said it can encode in serverinfo's
 * ServerCodecModeSupport — as the reference clients mask by the host's codec modes before
 * negotiating (moonlight-qt session.cpp `maskByServerCodecModes(serverCodecModeSupport & SCM_MASK_AV1)`),
 * so that DESCRIBE's coarser "HEVC yes / AV1 yes" cannot lead to a 10-bit stream the host never offered.
 */
import { SCM } from "./http/serverinfo.ts";
import { VideoFormat } from "./rtsp/announce-sdp.ts";
import type { VideoCodec } from "./video/nal.ts";

/** Client format bit → the host's codec-mode bit that allows it. */
const HOST_MODE_FOR_FORMAT: [format: number, scm: number][] = [
  [VideoFormat.h264, SCM.H264],
  [VideoFormat.h265, SCM.HEVC],
  [VideoFormat.h265Main10, SCM.HEVC_MAIN10],
  [VideoFormat.av1Main8, SCM.AV1_MAIN8],
  [VideoFormat.av1Main10, SCM.AV1_MAIN10],
];

const EIGHT_BIT: Record<VideoCodec, number> = { h264: VideoFormat.h264, hevc: VideoFormat.h265, av1: VideoFormat.av1Main8 };
const TEN_BIT: Record<VideoCodec, number> = { h264: 0, hevc: VideoFormat.h265Main10, av1: VideoFormat.av1Main10 };

/**
 * Formats to offer for `codecs` (8-bit, plus 10-bit when `tenBit`), masked by the host's
 * `codecModeSupport`. H.264 stays when nothing else is left: every host encodes it, and an empty
 * mask would make the handshake fail for a reason the user cannot act on.
 */
export function offeredVideoFormats(codecs: readonly VideoCodec[], tenBit: boolean, codecModeSupport: number): number {
  let wanted = 0;
  for (const codec of codecs) wanted |= EIGHT_BIT[codec] | (tenBit ? TEN_BIT[codec] : 0);
  let allowed = 0;
  for (const [format, scm] of HOST_MODE_FOR_FORMAT) if (codecModeSupport & scm) allowed |= format;
  const offered = wanted & allowed;
  return offered === 0 ? VideoFormat.h264 : offered;
}
