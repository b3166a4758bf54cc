/**
 * MoonlightSession against a Sunshine-flavour sim host, whose video is encrypted (§5.7, the
 * announced packetSize 32 bytes smaller): with datagrams dropped on arrival, every frame we emit —
 * including those with shards rebuilt by Reed–Solomon — carries exactly the bytes the host
 * encoded (the loop's access unit, less its leading AUD, plus the zero padding of the last shard).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { MoonlightSession } from "../../src/moonlight/session.ts";
import type { VideoFrame } from "../../src/moonlight/video/video-depacketizer.ts";
import { loadVideoLoop } from "../../src/sim-host/media-source.ts";
import type { SimHost } from "../../src/sim-host/sim-host.ts";
import { startPairedSimHost } from "../support/paired-sim-host.ts";
import { seededRandom } from "../support/seeded-random.ts";
import { until } from "../support/server.ts";

let host: SimHost;
let client: NvHttpClient;
let appId: number;

beforeAll(async () => {
  ({ host, client, appId } = await startPairedSimHost({ flavor: "sunshine", pin: "1357" }));
});

afterAll(async () => {
  await host.close();
});

function withoutTrailingZeros(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.subarray(0, end);
}

function endsWith(whole: Uint8Array, tail: Uint8Array): boolean {
  if (tail.length > whole.length) return false;
  const offset = whole.length - tail.length;
  for (let i = 0; i < tail.length; i++) if (whole[offset + i] !== tail[i]) return false;
  return true;
}

describe("MoonlightSession, encrypted video (Sunshine flavour)", () => {
  test("with 3 % of video datagrams dropped, every emitted frame — rebuilt shards included — is the host's access unit, byte for byte", async () => {
    const random = seededRandom(4242);
    const session = new MoonlightSession({ client, appId, settings: { width: 1280, height: 720, fps: 60, bitrateKbps: 5000 }, dropVideoDatagram: () => random() < 0.03 });
    const frames: VideoFrame[] = [];
    session.on("video", (f) => frames.push(f));
    await session.start();
    await until(() => frames.filter((f) => f.recoveredShards > 0).length >= 10, 20_000, "10 frames with rebuilt shards");
    const counters = session.snapshot();
    await session.stop({ quitApp: true });
    expect(host.media!.stats.video.datagramsSent).toBeGreaterThan(0);
    expect(counters.fecRecoveries).toBeGreaterThan(0);
    expect(counters.malformedDatagrams).toBe(0);

    // The sim host plays this loop (the Sunshine flavour's on-request keyframes), SEI removed.
    const loop = loadVideoLoop("h264", "on-request").accessUnits.map(withoutTrailingZeros);
    const mismatched = frames.filter((frame) => {
      const got = withoutTrailingZeros(frame.data);
      // Only the leading AUD (6 bytes) may be missing from what we emit.
      return !loop.some((au) => au.length - got.length <= 6 && endsWith(au, got));
    });
    expect(mismatched.map((f) => ({ frame: f.frameNumber, bytes: f.data.length, rebuilt: f.recoveredShards }))).toEqual([]);
  }, 40_000);
});
