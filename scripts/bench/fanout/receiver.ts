/**
 * Receiver process of the fan-out benchmark: plays the part of many viewers with WebRtcReceiver
 * (answer, depacketize with RtpDepacketizer, count; no decoding). Driven over Bun IPC by
 * scripts/bench/fanout.ts; every viewer's signaling goes through the parent.
 *
 *   bun scripts/bench/fanout/receiver.ts [--pli-on-loss 0|1] [--bind 127.0.0.1]
 *
 * Like a browser, a receiver that loses a frame asks for a keyframe (PLI, at most every 300 ms)
 * unless --pli-on-loss 0. Floor-mode viewers (floor.ts) receive on a plain UDP socket with a key
 * the sender chose, through the same depacketizer; their keyframe request goes back as a
 * `keyframe` signal.
 */
import { RtpDepacketizer, type RtpDepacketizerStats } from "../../../src/peer/rtp-depacketizer.ts";
import { WebRtcReceiver } from "../../../src/peer/webrtc-receiver.ts";
import { FloorReceivers, type SrtpSuite } from "./floor.ts";
import { epochMs, type FromReceiver, type ReceiverReport, type ToReceiver } from "./protocol.ts";

const args = process.argv.slice(2);
const pliOnLoss = args[args.indexOf("--pli-on-loss") + 1] !== "0";
const bindAddress = args.includes("--bind") ? args[args.indexOf("--bind") + 1]! : "127.0.0.1";
const PLI_INTERVAL_MS = 300;

/** What a viewer of either kind offers the measurement. */
interface Reception {
  readonly videoStats: RtpDepacketizerStats | undefined;
  requestKeyframe(): boolean;
  close(): void;
}

interface Viewer {
  receiver: Reception;
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

function track(id: string, receiver: Reception): Viewer {
  const viewer: Viewer = { receiver, timestamps: [], gotFrame: false, connected: false, droppedSeen: 0, lastPliAt: 0, plisSent: 0 };
  viewers.set(id, viewer);
  return viewer;
}

function frameArrived(id: string, v: Viewer, timestamp: number): void {
  v.timestamps.push(timestamp);
  if (!v.gotFrame) {
    v.gotFrame = true;
    send({ t: "milestone", id, what: "first-frame", at: epochMs() });
  }
}

// ---- floor viewers: plain UDP + SRTP (floor.ts) ----
let floorSockets: FloorReceivers | undefined;
const floorDepacketizers = new Map<number, RtpDepacketizer>();

function openFloorViewer(id: string, keyHex: string, suite: SrtpSuite): void {
  floorSockets ??= new FloorReceivers(suite, (slot, rtp) => floorDepacketizers.get(slot)?.push(rtp));
  const sockets = floorSockets;
  const { slot, port } = sockets.open(Buffer.from(keyHex, "hex"));
  let v!: Viewer;
  const depacketizer = new RtpDepacketizer("h264", (frame) => frameArrived(id, v, frame.timestamp));
  floorDepacketizers.set(slot, depacketizer);
  v = track(id, {
    get videoStats() {
      return depacketizer.stats;
    },
    requestKeyframe: () => (send({ t: "signal", id, m: { type: "keyframe" } }), true),
    close: () => {
      sockets.close(slot);
      floorDepacketizers.delete(slot);
    },
  });
  v.connected = true;
  send({ t: "milestone", id, what: "connected", at: epochMs() });
  send({ t: "floor-port", id, port });
}

function webRtcViewerFor(id: string): WebRtcReceiver {
  const known = viewers.get(id)?.receiver;
  if (known instanceof WebRtcReceiver) return known;
  const receiver = new WebRtcReceiver({ bindAddress, signal: (m) => send({ t: "signal", id, m }) });
  const v = track(id, receiver);
  receiver.on("state", (state) => {
    if (state === "connected" && !v.connected) {
      v.connected = true;
      send({ t: "milestone", id, what: "connected", at: epochMs() });
    }
  });
  receiver.on("frame", (frame) => frameArrived(id, v, frame.timestamp));
  return receiver;
}

process.on("message", (raw) => {
  const message = raw as ToReceiver;
  switch (message.t) {
    case "signal": {
      const receiver = webRtcViewerFor(message.id);
      if (message.m.type === "offer") send({ t: "milestone", id: message.id, what: "offer", at: epochMs() });
      receiver.handleSignal(message.m);
      return;
    }
    case "floor":
      openFloorViewer(message.id, message.key, message.suite);
      return;
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
  floorSockets?.stop();
  for (const v of viewers.values()) v.receiver.close();
  viewers.clear();
  // Let the close messages leave, then go (native threads must not keep us alive).
  setTimeout(() => process.exit(0), 100);
}

// The parent vanished: do not linger.
process.on("disconnect", shutdown);
send({ t: "ready" });
