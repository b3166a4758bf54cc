/**
 * A streamer's WebRTC viewers spread over fan-out processes (fanout-shard.ts), so that the
 * per-packet cost of many viewers — SRTP and one `sendto` per packet and viewer, ~90 % of the
 * fan-out (docs/fanout-floor.md) — runs on more than one core. node-datachannel cannot be used
 * from more than one JS thread of a process (its N-API constructors are process-wide; a second
 * thread crashes), hence processes. Each frame crosses to each process once; a viewer joins the
 * process with the fewest viewers. As a MediaSink it sits in MediaFanout beside local viewers.
 *
 * `latency`: frame handed to us → the last process has handed it to all its viewers.
 *
 * A process that falls behind (more than MAX_IN_FLIGHT frames not yet written: a starved core)
 * is skipped, frames are not queued for it: its viewers would otherwise see seconds of delay.
 * When it has caught up its viewers wait for the next keyframe (they lost frames) and ask for one.
 */
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { logger } from "../core/log.ts";
import type { RtpFrame } from "../peer/rtp-packetizer.ts";
import type { ServerSignal } from "../peer/signaling.ts";
import { epochMs, type FromShard, type ShardViewerOptions, type ToShard } from "./fanout-shard-protocol.ts";
import { LatencyHistogram } from "./latency-histogram.ts";
import type { MediaSink } from "./media-fanout.ts";
import { ShardViewer } from "./shard-viewer.ts";

const log = logger("fanout-shards");
const SHARD_ENTRY = resolve(import.meta.dir, "fanout-shard.ts");
/** Frames a process may have yet to write (~130 ms at 60 fps) before it is skipped. */
const MAX_IN_FLIGHT = 8;

export class FanoutShardsError extends Error {
  override name = "FanoutShardsError";
}

interface Shard {
  readonly proc: Subprocess;
  readonly viewers: Set<string>;
  cpuUs: number;
  exited: boolean;
  /** Frames sent and not yet written. */
  inFlight: number;
  /** Frames skipped since it fell behind (its viewers resync at a keyframe once it catches up). */
  skipped: number;
  framesSkipped: number;
}

export interface FanoutShardsOptions {
  processes: number;
  /** How to start one process (default: this Bun running fanout-shard.ts). */
  command?: string[];
}

export class FanoutShards implements MediaSink {
  readonly latency = new LatencyHistogram();
  readonly #shards: Shard[] = [];
  readonly #viewers = new Map<string, { viewer: ShardViewer; shard: Shard; signal: (m: ServerSignal) => void }>();
  /** Frames in flight: when they were handed to us and how many processes have yet to write them. */
  readonly #frames = new Map<number, { at: number; left: number }>();
  readonly #stateWaiters = new Map<number, { left: number; done: () => void }>();
  #frameSeq = 0;
  #stateSeq = 0;
  #closed = false;

  private constructor() {}

