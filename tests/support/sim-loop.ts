/**
 * Test support: the sim host's committed media loop as access units, and the stream info a
 * viewer of it is given — for tests that drive the viewer transports without a host.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { splitAccessUnits } from "../../src/sim-host/access-unit-splitter.ts";
import type { StreamInfo } from "../../src/peer/signaling.ts";

const ASSETS = resolve(import.meta.dir, "../../src/sim-host/assets");

/** The 120 access units of loop.h264 / loop.h265 (1280×720@60, IDR every 30, AUD-delimited). */
export function loopAccessUnits(codec: "h264" | "hevc"): Uint8Array[] {
  return splitAccessUnits(codec, readFileSync(resolve(ASSETS, codec === "hevc" ? "loop.h265" : "loop.h264")));
}

export const LOOP_STREAM_INFO: StreamInfo = {
  width: 1280,
  height: 720,
  fps: 60,
  codec: "h264",
  profileLevelId: "64001f",
  audio: { channels: 2, sampleRate: 48000 },
  input: true,
  capabilities: { touch: false, pen: false, controllers: 16 },
};
