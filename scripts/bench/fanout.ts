/**
 * Fan-out benchmark: one 20 Mbps 1080p60-shaped H.264 stream sent to N WebRTC viewers over
 * loopback, receivers in separate processes.
 *
 *   bun scripts/bench/fanout.ts [--viewers 1,10,20,40,60,80] [--baseline-viewers <list>]
 *                               [--seconds 5] [--warmup 1] [--joiners 3] [--receiver-procs 1]
 *                               [--pli-on-loss 1] [--late queue|skip] [--modes floor,fanout,baseline]
 *                               [--fanout-procs 2] [--json]
 *
 *   floor      what C pays (fanout/floor.c, compiled with `cc`; needs libssl-dev, libsrtp2-dev): the
 *              same shared RTP packets, per viewer copied, sequence-patched, SRTP-protected with
 *              AES_CM_128_HMAC_SHA1_80 and sendto'd on the viewer's own UDP socket, one FFI call
 *              per frame; the same receiver processes decrypt them in a poll thread (as libjuice
 *              does) and run the same depacketizer. No ICE, DTLS, RTCP: the price of the packets.
 *   floor-gcm  the floor with AEAD_AES_128_GCM, the suite libdatachannel negotiates with its peers
 *              (the like-for-like floor for `fanout`; the profile shows OpenSSL's AES-GCM in it).
 *   floor-gso  floor-gcm sending each viewer's packets of a frame in UDP GSO runs (one sendmsg per
 *              run of equal-sized packets): what a batch-send API in libdatachannel/libjuice would
 *              allow, beyond what one sendto per packet can reach.
 *   fanout     MediaFanout + WebRtcViewer: each frame packetized once (VideoRtpPacketizer), the
 *              same RTP packets written to every viewer's track (sequence number patched)
 *   fanout-procs  the same, the viewers spread over `--fanout-procs` fan-out processes
 *              (src/streamer/fanout-shards.ts); their CPU counts as the sender's, latency is frame
 *              handed over → the last process has written it to all its viewers
 *   baseline   one node-datachannel H264RtpPacketizer (+ RtcpSrReporter + RtcpNackResponder) per
 *              viewer, the Annex-B frame handed to each viewer's track.sendMessageBinary
 *   janus      the stream published once into Debian's Janus (JanusEgress, as `serve --janus-url`
 *              does), Janus's streaming plugin serving the N viewers (the same receivers, signalled
 *              through Janus's HTTP API). Its rows add Janus's own CPU (from /proc/<pid>/stat) per
 *              packet per viewer: what the SFU pays for each viewer. Needs root (tests/support/janus.ts).
 *
 * Frames (scripts/bench/fanout/frames.ts: P ≈ 40 kB ±30 %, IDR 200–300 kB every 2 s) are due on a
 * fixed schedule from performance.now() (no drift). A late sender writes the frames it owes back to
 * back, as a gateway drains its socket buffer after a slow IDR, and drops frames only beyond a
 * 0.5 s backlog (`--late skip` drops every frame not written before the next is due instead), so a
 * fan-out slower than real time shows as fps < 60 and its bursts as "due→sent" delay. A viewer's
 * keyframe request (track open, PLI) makes the next frame an IDR, coalesced by KeyframeRequester (at most one per 150 ms). Receivers (WebRtcReceiver +
 * RtpDepacketizer, no decoding) send a PLI when they lose a frame, like a browser.
 *
 * Per mode and N: N viewers connect and receive a keyframe, `--warmup` s pass, then a window of
 * `--seconds` s is measured: frames written per second, frames a receiver did not reassemble
 * (frames written in the window minus complete frames with an RTP timestamp in the window, per
 * receiver), sender and receiver CPU, sender CPU µs per packet per viewer, gateway latency (frame
 * in → last packet handed to the last viewer). Then `--joiners` extra viewers join one after the
 * other while the stream runs: time from their peer connection's "connected" (and from the offer)
 * to their first complete keyframe. FANOUT_DEBUG=1 prints each joiner's milestones to stderr.
 * `--json` prints one JSON object per mode × N on stdout instead of the table (progress on stderr).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { VideoRtpPacketizer } from "../../src/peer/rtp-packetizer.ts";
import type { ServerSignal, StreamInfo, ViewerSignal } from "../../src/peer/signaling.ts";
import { PLAYOUT_DELAY_EXTENSION_ID, VIDEO_PAYLOAD_TYPE, WebRtcViewer } from "../../src/peer/webrtc-viewer.ts";
import { KeyframeRequester } from "../../src/streamer/keyframe-requester.ts";
import { LatencyHistogram } from "../../src/streamer/latency-histogram.ts";
import { JanusEgress } from "../../src/streamer/janus-egress.ts";
import { FanoutShards } from "../../src/streamer/fanout-shards.ts";
import { MediaFanout } from "../../src/streamer/media-fanout.ts";
import type { ShardViewer } from "../../src/streamer/shard-viewer.ts";
import { startJanus, type RunningJanus } from "../../tests/support/janus.ts";
import { BaselineViewer } from "./fanout/baseline-viewer.ts";
import { FloorSender, SRTP_KEY_BYTES, type SrtpSuite } from "./fanout/floor.ts";
import { SyntheticStream } from "./fanout/frames.ts";
import { epochMs } from "./fanout/protocol.ts";
import { killAllReceivers, ReceiverPool } from "./fanout/receiver-pool.ts";

// ---- options ------------------------------------------------------------------------------------
const args = process.argv.slice(2);
const raw = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const number = (name: string, fallback: number) => {
  const v = raw(name);
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number`);
  return n;
};
const list = (name: string, fallback: number[]) => {
  const v = raw(name);
  if (v === undefined) return fallback;
  const out = v.split(",").map(Number);
  if (out.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--${name} needs a comma-separated list of viewer counts`);
  return out;
};
const VIEWERS = list("viewers", [1, 10, 20, 40, 60, 80]);
const BASELINE_VIEWERS = list("baseline-viewers", VIEWERS);
const SECONDS = number("seconds", 5);
const WARMUP = number("warmup", 1);
const JOINERS = Math.round(number("joiners", 3));
const RECEIVER_PROCS = Math.max(1, Math.round(number("receiver-procs", 1)));
const PLI_ON_LOSS = number("pli-on-loss", 1) !== 0;
const LATE = (raw("late") ?? "queue") as "queue" | "skip";
if (LATE !== "queue" && LATE !== "skip") throw new Error("--late is queue or skip");
const MODES = (raw("modes") ?? "floor,fanout,baseline").split(",") as Mode["name"][];
const JSON_OUTPUT = args.includes("--json");
const FANOUT_PROCS = Math.max(1, Math.round(number("fanout-procs", 2)));

const FPS = 60;
const FRAME_MS = 1000 / FPS;
const BITRATE = 20_000_000;
const IDR_PERIOD_FRAMES = 2 * FPS;
const RTP_TICKS_PER_FRAME = 90_000 / FPS;
const CONNECT_TIMEOUT_MS = 30_000;
const JOIN_TIMEOUT_MS = 5_000;

const STREAM_INFO: StreamInfo = {
  width: 1920,
  height: 1080,
  fps: FPS,
  codec: "h264",
  profileLevelId: "64002a",
  audio: { channels: 2, sampleRate: 48_000 },
  input: true,
  capabilities: { touch: false, pen: false, controllers: 0 },
};

// ---- the two ways of sending ------------------------------------------------------------------------
interface Viewer {
  readonly waitingForKeyframe: boolean;
  readonly state: string;
  handleSignal(m: ViewerSignal): void;
  close(): void;
}

interface Mode {
  readonly name: "floor" | "floor-gcm" | "floor-gso" | "fanout" | "fanout-procs" | "baseline" | "janus";
  readonly latency: LatencyHistogram;
  /** Creates and starts a viewer (played by `pool`); `onKeyframeRequest` is called on its requests. */
  add(id: string, signal: (m: ServerSignal) => void, onKeyframeRequest: (reason?: string) => void, pool: ReceiverPool): Viewer;
  remove(id: string): void;
  /** Writes frame `index` to every viewer. */
  write(frame: Uint8Array, index: number, keyframe: boolean): void;
  /** RTP packets handed to viewer transports so far (summed over viewers). */
  packetsSent(): number;
  /** CPU µs of a process that does the fan-out for us (the SFU), when there is one. */
  sfuCpuUs?(): number;
  /** CPU µs of our own helper processes (fan-out processes): counted as the sender's. */
  helperCpuUs?(): number;
  /** Brings packetsSent/helperCpuUs up to date (they come from other processes). */
  sync?(): Promise<void>;
  /** Where the receivers' ICE must bind to reach the sender (default 127.0.0.1). */
  readonly receiverBindAddress?: string;
  close?(): Promise<void>;
}

