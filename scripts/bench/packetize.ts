/**
 * Viewer-side packetization benchmark: what turning one host frame into the RTP packets every
 * viewer is sent costs, per codec, over the sim host's committed loops (1280×720@60, 2 s, 120 frames,
 * ~3 Mbps, an IDR every 30 frames):
 *
 *   bun scripts/bench/packetize.ts [--repeat 7] [--rounds 20]
 *
 *   h264 (baseline)   VideoRtpPacketizer, FU-A fragments (the path every viewer had before AV1)
 *   hevc              VideoRtpPacketizer, FU fragments
 *   av1               Av1RtpPacketizer: OBU scan, size fields dropped, aggregation headers
 *   av1 + depacketize Av1RtpDepacketizer on the result (what `mlstream join` does per frame)
 *
 * Each row runs the loop `rounds` times, repeated `repeat` times; the median is reported as µs per
 * frame, Mbps of frame bytes per core, and packets per frame. Takes a few seconds.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isAv1KeyTemporalUnit, splitTemporalUnits } from "../../src/moonlight/video/av1-obu.ts";
import { isIdrAccessUnit, type VideoCodec } from "../../src/moonlight/video/nal.ts";
import { Av1RtpDepacketizer } from "../../src/peer/av1-rtp-depacketizer.ts";
import { Av1RtpPacketizer } from "../../src/peer/av1-rtp-packetizer.ts";
import { VideoRtpPacketizer, type RtpFrame } from "../../src/peer/rtp-packetizer.ts";
import { splitAccessUnits } from "../../src/sim-host/access-unit-splitter.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const REPEAT = Math.max(1, option("repeat", 7));
const ROUNDS = Math.max(1, option("rounds", 20));
const ASSETS = resolve(import.meta.dir, "../../src/sim-host/assets");

function frames(codec: VideoCodec): { data: Uint8Array; key: boolean }[] {
  if (codec === "av1") return splitTemporalUnits(readFileSync(resolve(ASSETS, "loop.av1"))).map((data) => ({ data, key: isAv1KeyTemporalUnit(data) }));
  const file = codec === "hevc" ? "loop.h265" : "loop.h264";
  return splitAccessUnits(codec, readFileSync(resolve(ASSETS, file))).map((data) => ({ data, key: isIdrAccessUnit(codec, data) }));
}

interface Row {
  name: string;
  usPerFrame: number;
  mbps: number;
  packetsPerFrame: number;
}

function measure(name: string, loop: { data: Uint8Array; key: boolean }[], run: (frame: { data: Uint8Array; key: boolean }, i: number) => RtpFrame): Row {
  const bytes = loop.reduce((n, f) => n + f.data.length, 0);
  let packets = 0;
  for (const [i, f] of loop.entries()) packets += run(f, i).packets.length; // warm-up
  const times: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) for (let i = 0; i < loop.length; i++) run(loop[i]!, i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)]!;
  const framesRun = ROUNDS * loop.length;
  return { name, usPerFrame: (ms * 1000) / framesRun, mbps: (bytes * ROUNDS * 8) / (ms * 1000), packetsPerFrame: packets / loop.length };
}

const options = { payloadType: 102, ssrc: 1, playoutDelayExtensionId: 6 };
const rows: Row[] = [];
for (const codec of ["h264", "hevc"] as const) {
  const packetizer = new VideoRtpPacketizer(codec, options);
  rows.push(measure(codec === "h264" ? "h264 (baseline)" : codec, frames(codec), (f, i) => packetizer.packetize(f.data, i * 1500, f.key)));
}
const av1 = frames("av1");
const av1Packetizer = new Av1RtpPacketizer(options);
rows.push(measure("av1", av1, (f, i) => av1Packetizer.packetize(f.data, i * 1500, f.key)));
const roundTrip = new Av1RtpPacketizer(options);
const depacketizer = new Av1RtpDepacketizer(() => {});
rows.push(
  measure("av1 + depacketize", av1, (f, i) => {
    const rtp = roundTrip.packetize(f.data, i * 1500, f.key);
    for (const p of rtp.packets) depacketizer.push(p);
    return rtp;
  }),
);

console.log(`packetize: the sim loops (1280×720@60, 120 frames), ${ROUNDS} rounds × ${REPEAT} repeats, median`);
console.table(rows.map((r) => ({ path: r.name, "µs/frame": r.usPerFrame.toFixed(1), "Mbps/core": r.mbps.toFixed(0), "packets/frame": r.packetsPerFrame.toFixed(1) })));
console.log("µs/frame is the fan-out's cost once per frame for all viewers (the packets are shared); 60 fps leaves 16 667 µs.");
