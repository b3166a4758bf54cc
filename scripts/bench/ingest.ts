/**
 * Ingest benchmark: how much GameStream video one core can reassemble.
 *
 *   bun scripts/bench/ingest.ts [--seconds 10] [--loss 0.03] [--repeat 7]
 *
 * Builds, in memory, a 20 Mbps 1080p60-shaped H.264 stream with VideoPacketizer (60 frames/s,
 * ~41 KB P-frames varying ±30 %, a 250 KB IDR every 2 s, packetSize 1392, FEC 20 %, at least 2
 * parity shards), plus 5 ms encrypted Opus audio, then replays it through the receive path:
 *
 *   naive copy-per-packet     baseline: copies every datagram and concatenates per frame (no FEC)
 *   no loss                   VideoDepacketizer, every datagram delivered (no RS work)
 *   3 % loss + FEC            VideoDepacketizer, seeded random loss, Reed–Solomon recovery
 *   audio decrypt 3 % loss    AudioDepacketizer with AES-CBC decryption and RS(4+2)
 *
 * Each run is repeated (fresh receiver each time) and the median CPU time is reported: Mbps of datagram bytes per core, µs per datagram,
 * and frames (or audio packets) per second of CPU. Takes a few seconds.
 */
import { AudioDepacketizer } from "../../src/moonlight/audio/audio-depacketizer.ts";
import { AudioCipher } from "../../src/moonlight/audio/audio-packet.ts";
import { AudioPacketizer } from "../../src/moonlight/audio/audio-packetizer.ts";
import { VideoDepacketizer } from "../../src/moonlight/video/video-depacketizer.ts";
import { VideoPacketizer } from "../../src/moonlight/video/video-packetizer.ts";
import { seededRandom } from "../../tests/support/seeded-random.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const SECONDS = option("seconds", 10);
const REPEAT = Math.max(1, option("repeat", 7));
const LOSS = option("loss", 0.03);
const FPS = 60;
const BITRATE = 20_000_000;
const PACKET_SIZE = 1392;
const IDR_BYTES = 250_000;
const IDR_EVERY = 2 * FPS;

function accessUnit(size: number, idr: boolean, random: () => number): Uint8Array {
  const au = new Uint8Array(size);
  for (let o = 0; o < size; o += 65536) crypto.getRandomValues(au.subarray(o, Math.min(size, o + 65536)));
  const head = idr ? [0, 0, 0, 1, 0x67, 0x64, 0, 0x2a, 0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80, 0, 0, 0, 1, 0x65] : [0, 0, 0, 1, 0x41];
  au.set(head);
  void random;
  return au;
}

// ---- build the stream ----------------------------------------------------------------------
const buildStart = performance.now();
const random = seededRandom(1);
const frameCount = SECONDS * FPS;
const bytesPerGop = (BITRATE / 8) * (IDR_EVERY / FPS);
const pFrameMean = (bytesPerGop - IDR_BYTES) / (IDR_EVERY - 1);
const packetizer = new VideoPacketizer({ packetSize: PACKET_SIZE, fecPercentage: 20, minRequiredFecPackets: 2 });
const video: Uint8Array[] = [];
let encodedBytes = 0;
for (let i = 0; i < frameCount; i++) {
  const idr = i % IDR_EVERY === 0;
  const size = idr ? IDR_BYTES : Math.round(pFrameMean * (0.7 + 0.6 * random()));
  encodedBytes += size;
  for (const d of packetizer.packetize(accessUnit(size, idr, random), { isIdr: idr, timestamp: i * 1500 }).datagrams) video.push(d);
}
const lossRandom = seededRandom(2);
const lossyVideo = video.filter(() => lossRandom() >= LOSS);

const rikey = crypto.getRandomValues(new Uint8Array(16));
const audioPacketizer = new AudioPacketizer({ packetDurationMs: 5, cipher: new AudioCipher(rikey, 0x12345678) });
const audio: Uint8Array[] = [];
for (let i = 0; i < SECONDS * 200; i++) for (const d of audioPacketizer.packetize(crypto.getRandomValues(new Uint8Array(60)))) audio.push(d);
const lossyAudio = audio.filter(() => lossRandom() >= LOSS);
const buildMs = performance.now() - buildStart;

// ---- runs -------------------------------------------------------------------------------------
interface Row {
  name: string;
  datagrams: number;
  bytes: number;
  units: number;
  cpuMs: number;
  note: string;
}