const SSRC = { video: 0x1234_5678, audio: 0x2345_6789 };

/** MediaFanout + WebRtcViewer; with `shards`, the viewers live in FanoutShards' processes. */
function fanoutMode(shards?: FanoutShards): Mode {
  const fanout = new MediaFanout({ videoSsrc: SSRC.video, audioSsrc: SSRC.audio });
  fanout.setCodec("h264");
  if (shards) fanout.add(shards);
  const viewers = new Map<string, WebRtcViewer | ShardViewer>();
  let packetsOfGone = 0;
  return {
    name: shards ? "fanout-procs" : "fanout",
    latency: shards ? shards.latency : fanout.latency,
    add(id, signal, onKeyframeRequest) {
      const options = { id, stream: STREAM_INFO, videoSsrc: SSRC.video, audioSsrc: SSRC.audio, ice: { bindAddress: "127.0.0.1" }, signal };
      const viewer = shards ? shards.add(options) : new WebRtcViewer(options);
      viewer.on("keyframeRequest", onKeyframeRequest);
      viewers.set(id, viewer);
      if (viewer instanceof WebRtcViewer) {
        fanout.add(viewer);
        viewer.start();
      }
      return viewer;
    },
    remove(id) {
      const viewer = viewers.get(id);
      if (!viewer) return;
      packetsOfGone += viewer.stats.videoPacketsSent;
      if (viewer instanceof WebRtcViewer) fanout.delete(viewer);
      viewers.delete(id);
      viewer.close();
    },
    write(frame, index, keyframe) {
      fanout.writeVideo(frame, keyframe, index * FRAME_MS * 1000);
    },
    packetsSent() {
      let n = packetsOfGone;
      for (const v of viewers.values()) n += v.stats.videoPacketsSent;
      return n;
    },
    ...(shards ? { helperCpuUs: () => shards.cpuUs(), sync: () => shards.refresh(), close: () => shards.close() } : {}),
  };
}

