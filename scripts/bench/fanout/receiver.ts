/**
 * Receiver process of the fan-out benchmark: plays the part of many viewers with WebRtcReceiver
 * (answer, depacketize with RtpDepacketizer, count; no decoding). Driven over Bun IPC by
 * scripts/bench/fanout.ts; every viewer's signaling goes through the parent.
 *
 *   bun scripts/bench/fanout/receiver.ts [--pli-on-loss 0|1] [--bind 127.0.0.1]
 *
 * Like a browser, a receiver that loses a frame asks for a keyframe (PLI, at most every 300 ms)
 * unless --pli-on-loss 0.
 */
import { WebRtcReceiver } from "../../../src/peer/webrtc-receiver.ts";
import { epochMs, type FromReceiver, type ReceiverReport, type ToReceiver } from "./protocol.ts";

const args = process.argv.slice(2);
const pliOnLoss = args[args.indexOf("--pli-on-loss") + 1] !== "0";
const bindAddress = args.includes("--bind") ? args[args.indexOf("--bind") + 1]! : "127.0.0.1";
const PLI_INTERVAL_MS = 300;

interface Viewer {
  receiver: WebRtcReceiver;
  /** RTP timestamps of complete frames, in arrival order. */
  timestamps: number[];
  gotFrame: boolean;
  connected: boolean;
  droppedSeen: number;
  lastPliAt: number;
  plisSent: number;
}

const viewers = new Map<string, Viewer>();
const send = (message: FromReceiver) => process.send!(message);

function viewerFor(id: string): Viewer {
  let viewer = viewers.get(id);
  if (viewer) return viewer;
  const receiver = new WebRtcReceiver({ bindAddress, signal: (m) => send({ t: "signal", id, m }) });
  viewer = { receiver, timestamps: [], gotFrame: false, connected: false, droppedSeen: 0, lastPliAt: 0, plisSent: 0 };
  const v = viewer;
  receiver.on("state", (state) => {
    if (state === "connected" && !v.connected) {
      v.connected = true;
      send({ t: "milestone", id, what: "connected", at: epochMs() });
    }
  });
  receiver.on("frame", (frame) => {
    v.timestamps.push(frame.timestamp);
    if (!v.gotFrame) {
      v.gotFrame = true;
      send({ t: "milestone", id, what: "first-frame", at: epochMs() });
    }
  });
  viewers.set(id, viewer);
  return viewer;
}

process.on("message", (raw) => {
  const message = raw as ToReceiver;
  switch (message.t) {
    case "signal": {
      const viewer = viewerFor(message.id);
      if (message.m.type === "offer") send({ t: "milestone", id: message.id, what: "offer", at: epochMs() });
      viewer.receiver.handleSignal(message.m);
      return;
    }
    case "cpu": {
      const cpu = process.cpuUsage();
      send({ t: "cpu", seq: message.seq, userUs: cpu.user, systemUs: cpu.system, at: epochMs() });
      return;
    }
    case "report": {
      const reports: ReceiverReport[] = [];
      for (const [id, v] of viewers) {
        let inRange = 0;
        for (const ts of v.timestamps) if (ts >= message.from && ts <= message.to) inRange++;
        const s = v.receiver.videoStats;
        reports.push({
          id,
          framesInRange: inRange,
          frames: s?.frames ?? 0,
          framesDropped: s?.framesDropped ?? 0,
          packetsLost: s?.packetsLost ?? 0,
          packets: s?.packets ?? 0,
          plisSent: v.plisSent,
        });
      }
      send({ t: "report", seq: message.seq, viewers: reports });
      return;
    }
    case "close": {
      viewers.get(message.id)?.receiver.close();
      viewers.delete(message.id);
      return;
    }
    case "exit":
      shutdown();
      return;
  }
});

// A receiver that dropped a frame waits for a keyframe: ask for one, as a browser would.
const pliTimer = setInterval(() => {
  if (!pliOnLoss) return;
  const now = performance.now();
  for (const v of viewers.values()) {
    const dropped = v.receiver.videoStats?.framesDropped ?? 0;
    if (dropped > v.droppedSeen && v.gotFrame && now - v.lastPliAt >= PLI_INTERVAL_MS) {
      v.droppedSeen = dropped;
      v.lastPliAt = now;
      if (v.receiver.requestKeyframe()) v.plisSent++;
    }
  }
}, 50);

function shutdown(): void {
  clearInterval(pliTimer);
  for (const v of viewers.values()) v.receiver.close();
  viewers.clear();
  // Let the close messages leave, then go (native threads must not keep us alive).
  setTimeout(() => process.exit(0), 100);
}

// The parent vanished: do not linger.
process.on("disconnect", shutdown);
send({ t: "ready" });