/** Median CPU milliseconds of REPEAT runs of `fn` (each run must start from fresh state). */
function cpuMs(fn: () => void): number {
  const samples: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const before = process.cpuUsage();
    fn();
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function sumBytes(list: Uint8Array[]): number {
  let n = 0;
  for (const d of list) n += d.length;
  return n;
}

/** Baseline: what a straightforward implementation does — copy each datagram, collect per frame, concatenate. */
function naiveReassemble(datagrams: Uint8Array[]): number {
  let frames = 0;
  let current = -1;
  let parts: Buffer[] = [];
  for (const d of datagrams) {
    const copy = Buffer.from(d); // per-packet allocation + copy
    const frame = copy.readUInt32LE(20);
    const fecInfo = copy.readUInt32LE(28);
    const dataShards = fecInfo >>> 22;
    const index = (fecInfo >>> 12) & 0x3ff;
    if (index >= dataShards) continue; // parity ignored: no FEC
    if (frame !== current) {
      if (parts.length > 0) {
        Buffer.concat(parts.map((p) => p.subarray(32)));
        frames++;
      }
      parts = [];
      current = frame;
    }
    parts.push(copy);
  }
  if (parts.length > 0) frames++;
  return frames;
}

function runVideo(name: string, datagrams: Uint8Array[], note: string): Row {
  let frames = 0;
  let depacketizer!: VideoDepacketizer;
  const ms = cpuMs(() => {
    frames = 0;
    depacketizer = new VideoDepacketizer({ codec: "h264", packetSize: PACKET_SIZE }, { onFrame: () => frames++ });
    for (const d of datagrams) depacketizer.push(d, 0);
  });
  const s = depacketizer.stats;
  return { name, datagrams: datagrams.length, bytes: sumBytes(datagrams), units: frames, cpuMs: ms, note: note || `${s.fecRecoveries} shards rebuilt, ${s.framesLost} frames lost, ${s.framesDropped} dropped` };
}

// Warm up the JIT on a slice so the rows compare steady-state code.
runVideo("warm-up", lossyVideo.slice(0, Math.min(lossyVideo.length, 20000)), "-");
naiveReassemble(video.slice(0, 5000));

const rows: Row[] = [];
{
  let frames = 0;
  const ms = cpuMs(() => {
    frames = naiveReassemble(video);
  });
  rows.push({ name: "naive copy-per-packet (baseline)", datagrams: video.length, bytes: sumBytes(video), units: frames, cpuMs: ms, note: "no FEC, no checks" });
}
rows.push(runVideo("VideoDepacketizer, no loss", video, ""));
rows.push(runVideo(`VideoDepacketizer, ${(LOSS * 100).toFixed(0)} % loss + FEC`, lossyVideo, ""));
{
  let packets = 0;
  let depacketizer!: AudioDepacketizer;
  const ms = cpuMs(() => {
    packets = 0;
    depacketizer = new AudioDepacketizer({ packetDurationMs: 5, cipher: new AudioCipher(rikey, 0x12345678), initialDiscardMs: 0 }, { onPacket: () => packets++ });
    let t = 0;
    for (const d of lossyAudio) depacketizer.push(d, (t += 3333));
  });
  rows.push({ name: `AudioDepacketizer, ${(LOSS * 100).toFixed(0)} % loss, AES-CBC`, datagrams: lossyAudio.length, bytes: sumBytes(lossyAudio), units: packets, cpuMs: ms, note: `${depacketizer.stats.fecRecoveries} packets rebuilt` });
}

// ---- report -----------------------------------------------------------------------------------
const streamMbps = (encodedBytes * 8) / SECONDS / 1e6;
console.log(
  `stream: ${SECONDS} s of 1080p60-shaped H.264 at ${streamMbps.toFixed(1)} Mbps encoded, ${video.length} video datagrams ` +
    `(${PACKET_SIZE + 16} B, FEC 20 %), ${audio.length} audio datagrams; built in ${buildMs.toFixed(0)} ms`,
);
const table = rows.map((r) => ({
  run: r.name,
  datagrams: r.datagrams,
  "Mbps/core": Math.round((r.bytes * 8) / (r.cpuMs / 1000) / 1e6),
  "µs/packet": Number(((r.cpuMs * 1000) / r.datagrams).toFixed(3)),
  "units/s": Math.round(r.units / (r.cpuMs / 1000)),
  "CPU % at real time": Number(((r.cpuMs / 1000 / SECONDS) * 100).toFixed(2)),
  note: r.note,
}));
console.table(table);
console.log("units/s = video frames (or audio packets) completed per second of CPU; real time needs 60 frames/s and 200 audio packets/s.");