/** The floor: floor.c sends each frame's shared packets to every viewer socket in one call. */
function floorMode(suite: SrtpSuite, gso = false): Mode {
  const sender = new FloorSender(suite, { gso });
  const packetizer = new VideoRtpPacketizer("h264", { payloadType: VIDEO_PAYLOAD_TYPE.h264, ssrc: SSRC.video, playoutDelayExtensionId: PLAYOUT_DELAY_EXTENSION_ID });
  const latency = new LatencyHistogram();
  interface FloorViewer extends Viewer {
    slot: number | undefined;
    waitingForKeyframe: boolean;
  }
  const viewers = new Map<string, FloorViewer>();
  const waiting: number[] = [];
  const receiving: number[] = [];
  let packets = 0;
  return {
    name: gso ? "floor-gso" : suite === "gcm" ? "floor-gcm" : "floor",
    latency,
    add(id, _signal, onKeyframeRequest, pool) {
      const key = crypto.getRandomValues(new Uint8Array(SRTP_KEY_BYTES[suite]));
      const viewer: FloorViewer = {
        slot: undefined,
        waitingForKeyframe: true,
        get state() {
          return viewer.slot === undefined ? "connecting" : "connected";
        },
        handleSignal: (m) => {
          if (m.type === "keyframe") onKeyframeRequest("pli");
        },
        close: () => {
          if (viewer.slot !== undefined) sender.close(viewer.slot);
          viewer.slot = undefined;
        },
      };
      viewers.set(id, viewer);
      void pool.openFloor(id, key, suite).then((port) => {
        if (viewers.get(id) !== viewer) return;
        viewer.slot = sender.open(key, port);
        onKeyframeRequest("track-open");
      });
      return viewer;
    },
    remove(id) {
      viewers.get(id)?.close();
      viewers.delete(id);
    },
    write(frame, index, keyframe) {
      if (viewers.size === 0) return;
      const started = performance.now();
      const rtp = packetizer.packetize(frame, (index * RTP_TICKS_PER_FRAME) >>> 0, keyframe);
      waiting.length = 0;
      receiving.length = 0;
      for (const v of viewers.values()) {
        if (v.slot === undefined) continue;
        if (!v.waitingForKeyframe) receiving.push(v.slot);
        else if (keyframe) {
          waiting.push(v.slot);
          v.waitingForKeyframe = false;
        }
      }
      // As MediaFanout: viewers waiting for this keyframe get it first.
      packets += sender.send(waiting, rtp.packets) + sender.send(receiving, rtp.packets);
      latency.record(performance.now() - started);
    },
    packetsSent: () => packets,
  };
}

function baselineMode(packetCount: (frame: Uint8Array) => number): Mode {
  const viewers = new Map<string, BaselineViewer>();
  const latency = new LatencyHistogram();
  let packets = 0;
  return {
    name: "baseline",
    latency,
    add(id, signal, onKeyframeRequest) {
      const viewer = new BaselineViewer({ id, stream: STREAM_INFO, videoSsrc: SSRC.video, audioSsrc: SSRC.audio, signal });
      viewer.on("keyframeRequest", onKeyframeRequest);
      viewers.set(id, viewer);
      viewer.start();
      return viewer;
    },
    remove(id) {
      viewers.get(id)?.close();
      viewers.delete(id);
    },
    write(frame, index, keyframe) {
      if (viewers.size === 0) return;
      const started = performance.now();
      const timestamp = (index * RTP_TICKS_PER_FRAME) >>> 0;
      let sent = 0;
      for (const v of viewers.values()) if (v.writeVideo(frame, timestamp, keyframe)) sent++;
      latency.record(performance.now() - started);
      packets += sent * packetCount(frame);
    },
    packetsSent: () => packets,
  };
}

