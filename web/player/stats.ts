/**
 * Playback statistics, sampled once a second: from `RTCPeerConnection.getStats()` on WebRTC, from
 * the WebSocket transport's own counters (ws-media.ts) on WebSocket. The numbers a viewer needs
 * to tell a slow network from a slow decoder. Rates are deltas between samples.
 */
import type { WsMediaCounters } from "./ws-media.ts";

export interface PlayerStats {
  /** The media transport in use. */
  transport: "WebRTC" | "WebSocket" | "Janus";
  /** Frames decoded per second. */
  fps: number;
  /** Video + audio receive rate. */
  bitrateKbps: number;
  /** ICE round-trip time of the selected candidate pair. */
  rttMs: number | undefined;
  /** Average time a frame waited in the jitter buffer over the last second. */
  jitterBufferMs: number | undefined;
  /** Average decode time per frame over the last second. */
  decodeMs: number | undefined;
  packetsLost: number;
  framesDecoded: number;
  framesDropped: number;
  keyFramesDecoded: number;
  width: number;
  height: number;
  codec: string;
  decoder: string;
  audioPacketsLost: number;
}

interface Totals {
  at: number;
  bytes: number;
  framesDecoded: number;
  decodeTime: number;
  jitterDelay: number;
  jitterEmitted: number;
}

type Report = Record<string, unknown> & { type: string; id: string };

export class StatsSampler {
  #previous: Totals | undefined;

  reset(): void {
    this.#previous = undefined;
  }

  async sample(pc: RTCPeerConnection): Promise<PlayerStats> {
    const report = await pc.getStats();
    const byId = new Map<string, Report>();
    report.forEach((entry: Report) => byId.set(entry.id, entry));
    let video: Report | undefined;
    let audio: Report | undefined;
    let pair: Report | undefined;
    for (const entry of byId.values()) {
      if (entry.type === "inbound-rtp" && entry.kind === "video") video = entry;
      if (entry.type === "inbound-rtp" && entry.kind === "audio") audio = entry;
      if (entry.type === "transport" && typeof entry.selectedCandidatePairId === "string") pair = byId.get(entry.selectedCandidatePairId);
    }
    if (!pair) for (const entry of byId.values()) if (entry.type === "candidate-pair" && entry.nominated && entry.state === "succeeded") pair = entry;

    const num = (r: Report | undefined, key: string) => (typeof r?.[key] === "number" ? (r[key] as number) : 0);
    const now: Totals = {
      at: performance.now(),
      bytes: num(video, "bytesReceived") + num(audio, "bytesReceived"),
      framesDecoded: num(video, "framesDecoded"),
      decodeTime: num(video, "totalDecodeTime"),
      jitterDelay: num(video, "jitterBufferDelay"),
      jitterEmitted: num(video, "jitterBufferEmittedCount"),
    };
    const before = this.#previous;
    this.#previous = now;
    const seconds = before ? (now.at - before.at) / 1000 : 0;
    const frames = before ? now.framesDecoded - before.framesDecoded : 0;
    const emitted = before ? now.jitterEmitted - before.jitterEmitted : 0;
    const codec = video && typeof video.codecId === "string" ? byId.get(video.codecId) : undefined;

    return {
      transport: "WebRTC",
      fps: seconds > 0 ? frames / seconds : num(video, "framesPerSecond"),
      bitrateKbps: seconds > 0 && before ? ((now.bytes - before.bytes) * 8) / seconds / 1000 : 0,
      rttMs: typeof pair?.currentRoundTripTime === "number" ? pair.currentRoundTripTime * 1000 : undefined,
      jitterBufferMs: emitted > 0 && before ? ((now.jitterDelay - before.jitterDelay) / emitted) * 1000 : undefined,
      decodeMs: frames > 0 && before ? ((now.decodeTime - before.decodeTime) / frames) * 1000 : undefined,
      packetsLost: num(video, "packetsLost"),
      framesDecoded: now.framesDecoded,
      framesDropped: num(video, "framesDropped"),
      keyFramesDecoded: num(video, "keyFramesDecoded"),
      width: num(video, "frameWidth"),
      height: num(video, "frameHeight"),
      codec: typeof codec?.mimeType === "string" ? codec.mimeType.replace(/^video\//, "") : "",
      decoder: typeof video?.decoderImplementation === "string" ? video.decoderImplementation : "",
      audioPacketsLost: num(audio, "packetsLost"),
    };
  }
}

/** The same numbers for the WebSocket transport, from its counters. */
export class WsStatsSampler {
  #previous: { at: number; bytes: number; framesDecoded: number; decodeMs: number } | undefined;

  reset(): void {
    this.#previous = undefined;
  }

  sample(counters: Readonly<WsMediaCounters>): PlayerStats {
    const now = { at: performance.now(), bytes: counters.bytesReceived, framesDecoded: counters.framesDecoded, decodeMs: counters.totalDecodeMs };
    const before = this.#previous;
    this.#previous = now;
    const seconds = before ? (now.at - before.at) / 1000 : 0;
    const frames = before ? now.framesDecoded - before.framesDecoded : 0;
    return {
      transport: "WebSocket",
      fps: seconds > 0 ? frames / seconds : 0,
      bitrateKbps: seconds > 0 && before ? ((now.bytes - before.bytes) * 8) / seconds / 1000 : 0,
      rttMs: counters.rttMs,
      // No jitter buffer for video on this transport: frames are decoded as they arrive.
      jitterBufferMs: undefined,
      decodeMs: frames > 0 && before ? (now.decodeMs - before.decodeMs) / frames : undefined,
      // TCP loses nothing; what a WebRTC receiver loses, this one drops (see framesDropped).
      packetsLost: 0,
      framesDecoded: counters.framesDecoded,
      framesDropped: counters.framesDropped,
      keyFramesDecoded: counters.keyFramesDecoded,
      width: counters.width,
      height: counters.height,
      codec: counters.codec,
      decoder: counters.decoder,
      audioPacketsLost: 0,
    };
  }
}

const ms = (value: number | undefined) => (value === undefined ? "–" : `${value.toFixed(1)} ms`);

/** The overlay text. */
export function formatStats(stats: PlayerStats, stage: string): string {
  return [
    `transport  ${stats.transport}`,
    `${stats.width}×${stats.height} ${stats.codec}`,
    `decoder    ${stats.decoder || "–"}`,
    `fps        ${stats.fps.toFixed(1)}`,
    `bitrate    ${(stats.bitrateKbps / 1000).toFixed(2)} Mbps`,
    `rtt        ${ms(stats.rttMs)}`,
    `jitter buf ${ms(stats.jitterBufferMs)}`,
    `decode     ${ms(stats.decodeMs)}`,
    `lost       ${stats.packetsLost} video, ${stats.audioPacketsLost} audio`,
    `frames     ${stats.framesDecoded} decoded, ${stats.framesDropped} dropped`,
    `state      ${stage}`,
  ].join("\n");
}
