/** What the client offers in RTSP: the codecs asked for, 10-bit with HDR, masked by the host's ServerCodecModeSupport. */
import { describe, expect, test } from "bun:test";
import { SCM } from "../../src/moonlight/http/serverinfo.ts";
import { VideoFormat } from "../../src/moonlight/rtsp/announce-sdp.ts";
import { offeredVideoFormats } from "../../src/moonlight/video-formats.ts";

describe("offeredVideoFormats", () => {
  const everything = SCM.H264 | SCM.HEVC | SCM.HEVC_MAIN10 | SCM.AV1_MAIN8 | SCM.AV1_MAIN10;

  test("8-bit formats of the codecs asked for; 10-bit ones only with HDR", () => {
    expect(offeredVideoFormats(["av1", "h264"], false, everything)).toBe(VideoFormat.av1Main8 | VideoFormat.h264);
    expect(offeredVideoFormats(["hevc"], true, everything)).toBe(VideoFormat.h265 | VideoFormat.h265Main10);
    expect(offeredVideoFormats(["av1"], true, everything)).toBe(VideoFormat.av1Main8 | VideoFormat.av1Main10);
  });

  test("a format the host did not advertise is not offered (HDR on a host without Main10 stays 8-bit)", () => {
    expect(offeredVideoFormats(["hevc"], true, SCM.H264 | SCM.HEVC)).toBe(VideoFormat.h265);
    expect(offeredVideoFormats(["av1", "hevc"], false, SCM.H264 | SCM.HEVC)).toBe(VideoFormat.h265);
  });

  test("nothing left: H.264, which every host encodes", () => {
    expect(offeredVideoFormats(["av1"], false, SCM.H264 | SCM.HEVC)).toBe(VideoFormat.h264);
  });
});