/** CPU time (user + system) of process `pid` in µs, from /proc (clock ticks of 10 ms). */
function processCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * The stream published once into a Janus of the benchmark's own; each viewer watches the
 * mountpoint, signalled through Janus's HTTP API (the receivers answer Janus's offer).
 */
async function janusMode(): Promise<Mode> {
  // Janus reads a mountpoint's RTP with the system's default socket buffer (212 kB here): a 250 kB
  // IDR written back to back overflows it while Janus is busy sending, and every viewer loses the
  // keyframe (measured: 0 of 10 viewers got a picture). docs/scale.md asks deployments for 4 MiB.
  const RMEM = "/proc/sys/net/core/rmem_default";
  const rmemBefore = readFileSync(RMEM, "utf8").trim();
  if (Number(rmemBefore) < 4 << 20) writeFileSync(RMEM, String(4 << 20));
  const janus: RunningJanus = await startJanus();
  const fanout = new MediaFanout({ videoSsrc: SSRC.video, audioSsrc: SSRC.audio });
  fanout.setCodec("h264");
  let requestKeyframe = () => {};
  const egress = new JanusEgress({ url: janus.url, name: "bench", codec: "h264", videoSsrc: SSRC.video, audioSsrc: SSRC.audio, onKeyframeRequest: () => requestKeyframe() });
  fanout.add(egress);
  await egress.start();
  if (egress.health.state !== "up") throw new Error(`Janus mountpoint: ${egress.health.error}`);
  const post = async (path: string, body: Record<string, unknown>) =>
    (await (await fetch(`${janus.url}${path}`, { method: "POST", body: JSON.stringify({ ...body, transaction: crypto.randomUUID() }) })).json()) as { data?: { id: number } };
  const sessions = new Map<string, number>();
  // Short keepalives rather than a long poll per viewer: held polls would take every connection
  // fetch keeps to Janus and stall the other viewers' signalling.
  const keepalive = setInterval(() => {
    for (const session of sessions.values()) void post(`/${session}`, { janus: "keepalive" }).catch(() => undefined);
  }, 20_000);
  const forget = (id: string) => {
    const session = sessions.get(id);
    sessions.delete(id);
    if (session !== undefined) void post(`/${session}`, { janus: "destroy" }).catch(() => undefined);
  };
  return {
    name: "janus",
    latency: fanout.latency,
    receiverBindAddress: janus.clientAddress,
    add(id, signal, onKeyframeRequest) {
      requestKeyframe = onKeyframeRequest;
      let handlePath: string | undefined;
      const pending: ViewerSignal[] = [];
      const toJanus = (m: ViewerSignal) => {
        if (!handlePath) return void pending.push(m);
        if (m.type === "answer") void post(handlePath, { janus: "message", body: { request: "start" }, jsep: { type: "answer", sdp: m.sdp } });
        // Janus takes the candidate line without the SDP attribute prefix libdatachannel puts on it.
        else if (m.type === "candidate") void post(handlePath, { janus: "trickle", candidate: { candidate: m.candidate.replace(/^a=/, ""), sdpMid: m.mid } });
      };
      void (async () => {
        const session = (await post("", { janus: "create" })).data!.id;
        sessions.set(id, session);
        const handle = (await post(`/${session}`, { janus: "attach", plugin: "janus.plugin.streaming" })).data!.id;
        await post(`/${session}/${handle}`, { janus: "message", body: { request: "watch", id: egress.health.mountpoint } });
        let offer: { sdp: string } | undefined;
        for (let i = 0; i < 20 && !offer; i++) offer = ((await (await fetch(`${janus.url}/${session}?maxev=1`)).json()) as { jsep?: { sdp: string } }).jsep;
        if (!offer) throw new Error("Janus sent no offer");
        handlePath = `/${session}/${handle}`;
        signal({ type: "stream", info: STREAM_INFO });
        signal({ type: "offer", sdp: offer.sdp });
        for (const m of pending.splice(0)) toJanus(m);
      })().catch((error) => console.error(`janus viewer ${id}: ${(error as Error).message}`));
      return { waitingForKeyframe: false, state: "connected", handleSignal: toJanus, close: () => forget(id) };
    },
    remove: forget,
    write(frame, index, keyframe) {
      fanout.writeVideo(frame, keyframe, index * FRAME_MS * 1000);
    },
    // What Janus hands on: every packet it gets, to each of its viewers.
    packetsSent: () => egress.health.packets_sent * sessions.size,
    sfuCpuUs: () => processCpuUs(janus.pid),
    async close() {
      clearInterval(keepalive);
      await egress.close();
      await janus.stop();
      writeFileSync(RMEM, rmemBefore);
    },
  };
}

