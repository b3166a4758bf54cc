/**
 * The sim host's send-rate padding (filler NAL units, for the ingest bench): a padded loop is as
 * large as asked and decodes, with Debian's ffmpeg, to exactly the pictures of the original loop.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FillerCodecError, padLoopToBitrate, padWithFiller } from "../../src/sim-host/filler-padding.ts";
import { loadVideoLoop } from "../../src/sim-host/media-source.ts";
import { splitNalUnits } from "../../src/moonlight/video/nal.ts";

/** One MD5 per decoded picture (ffmpeg's framemd5 muxer, timestamps stripped). */
function decodedPictureHashes(file: string): string[] {
  const run = Bun.spawnSync(["ffmpeg", "-v", "error", "-i", file, "-f", "framemd5", "-"], { stdout: "pipe", stderr: "pipe" });
  expect(run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
  return run.stdout
    .toString()
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => line.split(",").pop()!.trim());
}

describe("filler padding", () => {
  for (const codec of ["h264", "hevc"] as const) {
    test(`${codec}: the loop padded to 50 Mbit/s at 60 fps is that large and decodes to the same pictures`, () => {
      const loop = loadVideoLoop(codec, "periodic").accessUnits;
      const padded = padLoopToBitrate(codec, loop, 60, 50_000);
      const target = Math.round((50_000 * 1000) / 8 / 60);
      for (let i = 0; i < loop.length; i++) {
        expect(padded[i]!.length).toBe(Math.max(loop[i]!.length, target));
        // The original bytes come first, unchanged; one filler NAL unit follows.
        expect(Buffer.from(padded[i]!.subarray(0, loop[i]!.length)).equals(Buffer.from(loop[i]!))).toBe(true);
        if (padded[i]!.length > loop[i]!.length) expect(splitNalUnits(codec, padded[i]!).length).toBe(splitNalUnits(codec, loop[i]!).length + 1);
      }
      const dir = mkdtempSync(join(tmpdir(), "mlstream-filler-"));
      try {
        const extension = codec === "hevc" ? "h265" : "h264";
        writeFileSync(join(dir, `original.${extension}`), Buffer.concat(loop));
        writeFileSync(join(dir, `padded.${extension}`), Buffer.concat(padded));
        const original = decodedPictureHashes(join(dir, `original.${extension}`));
        expect(original.length).toBe(loop.length);
        expect(decodedPictureHashes(join(dir, `padded.${extension}`))).toEqual(original);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test("an access unit already at the target is returned as is; AV1 has no filler NAL unit", () => {
    const au = new Uint8Array(1000).fill(1);
    expect(padWithFiller("h264", au, 500)).toBe(au);
    expect(() => padWithFiller("av1", au, 5000)).toThrow(FillerCodecError);
  });
});
