/**
 * Loading the real-host fixtures for the media tests: the host→client video/audio datagrams of
 * a capture, the expected decode units (video-frames.csv + video.h26x) and the expected Opus
 * packets (opus-packets.bin + .csv).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { type UdpDatagram, readPcap } from "../../support/pcap.ts";
import { FIXTURES } from "../../support/fixtures.ts";

export { FIXTURES };

export interface FixtureKeys {
  rikey: string;
  rikeyid: number;
  rikeyid_u32: number;
  server_ports: { video: number; audio: number };
  client_ports: { video: number; audio: number };
  negotiated: { codec: string; packetSize: number; audio: { packetDurationMs: number } };
}

export interface ExpectedFrame {
  index: number;
  frameNumber: number;
  isIdr: boolean;
  size: number;
  offset: number;
  dataShards: number;
  dataShardsInCapture: number;
  bytes: Uint8Array;
}

export interface ExpectedOpus {
  rtpSeq: number;
  source: string;
  bytes: Uint8Array;
}

export interface MediaFixture {
  name: string;
  keys: FixtureKeys;
  video: UdpDatagram[];
  audio: UdpDatagram[];
  expectedFrames: ExpectedFrame[];
  expectedOpus: ExpectedOpus[];
}

const cache = new Map<string, MediaFixture>();

function readCsv(file: string): Record<string, string>[] {
  const [head, ...rows] = readFileSync(file, "utf8").trim().split(/\r?\n/);
  const columns = head!.split(",");
  return rows.map((row) => {
    const cells = row.split(",");
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ""]));
  });
}

export function loadMediaFixture(name: string): MediaFixture {
  const cached = cache.get(name);
  if (cached) return cached;
  const dir = path.join(FIXTURES, name);
  const keys = JSON.parse(readFileSync(path.join(dir, "keys.json"), "utf8")) as FixtureKeys;
  const capture = readPcap(path.join(dir, "capture.pcap"));
  const hostToClient = (serverPort: number, clientPort: number) =>
    capture.udp.filter((d) => d.srcPort === serverPort && d.dstPort === clientPort);
  const video = hostToClient(keys.server_ports.video, keys.client_ports.video);
  const audio = hostToClient(keys.server_ports.audio, keys.client_ports.audio);

  const videoFile = keys.negotiated.codec === "h265" || keys.negotiated.codec === "hevc" ? "video.h265" : "video.h264";
  const videoBytes = new Uint8Array(readFileSync(path.join(dir, videoFile)));
  const expectedFrames = readCsv(path.join(dir, "video-frames.csv")).map((r) => {
    const offset = Number(r.offset);
    const size = Number(r.size);
    return {
      index: Number(r.index),
      frameNumber: Number(r.frameNumber),
      isIdr: r.isIdr === "1",
      size,
      offset,
      dataShards: Number(r.dataShards),
      dataShardsInCapture: Number(r.dataShardsInCapture),
      bytes: videoBytes.subarray(offset, offset + size),
    };
  });

  const opusBytes = new Uint8Array(readFileSync(path.join(dir, "opus-packets.bin")));
  const expectedOpus = readCsv(path.join(dir, "opus-packets.csv")).map((r) => {
    const offset = Number(r.offset);
    const length = Number(r.length);
    // records are [u16le length][bytes]; the csv offset points at the record
    const recordLength = opusBytes[offset]! | (opusBytes[offset + 1]! << 8);
    if (recordLength !== length) throw new Error(`opus record at ${offset}: length ${recordLength} ≠ csv ${length}`);
    return { rtpSeq: Number(r.rtpSeq), source: r.source!, bytes: opusBytes.subarray(offset + 2, offset + 2 + length) };
  });

  const fixture = { name, keys, video, audio, expectedFrames, expectedOpus };
  cache.set(name, fixture);
  return fixture;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

/** Deterministic PRNG for seeded loss patterns. */
export { seededRandom } from "../../support/seeded-random.ts";