// ---- pacing -------------------------------------------------------------------------------------------
/**
 * Calls `onFrame(index)` for frame `index`, due at t0 + index × 16.67 ms, one frame per event-loop
 * turn (RTCP and signaling get their turns in between, as with a real host's datagrams).
 *
 * - "queue" (default): a late sender writes the frames it owes back to back, like a gateway
 *   draining its socket buffer after a slow IDR; only frames more than `MAX_BACKLOG` behind are
 *   dropped (the socket buffer would overflow).
 * - "skip": a frame not written by the time the next one is due is dropped.
 *
 * `lag` records, per frame, due time → the write returned (schedule delay + fan-out time).
 */
class FramePacer {
  static readonly MAX_BACKLOG = 30;
  readonly lag = new LatencyHistogram();
  written = 0;
  skipped = 0;
  lastIndex = -1;
  #next = 0;
  #t0 = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #onFrame: (index: number) => void;
  readonly #late: "queue" | "skip";

  constructor(late: "queue" | "skip", onFrame: (index: number) => void) {
    this.#late = late;
    this.#onFrame = onFrame;
  }

  start(): void {
    this.#t0 = performance.now();
    this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #tick = (): void => {
    this.#timer = undefined;
    if (this.#stopped) return;
    const due = Math.floor((performance.now() - this.#t0) / FRAME_MS);
    if (due >= this.#next) {
      const oldest = this.#late === "skip" ? due : due - FramePacer.MAX_BACKLOG + 1;
      if (oldest > this.#next) {
        this.skipped += oldest - this.#next;
        this.#next = oldest;
      }
      const index = this.#next++;
      this.lastIndex = index;
      this.written++;
      this.#onFrame(index);
      this.lag.record(performance.now() - (this.#t0 + index * FRAME_MS));
    }
    const wait = this.#t0 + this.#next * FRAME_MS - performance.now();
    if (wait <= 0) setImmediate(this.#tick);
    else this.#timer = setTimeout(this.#tick, wait);
  };
}

// ---- one run ---------------------------------------------------------------------------------------
interface JoinSample {
  connectedToFrameMs: number;
  offerToFrameMs: number;
  /** The joiner's keyframe request → its first keyframe written by the sender. */
  requestToIdrMs: number;
}

interface Result {
  mode: Mode["name"];
  viewers: number;
  connected: number;
  fps: number;
  skipped: number;
  lostTotal: number;
  lostWorst: number;
  packetsLost: number;
  senderCpu: number;
  receiverCpu: number;
  usPerPacket: number;
  packetsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  lagP99: number;
  idrs: number;
  plis: number;
  joins: JoinSample[];
  joinFailures: number;
  /** The SFU's CPU % and µs per packet per viewer (janus mode). */
  sfuCpu: number;
  sfuUsPerPacket: number;
}

const stream = new SyntheticStream({ fps: FPS, bitsPerSecond: BITRATE });
const packetCounts = new Map<Uint8Array, number>();
{
  const counter = new VideoRtpPacketizer("h264", { payloadType: VIDEO_PAYLOAD_TYPE.h264, ssrc: 1 });
  for (const f of [...stream.pFrames, ...stream.idrFrames]) packetCounts.set(f, counter.packetize(f, 0, false).packets.length);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!what()) {
    if (performance.now() > end) return false;
    await sleep(5);
  }
  return true;
}

async function run(modeName: Mode["name"], n: number): Promise<Result> {
  const mode =
    modeName === "fanout" ? fanoutMode() : modeName === "fanout-procs" ? fanoutMode(await FanoutShards.start({ processes: FANOUT_PROCS })) : modeName === "floor" ? floorMode("cm") : modeName === "floor-gcm" ? floorMode("gcm") : modeName === "floor-gso" ? floorMode("gcm", true) : modeName === "janus" ? await janusMode() : baselineMode((f) => packetCounts.get(f)!);
  const pool = new ReceiverPool(RECEIVER_PROCS, { pliOnLoss: PLI_ON_LOSS, ...(mode.receiverBindAddress ? { bindAddress: mode.receiverBindAddress } : {}) });
  await pool.ready();
  const viewers = new Map<string, Viewer>();

  let idrPending = false;
  let lastIdr = Number.NEGATIVE_INFINITY;
  let idrs = 0;
  let plis = 0;
  const keyframes = new KeyframeRequester({
    send: () => (idrPending = true),
    isWaiting: () => [...viewers.values()].some((v) => v.waitingForKeyframe && v.state === "connected"),
  });
  /** Sender-side hook after each frame (joiner bookkeeping). */
  let afterFrame: ((keyframe: boolean) => void) | undefined;
  const pacer = new FramePacer(LATE, (index) => {
    const keyframe = idrPending || index - lastIdr >= IDR_PERIOD_FRAMES;
    if (keyframe) {
      idrPending = false;
      lastIdr = index;
      idrs++;
    }
    mode.write(stream.frame(index, keyframe), index, keyframe);
    if (keyframe) keyframes.keyframeArrived();
    afterFrame?.(keyframe);
  });

  const addViewer = (id: string, onRequest?: (reason: string) => void) => {
    let viewer!: Viewer;
    const signal = pool.attach(id, (m) => viewer.handleSignal(m));
    viewer = mode.add(
      id,
      signal,
      (reason?: unknown) => {
        if (reason === "pli") plis++;
        onRequest?.(String(reason));
        keyframes.request();
      },
      pool,
    );
    viewers.set(id, viewer);
    return viewer;
  };
  const removeViewer = (id: string) => {
    mode.remove(id);
    viewers.delete(id);
    pool.detach(id);
  };

  try {
    pacer.start();
    const ids = Array.from({ length: n }, (_, i) => `v${i}`);
    for (const id of ids) addViewer(id);
    const allIn = () => ids.every((id) => pool.milestones.get(id)?.firstFrame !== undefined);
    await until(allIn, CONNECT_TIMEOUT_MS);
    const connected = ids.filter((id) => pool.milestones.get(id)?.firstFrame !== undefined).length;
    await sleep(WARMUP * 1000);

    // ---- measurement window ----
    mode.latency.reset();
    pacer.lag.reset();
    await mode.sync?.();
    const helperCpu0 = mode.helperCpuUs?.() ?? 0;
    const recvCpu0 = await pool.cpuUs();
    const sfuCpu0 = mode.sfuCpuUs?.() ?? 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const written0 = pacer.written;
    const skipped0 = pacer.skipped;
    const firstIndex = pacer.lastIndex + 1;
    const packets0 = mode.packetsSent();
    const idrs0 = idrs;
    const plis0 = plis;
    await sleep(SECONDS * 1000);
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    // Read now: the receivers' report below can take a while when they are saturated.
    const sfuCpuUs = (mode.sfuCpuUs?.() ?? 0) - sfuCpu0;
    const lastIndex = pacer.lastIndex;
    const written = pacer.written - written0;
    const skipped = pacer.skipped - skipped0;
    // Helper processes answer after the frames sent before the question: their packets and CPU
    // are then those of the window's frames.
    await mode.sync?.();
    const helperCpuUs = (mode.helperCpuUs?.() ?? 0) - helperCpu0;
    const packets = mode.packetsSent() - packets0;
    const recvCpu = (await pool.cpuUs()) - recvCpu0;
    const windowIdrs = idrs - idrs0;
    const windowPlis = plis - plis0;
    const latency = { p50: mode.latency.percentile(50), p99: mode.latency.percentile(99), max: mode.latency.percentile(100), lagP99: pacer.lag.percentile(99) };
    const senderCpuUs = cpu.user + cpu.system + helperCpuUs;

    // ---- joiners ----
    const joins: JoinSample[] = [];
    let joinFailures = 0;
    for (let j = 0; j < JOINERS; j++) {
      await sleep(250); // past the keyframe coalescing window of the previous joiner
      const id = `j${j}`;
      let requestedAt: number | undefined;
      let idrAt: number | undefined;
      const offerAt = epochMs();
      const joiner = addViewer(id, () => (requestedAt ??= epochMs()));
      afterFrame = () => {
        if (idrAt === undefined && requestedAt !== undefined && !joiner.waitingForKeyframe) idrAt = epochMs();
      };
      const ok = await until(() => pool.milestones.get(id)?.firstFrame !== undefined, JOIN_TIMEOUT_MS);
      afterFrame = undefined;
      const m = pool.milestones.get(id)!;
      if (process.env.FANOUT_DEBUG) console.error(`joiner ${id}: offer@recv +${((m.offer ?? NaN) - offerAt).toFixed(1)} connected +${((m.connected ?? NaN) - offerAt).toFixed(1)} request +${((requestedAt ?? NaN) - offerAt).toFixed(1)} idr +${((idrAt ?? NaN) - offerAt).toFixed(1)} frame +${((m.firstFrame ?? NaN) - offerAt).toFixed(1)}`);
      if (ok && m.connected !== undefined && m.firstFrame !== undefined) {
        joins.push({
          connectedToFrameMs: m.firstFrame - m.connected,
          offerToFrameMs: m.firstFrame - offerAt,
          requestToIdrMs: idrAt !== undefined && requestedAt !== undefined ? idrAt - requestedAt : Number.NaN,
        });
      } else joinFailures++;
      removeViewer(id);
    }

    pacer.stop();
    await sleep(300); // let the last packets arrive
    const reports = (await pool.report(firstIndex * RTP_TICKS_PER_FRAME, lastIndex * RTP_TICKS_PER_FRAME)).filter((r) => r.id.startsWith("v"));
    const lost = reports.map((r) => Math.max(0, written - r.framesInRange));
    for (let i = reports.length; i < n; i++) lost.push(written); // never connected
    return {
      mode: modeName,
      viewers: n,
      connected,
      fps: written / (wall / 1000),
      skipped,
      lostTotal: lost.reduce((a, b) => a + b, 0),
      lostWorst: Math.max(0, ...lost),
      packetsLost: reports.reduce((a, r) => a + r.packetsLost, 0),
      senderCpu: (senderCpuUs / 1000 / wall) * 100,
      receiverCpu: (recvCpu / 1000 / wall) * 100,
      usPerPacket: packets > 0 ? senderCpuUs / packets : 0,
      packetsPerSecond: packets / (wall / 1000),
      ...latency,
      idrs: windowIdrs,
      plis: windowPlis,
      joins,
      joinFailures,
      sfuCpu: (sfuCpuUs / 1000 / wall) * 100,
      sfuUsPerPacket: packets > 0 ? sfuCpuUs / packets : 0,
    };
  } finally {
    pacer.stop();
    keyframes.close();
    for (const id of [...viewers.keys()]) removeViewer(id);
    await pool.close();
    await mode.close?.();
  }
}

// ---- main -------------------------------------------------------------------------------------------
const onSignal = () => {
  killAllReceivers();
  process.exit(130);
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const plan: [Mode["name"], number][] = [];
for (const n of [...new Set([...VIEWERS, ...BASELINE_VIEWERS])].sort((a, b) => a - b)) {
  if (MODES.includes("floor") && VIEWERS.includes(n)) plan.push(["floor", n]);
  if (MODES.includes("floor-gcm") && VIEWERS.includes(n)) plan.push(["floor-gcm", n]);
  if (MODES.includes("floor-gso") && VIEWERS.includes(n)) plan.push(["floor-gso", n]);
  if (MODES.includes("fanout") && VIEWERS.includes(n)) plan.push(["fanout", n]);
  if (MODES.includes("fanout-procs") && VIEWERS.includes(n)) plan.push(["fanout-procs", n]);
  if (MODES.includes("baseline") && BASELINE_VIEWERS.includes(n)) plan.push(["baseline", n]);
  if (MODES.includes("janus") && VIEWERS.includes(n)) plan.push(["janus", n]);
}

const pMean = stream.pFrameMeanBytes;
(JSON_OUTPUT ? console.error : console.log)(
  `stream: H.264 1080p60-shaped, ${(BITRATE / 1e6).toFixed(0)} Mbps, P ≈ ${(pMean / 1000).toFixed(1)} kB ±30 % ` +
    `(${packetCounts.get(stream.pFrames[0]!)} RTP packets for the first), IDR 200–300 kB every 2 s or on request; ` +
    `${SECONDS} s measured per row after ${WARMUP} s warm-up; ${RECEIVER_PROCS} receiver process(es); ` +
    `receivers PLI on loss: ${PLI_ON_LOSS ? "yes" : "no"}; ${JOINERS} joiner(s) per row`,
);

const started = performance.now();
const results: Result[] = [];
try {
  for (const [modeName, n] of plan) {
    const r = await run(modeName, n);
    results.push(r);
    console.error(
      `  ${modeName} N=${n}: ${r.fps.toFixed(1)} fps, lost ${r.lostTotal}, sender CPU ${r.senderCpu.toFixed(0)} %, ${r.usPerPacket.toFixed(2)} µs/pkt/viewer, p99 ${r.p99.toFixed(2)} ms (loadavg ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`,
    );
    if (JSON_OUTPUT) {
      const round = (x: number, d: number) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);
      console.log(
        JSON.stringify({
          mode: r.mode,
          viewers: r.viewers,
          fps: round(r.fps, 2),
          lost_frames: r.lostTotal,
          sender_us_per_packet_per_viewer: round(r.usPerPacket, 3),
          p50_ms: round(r.p50, 3),
          p99_ms: round(r.p99, 3),
        }),
      );
    }
    await sleep(300);
  }
} finally {
  killAllReceivers();
}

if (JSON_OUTPUT) process.exit(0);

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
};
const fixed = (x: number, d: number) => (Number.isFinite(x) ? Number(x.toFixed(d)) : "-");
console.table(
  results.map((r) => ({
    mode: { baseline: "baseline (packetizer/viewer)", janus: "janus (publish once, SFU)", fanout: "fanout (packetize once)", "fanout-procs": `fanout in ${FANOUT_PROCS} processes`, floor: "floor (C: SRTP CM-SHA1 + sendto)", "floor-gcm": "floor (C: SRTP GCM + sendto)", "floor-gso": "floor (C: SRTP GCM + UDP GSO)" }[r.mode],
    N: r.connected === r.viewers ? r.viewers : `${r.viewers} (${r.connected} up)`,
    fps: fixed(r.fps, 1),
    skipped: r.skipped,
    "lost frames": r.lostTotal,
    "worst viewer": r.lostWorst,
    "pkts lost": r.packetsLost,
    "IDRs/PLIs": `${r.idrs}/${r.plis}`,
    "sender CPU %": fixed(r.senderCpu, 0),
    "recv CPU %": fixed(r.receiverCpu, 0),
    "µs/pkt/viewer": fixed(r.usPerPacket, 2),
    "SFU CPU %": r.mode === "janus" ? fixed(r.sfuCpu, 0) : "-",
    "SFU µs/pkt/viewer": r.mode === "janus" ? fixed(r.sfuUsPerPacket, 2) : "-",
    "kpkt/s": fixed(r.packetsPerSecond / 1000, 0),
    "p50 ms": fixed(r.p50, 2),
    "p99 ms": fixed(r.p99, 2),
    "max ms": fixed(r.max, 2),
    "due→sent p99 ms": fixed(r.lagP99, 1),
    "join: conn→frame ms": r.joins.length ? `${fixed(median(r.joins.map((j) => j.connectedToFrameMs)), 0)} (max ${fixed(Math.max(...r.joins.map((j) => j.connectedToFrameMs)), 0)})` : "-",
    "offer→frame ms": fixed(median(r.joins.map((j) => j.offerToFrameMs)), 0),
    "req→IDR ms": fixed(median(r.joins.map((j) => j.requestToIdrMs)), 1),
    "join fails": r.joinFailures,
  })),
);
console.log(
  "fps: frames written per second (target 60); skipped: frames dropped by the pacer (backlog > 0.5 s, or late with --late skip); due→sent: frame due → its fan-out returned (queueing + fan-out); lost frames: frames written in the window that a " +
    "receiver did not reassemble (total, worst viewer); µs/pkt/viewer: sender CPU time / RTP packets sent to all viewers; p50/p99/max: frame in → " +
    "last packet handed to the last viewer; join: median over joiners (connected → first complete keyframe, offer → first keyframe, keyframe request → IDR written).",
);

// ---- verdict ----------------------------------------------------------------------------------------
for (const name of MODES) {
  const rows = results.filter((r) => r.mode === name);
  if (rows.length === 0) continue;
  const at = (n: number) => rows.find((r) => r.viewers === n);
  const r60 = at(60);
  const r10 = at(10);
  const joins = rows.flatMap((r) => r.joins.map((j) => j.connectedToFrameMs));
  const worstJoin = joins.length ? Math.max(...joins) : Number.NaN;
  const joinFails = rows.reduce((a, r) => a + r.joinFailures, 0);
  const held = rows.filter((r) => r.fps >= 59.5 && r.lostTotal === 0 && r.connected === r.viewers).map((r) => r.viewers);
  const parts = [
    r60 ? `60 viewers: ${r60.fps.toFixed(1)} fps, ${r60.lostTotal} lost ${r60.fps >= 59.5 && r60.lostTotal === 0 ? "PASS" : "FAIL"}` : "60 viewers: not run",
    r10 ? `p99 at 10: ${r10.p99.toFixed(2)} ms ${r10.p99 <= 3 ? "PASS" : "FAIL"}` : "p99 at 10: not run",
    `first frame after connect: worst ${fixed(worstJoin, 0)} ms${joinFails ? `, ${joinFails} joiner(s) got none` : ""} ${worstJoin <= 300 && joinFails === 0 ? "PASS" : "FAIL"}`,
    `held 60 fps with 0 lost at N = ${held.length ? held.join(", ") : "none"}`,
  ];
  console.log(`verdict ${name}: ${parts.join("; ")}`);
}
// The fan-out against the floor measured in the same run (issue 17: ≤ 1.5× at N = 40; at N = 60 the same fps).
for (const floorName of ["floor", "floor-gcm", "floor-gso"] as const) {
  for (const n of VIEWERS) {
    const floor = results.find((r) => r.mode === floorName && r.viewers === n);
    const fanout = results.find((r) => r.mode === "fanout" && r.viewers === n);
    if (!floor || !fanout || floor.usPerPacket <= 0) continue;
    const ratio = fanout.usPerPacket / floor.usPerPacket;
    const verdict = n === 40 ? (ratio <= 1.5 ? " PASS" : " FAIL") : n === 60 ? (fanout.fps >= floor.fps - 0.5 ? " fps PASS" : " fps FAIL") : "";
    console.log(`fanout / ${floorName} at N=${n}: ${ratio.toFixed(2)}× µs/pkt/viewer (${fanout.usPerPacket.toFixed(2)} / ${floor.usPerPacket.toFixed(2)}), fps ${fanout.fps.toFixed(1)} / ${floor.fps.toFixed(1)}${verdict}`);
  }
}
console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
