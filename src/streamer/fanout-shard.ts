/**
 * A fan-out process: owns a share of a streamer's WebRTC viewers (their PeerConnections live here,
 * node-datachannel being usable from one JS thread per process) and writes each frame the
 * streamer sends it to them — the per-packet SRTP and `sendto` of these viewers run on this
 * process's core. Started by FanoutShards (fanout-shards.ts) with Bun IPC; exits with its parent.
 *
 *   bun src/streamer/fanout-shard.ts
 */
import { logger } from "../core/log.ts";
import type { RtpFrame } from "../peer/rtp-packetizer.ts";
import { MoonlightWebInput } from "../compat/moonlight-web/input-channels.ts";
import { WebRtcViewer } from "../peer/webrtc-viewer.ts";
import { epochMs, type FromShard, type ShardViewerState, type ToShard } from "./fanout-shard-protocol.ts";

const log = logger("fanout-shard");
const STATE_INTERVAL_MS = 250;

export function runFanoutShard(): void {
  if (typeof process.send !== "function") throw new Error("fanout-shard is started by FanoutShards (Bun IPC)");
  const send = (message: FromShard) => {
    try {
      process.send!(message);
    } catch {
      // the streamer is gone; the disconnect handler ends us
    }
  };
  const viewers = new Map<string, WebRtcViewer>();
  /** Reused list of the viewers a keyframe goes to first. */
  const waiting: WebRtcViewer[] = [];

  const state = (seq: number) => {
    const now = performance.now();
    const list: ShardViewerState[] = [...viewers.values()].map((v) => ({
      id: v.id,
      state: v.state,
      stats: { ...v.stats },
      rttMs: v.rttMs,
      heardMsAgo: v.lastHeardAt === 0 ? -1 : now - v.lastHeardAt,
      waitingForKeyframe: v.waitingForKeyframe,
      receivingVideo: v.receivingVideo,
    }));
    const cpu = process.cpuUsage();
    send({ t: "state", seq, viewers: list, cpuUs: cpu.user + cpu.system });
  };
  const timer = setInterval(() => state(0), STATE_INTERVAL_MS);

  const writeVideo = (m: Extract<ToShard, { t: "video" }>) => {
    const packets: Uint8Array[] = new Array(m.ends.length);
    let start = 0;
    for (let i = 0; i < m.ends.length; i++) {
      packets[i] = m.data.subarray(start, m.ends[i]);
      start = m.ends[i]!;
    }
    const frame: RtpFrame = { packets, bytes: m.data.length, timestamp: m.timestamp, keyframe: m.keyframe, firstSequence: m.firstSequence };
    if (m.keyframe) {
      // As MediaFanout: viewers waiting for this keyframe get it first.
      waiting.length = 0;
      for (const v of viewers.values()) if (v.waitingForKeyframe) waiting.push(v);
      for (const v of waiting) v.writeVideo(frame);
      for (const v of viewers.values()) if (!waiting.includes(v)) v.writeVideo(frame);
      waiting.length = 0;
    } else {
      for (const v of viewers.values()) v.writeVideo(frame);
    }
    send({ t: "wrote", seq: m.seq, at: epochMs() });
  };

  const add = (options: Extract<ToShard, { t: "add" }>["viewer"]) => {
    const { id } = options;
    // A Helix browser's own input channels (docs/helix.md §1.2), as the streamer process has them.
    const viewer = new WebRtcViewer({ ...options, channels: () => new MoonlightWebInput(), signal: (m) => send({ t: "signal", id, m }) });
    viewers.set(id, viewer);
    viewer.on("input", (packet) => send({ t: "input", id, packet }));
    viewer.on("keyframeRequest", (reason) => send({ t: "keyframe-request", id, reason }));
    viewer.on("linkFeedback", (fractionLost, rembBps) => send({ t: "link-feedback", id, fractionLost, rembBps }));
    viewer.on("open", () => send({ t: "open", id }));
    viewer.on("closed", (reason) => {
      viewers.delete(id);
      send({ t: "closed", id, reason });
    });
    viewer.start();
  };

  const shutdown = () => {
    clearInterval(timer);
    for (const v of [...viewers.values()]) v.close("fan-out process stopped");
    // Let the close messages leave, then go (native threads must not keep us alive).
    setTimeout(() => process.exit(0), 100);
  };

  process.on("message", (raw) => {
    const m = raw as ToShard;
    try {
      switch (m.t) {
        case "video":
          return writeVideo(m);
        case "audio":
          for (const v of viewers.values()) v.writeAudio(m.packet, m.timestamp);
          return;
        case "add":
          return add(m.viewer);
        case "signal":
          return viewers.get(m.id)?.handleSignal(m.m);
        case "send-signal":
          return viewers.get(m.id)?.sendSignal(m.m);
        case "update-stream":
          return viewers.get(m.id)?.updateStream(m.info);
        case "reset-keyframe":
          return viewers.get(m.id)?.resetToKeyframe();
        case "close":
          return viewers.get(m.id)?.close(m.reason);
        case "resync":
          for (const v of viewers.values()) {
            if (v.waitingForKeyframe) continue;
            v.resetToKeyframe();
            send({ t: "keyframe-request", id: v.id, reason: "viewer" });
          }
          return;
        case "state?":
          return state(m.seq);
        case "exit":
          return shutdown();
      }
    } catch (error) {
      log.warn(`fan-out process: ${m.t}: ${(error as Error).message}`);
    }
  });
  process.on("disconnect", shutdown);
  send({ t: "ready" });
}

if (import.meta.main) runFanoutShard();
