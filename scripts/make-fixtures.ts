/**
 * Makes the media loop the simulated host streams (`bun scripts/make-fixtures.ts`), with ffmpeg:
 *   src/sim-host/assets/loop.h264   H.264 High 1280×720@60, 2 s, IDR every 0.5 s, Annex-B with AUDs
 *   src/sim-host/assets/loop.h265   HEVC Main 1280×720@60, same shape
 *   src/sim-host/assets/loop-main10.h265   HEVC Main10 (4:2:0 10-bit), same shape: what a host
 *       sends when the client negotiated HEVC Main10 (dynamicRangeMode 1)
 *   src/sim-host/assets/loop.av1    AV1 Main 8-bit, same shape, a low-overhead OBU stream (libaom
 *       realtime, no lag: no hidden frames); every temporal unit starts with a temporal delimiter,
 *       every keyframe repeats the sequence header
 *   src/sim-host/assets/loop-main10.av1   the same in AV1 Main 10-bit
 *   src/sim-host/assets/loop.opus   Opus 48 kHz stereo, 5 ms packets, records [u16le length][packet]
 *   src/sim-host/assets/loop-ondemand.h264 / .h265 / -main10.h265 / .av1 / -main10.av1   the same pattern, 4 s, ONE IDR (frame 0) and
 *       P-frames after it: the "sunshine" flavour's source, which (like Sunshine's encoder, an
 *       infinite GOP) sends a keyframe only when asked — a request restarts the loop at frame 0
 * The outputs are committed; rerun only to change the loop. Every IDR repeats SPS/PPS (and VPS) so
 * the sim can jump to any keyframe when a client asks for an IDR.
 * `bun scripts/make-fixtures.ts loop.av1 …` makes only the named outputs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ASSETS = resolve(import.meta.dir, "../src/sim-host/assets");
const SECONDS = "2";
const FPS = 60;
const GOP = FPS / 2;

function ffmpeg(args: string[]): void {
  const run = Bun.spawnSync(["ffmpeg", "-v", "error", "-y", ...args], { stdout: "inherit", stderr: "inherit" });
  if (run.exitCode !== 0) throw new Error(`ffmpeg ${args.join(" ")} failed (${run.exitCode})`);
}

/**
 * Ogg pages: "OggS", version, flags, granule u64, serial, page seq, CRC, segment count, lacing
 * table; a packet is a run of segments ending with one shorter than 255.
 */
export function oggPackets(file: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let offset = 0;
  while (offset + 27 <= file.length) {
    if (file[offset] !== 0x4f || file[offset + 1] !== 0x67 || file[offset + 2] !== 0x67 || file[offset + 3] !== 0x53) throw new Error(`no Ogg page at ${offset}`);
    const segments = file[offset + 26]!;
    let data = offset + 27 + segments;
    for (let i = 0; i < segments; i++) {
      const lacing = file[offset + 27 + i]!;
      pending.push(file.subarray(data, data + lacing));
      data += lacing;
      if (lacing < 255) {
        packets.push(Buffer.concat(pending));
        pending = [];
      }
    }
    offset = data;
  }
  return packets;
}

const only = new Set(process.argv.slice(2));
const wanted = (name: string) => only.size === 0 || only.has(name);
const work = mkdtempSync(join(tmpdir(), "mlstream-fixtures-"));
try {
  const pattern = ["-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=${FPS}`, "-t", SECONDS, "-pix_fmt", "yuv420p", "-bf", "0", "-g", String(GOP), "-keyint_min", String(GOP), "-sc_threshold", "0", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M"];
  // On-demand keyframes: one GOP over the whole loop, smaller bitrate (the loop is longer).
  const ONDEMAND_SECONDS = "4";
  const onDemand = ["-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=${FPS}`, "-t", ONDEMAND_SECONDS, "-pix_fmt", "yuv420p", "-bf", "0", "-g", "100000", "-sc_threshold", "0", "-b:v", "1M", "-maxrate", "1M", "-bufsize", "500k"];
  const x264 = ["-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-tune", "zerolatency"];
  const x265 = ["-c:v", "libx265", "-preset", "veryfast", "-tune", "zerolatency"];
  const main10 = ["-pix_fmt", "yuv420p10le", "-profile:v", "main10"];
  // libaom's realtime mode with no lookahead: every frame shown, no B-frame-like hidden frames, as a
  // low-latency hardware encoder produces.
  const aom = ["-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-row-mt", "1"];
  const outputs: Record<string, string[]> = {
    "loop.h264": [...pattern, ...x264, "-x264-params", "aud=1:repeat-headers=1", "-f", "h264"],
    "loop.h265": [...pattern, ...x265, "-x265-params", `aud=1:repeat-headers=1:keyint=${GOP}:min-keyint=${GOP}:scenecut=0:log-level=error`, "-f", "hevc"],
    "loop-main10.h265": [...pattern, ...main10, ...x265, "-x265-params", `aud=1:repeat-headers=1:keyint=${GOP}:min-keyint=${GOP}:scenecut=0:log-level=error`, "-f", "hevc"],
    "loop.av1": [...pattern, ...aom, "-f", "obu"],
    "loop-main10.av1": [...pattern, "-pix_fmt", "yuv420p10le", ...aom, "-f", "obu"],
    "loop-ondemand.h264": [...onDemand, ...x264, "-x264-params", "aud=1:repeat-headers=1:keyint=infinite:scenecut=0", "-f", "h264"],
    "loop-ondemand.h265": [...onDemand, ...x265, "-x265-params", "aud=1:repeat-headers=1:keyint=-1:scenecut=0:log-level=error", "-f", "hevc"],
    "loop-ondemand-main10.h265": [...onDemand, ...main10, ...x265, "-x265-params", "aud=1:repeat-headers=1:keyint=-1:scenecut=0:log-level=error", "-f", "hevc"],
    "loop-ondemand.av1": [...onDemand, ...aom, "-g", "100000", "-f", "obu"],
    "loop-ondemand-main10.av1": [...onDemand, "-pix_fmt", "yuv420p10le", ...aom, "-g", "100000", "-f", "obu"],
  };
  for (const [name, args] of Object.entries(outputs)) {
    if (!wanted(name)) continue;
    ffmpeg([...args, join(ASSETS, name)]);
    console.error(`${name}: ${Bun.file(join(ASSETS, name)).size} bytes`);
  }
  if (wanted("loop.opus")) {
    const ogg = join(work, "loop.ogg");
    ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "2", "-t", SECONDS, "-c:a", "libopus", "-b:a", "96k", "-frame_duration", "5", "-application", "lowdelay", "-f", "ogg", ogg]);
    // Drop OpusHead and OpusTags: the GameStream audio stream carries bare Opus packets.
    const packets = oggPackets(readFileSync(ogg)).slice(2);
    const records = Buffer.alloc(packets.reduce((n, p) => n + 2 + p.length, 0));
    let at = 0;
    for (const packet of packets) {
      records.writeUInt16LE(packet.length, at);
      records.set(packet, at + 2);
      at += 2 + packet.length;
    }
    writeFileSync(join(ASSETS, "loop.opus"), records);
    console.error(`loop.opus: ${records.length} bytes, ${packets.length} packets`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
