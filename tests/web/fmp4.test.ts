/**
 * The MSE path's fragmented MP4 (web/player/fmp4.ts) read by a demuxer that is not ours: Debian's
 * ffmpeg encodes frames (x264, a size that needs SPS cropping, one keyframe then P-frames, as a
 * GameStream host sends), we write them as an init segment plus one fragment per frame, and
 * ffprobe/ffmpeg must read the same size, frame count and timing, and decode every frame cleanly.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { annexBNalUnits } from "../../web/player/codec-string.ts";
import { fragment, initSegment, TIMESCALE } from "../../web/player/fmp4.ts";
import { readSpsSize } from "../../web/player/mse-video.ts";
import { tempDir } from "../support/cli.ts";

const FFMPEG = Bun.which("ffmpeg");
const FRAMES = 30;

/** Access units of an Annex B stream split at its access unit delimiters (x264 `aud=1`). */
function accessUnits(stream: Uint8Array): Uint8Array[][] {
  const units: Uint8Array[][] = [];
  for (const nal of annexBNalUnits(stream)) {
    if ((nal[0]! & 0x1f) === 9 || units.length === 0) units.push([]);
    units.at(-1)!.push(nal);
  }
  return units.filter((au) => au.length > 0);
}

describe.skipIf(!FFMPEG)("fragmented MP4 for MSE", () => {
  test("x264 1920x1080 (cropped from 1088) written as init + one fragment per frame: ffprobe reads it, ffmpeg decodes every frame", () => {
    const dir = tempDir("mlstream-fmp4-");
    try {
      const h264 = join(dir.path, "in.h264");
      const encode = Bun.spawnSync([FFMPEG!, "-v", "error", "-f", "lavfi", "-i", `testsrc2=size=1920x1080:rate=60`, "-frames:v", String(FRAMES), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-x264-params", "keyint=infinite:aud=1", "-bsf:v", "h264_mp4toannexb", "-f", "h264", h264]);
      expect(encode.exitCode).toBe(0);
      const aus = accessUnits(readFileSync(h264));
      expect(aus).toHaveLength(FRAMES);
      const sps = aus[0]!.find((nal) => (nal[0]! & 0x1f) === 7)!;
      const pps = aus[0]!.find((nal) => (nal[0]! & 0x1f) === 8)!;
      expect(readSpsSize(sps)).toEqual({ width: 1920, height: 1080 });

      const duration = TIMESCALE / 60;
      const parts = [initSegment({ sps, pps, width: 1920, height: 1080 })];
      aus.forEach((au, i) => {
        const keyframe = au.some((nal) => (nal[0]! & 0x1f) === 5);
        expect(keyframe).toBe(i === 0);
        parts.push(fragment(i + 1, i * duration, duration, keyframe, au.filter((nal) => ![7, 8, 9].includes(nal[0]! & 0x1f))));
      });
      const mp4 = join(dir.path, "out.mp4");
      writeFileSync(mp4, Buffer.concat(parts));

      const probe = Bun.spawnSync(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height,nb_read_frames,r_frame_rate", "-of", "json", mp4]);
      expect(probe.exitCode).toBe(0);
      expect(JSON.parse(probe.stdout.toString()).streams[0]).toMatchObject({ codec_name: "h264", width: 1920, height: 1080, nb_read_frames: String(FRAMES), r_frame_rate: "60/1" });
      const decode = Bun.spawnSync([FFMPEG!, "-v", "error", "-i", mp4, "-f", "null", "-"]);
      expect(decode.exitCode).toBe(0);
      expect(decode.stderr.toString()).toBe("");
    } finally {
      dir.cleanup();
    }
  });
});