  /** Starts the processes; resolves when all are ready. */
  static async start(options: FanoutShardsOptions): Promise<FanoutShards> {
    if (!Number.isInteger(options.processes) || options.processes < 1) throw new FanoutShardsError("processes must be a positive integer");
    const shards = new FanoutShards();
    await Promise.all(Array.from({ length: options.processes }, () => shards.#spawn(options.command ?? [process.execPath, SHARD_ENTRY])));
    return shards;
  }

  get processes(): number {
    return this.#shards.length;
  }

  /** Per process: its pid, how many viewers it holds, frames it was skipped for (behind). */
  get load(): { pid: number; viewers: number; exited: boolean; framesSkipped: number }[] {
    return this.#shards.map((s) => ({ pid: s.proc.pid, viewers: s.viewers.size, exited: s.exited, framesSkipped: s.framesSkipped }));
  }

  /** Adds a viewer in the least loaded process; its offer is sent at once (as WebRtcViewer.start). */
  add(options: ShardViewerOptions & { signal: (message: ServerSignal) => void }): ShardViewer {
    if (this.#closed) throw new FanoutShardsError("fan-out processes stopped");
    const live = this.#shards.filter((s) => !s.exited);
    if (live.length === 0) throw new FanoutShardsError("no fan-out process is running");
    const shard = live.reduce((a, b) => (b.viewers.size < a.viewers.size ? b : a));
    const { signal, ...viewerOptions } = options;
    const viewer = new ShardViewer(options.id, options.viewOnly ?? false, (m) => this.#send(shard, m));
    viewer.on("closed", () => {
      shard.viewers.delete(options.id);
      this.#viewers.delete(options.id);
    });
    this.#viewers.set(options.id, { viewer, shard, signal });
    shard.viewers.add(options.id);
    this.#send(shard, { t: "add", viewer: viewerOptions });
    return viewer;
  }

  /** True while a viewer waits for its first keyframe (MediaFanout sends keyframes to such sinks first). */
  get waitingForKeyframe(): boolean {
    for (const { viewer } of this.#viewers.values()) if (viewer.waitingForKeyframe) return true;
    return false;
  }

  /** Sends one frame's packets to every process that has viewers. */
  writeVideo(frame: RtpFrame): boolean {
    const packets = frame.packets;
    if (this.#viewers.size === 0 || packets.length === 0) return false;
    const first = packets[0]!;
    const ends = new Uint32Array(packets.length);
    for (let i = 0; i < packets.length; i++) ends[i] = packets[i]!.byteOffset + packets[i]!.byteLength - first.byteOffset;
    const data = new Uint8Array(first.buffer, first.byteOffset, ends[packets.length - 1]);
    const seq = ++this.#frameSeq;
    const at = epochMs();
    let sent = 0;
    for (const shard of this.#shards) {
      if (shard.exited || shard.viewers.size === 0) continue;
      if (shard.inFlight >= MAX_IN_FLIGHT) {
        shard.skipped++;
        shard.framesSkipped++;
        continue;
      }
      if (shard.skipped > 0) {
        shard.skipped = 0;
        this.#send(shard, { t: "resync" });
      }
      this.#send(shard, { t: "video", seq, data, ends, timestamp: frame.timestamp, keyframe: frame.keyframe, firstSequence: frame.firstSequence, at });
      shard.inFlight++;
      sent++;
    }
    if (sent > 0) this.#frames.set(seq, { at, left: sent });
    return sent > 0;
  }

  writeAudio(packet: Uint8Array, timestamp: number): void {
    for (const shard of this.#shards) if (!shard.exited && shard.viewers.size > 0) this.#send(shard, { t: "audio", packet, timestamp });
  }

  /** Asks every process for its viewers' state now; resolves when all have answered. */
  refresh(): Promise<void> {
    const live = this.#shards.filter((s) => !s.exited);
    if (live.length === 0) return Promise.resolve();
    const seq = ++this.#stateSeq;
    return new Promise((done) => {
      this.#stateWaiters.set(seq, { left: live.length, done });
      for (const shard of live) this.#send(shard, { t: "state?", seq });
    });
  }

  /** CPU time (µs) the processes reported last (a `refresh()` brings it up to date). */
  cpuUs(): number {
    return this.#shards.reduce((sum, s) => sum + s.cpuUs, 0);
  }

  /** Closes every viewer and stops the processes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const { viewer } of [...this.#viewers.values()]) viewer.close("fan-out stopped");
    for (const shard of this.#shards) this.#send(shard, { t: "exit" });
    await Promise.all(
      this.#shards.map(async (s) => {
        const timer = setTimeout(() => s.proc.kill("SIGKILL"), 3000);
        await s.proc.exited;
        clearTimeout(timer);
      }),
    );
  }

  #spawn(command: string[]): Promise<void> {
    return new Promise((ready, fail) => {
      let shard!: Shard;
      const proc = Bun.spawn({
        cmd: command,
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
        serialization: "advanced",
        ipc: (message) => {
          if ((message as FromShard).t === "ready") ready();
          else this.#onMessage(shard, message as FromShard);
        },
        onExit: (_p, code) => {
          shard.exited = true;
          if (!this.#closed) log.warn(`fan-out process ${proc.pid} exited (${code}); its ${shard.viewers.size} viewer(s) are closed`);
          for (const id of [...shard.viewers]) this.#viewers.get(id)?.viewer.closed("fan-out process exited");
          fail(new FanoutShardsError(`fan-out process exited (${code}) before it was ready`));
        },
      });
      shard = { proc, viewers: new Set(), cpuUs: 0, exited: false, inFlight: 0, skipped: 0, framesSkipped: 0 };
      this.#shards.push(shard);
    });
  }

  #send(shard: Shard, message: ToShard): void {
    if (shard.exited) return;
    try {
      shard.proc.send(message);
    } catch {
      // exiting: onExit closes its viewers
    }
  }

  #onMessage(shard: Shard, m: FromShard): void {
    switch (m.t) {
      case "wrote": {
        shard.inFlight = Math.max(0, shard.inFlight - 1);
        const frame = this.#frames.get(m.seq);
        if (!frame || --frame.left > 0) return;
        this.#frames.delete(m.seq);
        this.latency.record(m.at - frame.at);
        return;
      }
      case "signal":
        this.#viewers.get(m.id)?.signal(m.m);
        return;
      case "input":
        this.#viewers.get(m.id)?.viewer.emit("input", m.packet);
        return;
      case "keyframe-request":
        this.#viewers.get(m.id)?.viewer.emit("keyframeRequest", m.reason);
        return;
      case "link-feedback":
        this.#viewers.get(m.id)?.viewer.emit("linkFeedback", m.fractionLost, m.rembBps);
        return;
      case "open":
        this.#viewers.get(m.id)?.viewer.emit("open");
        return;
      case "closed":
        this.#viewers.get(m.id)?.viewer.closed(m.reason);
        return;
      case "state": {
        shard.cpuUs = m.cpuUs;
        const now = performance.now();
        for (const s of m.viewers) this.#viewers.get(s.id)?.viewer.update(s, now);
        const waiter = m.seq === 0 ? undefined : this.#stateWaiters.get(m.seq);
        if (waiter && --waiter.left === 0) {
          this.#stateWaiters.delete(m.seq);
          waiter.done();
        }
        return;
      }
      case "ready":
        return;
    }
  }
}
