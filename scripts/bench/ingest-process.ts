/**
 * Whole-process ingest bench (issue 22): what a real streamer process pays to receive a host's
 * stream, against the least any receiver can pay for the same datagrams.
 *
 *   bun scripts/bench/ingest-process.ts [--modes encrypted,clear] [--mbps 15,50,150]
 *                                       [--receive thread,event-loop]
 *                                       [--seconds 5] [--warmup 10] [--repeat 3] [--json]
 *                                       [--cpu-prof <dir>]   (then: bun scripts/bench/ingest/profile-summary.ts <dir>/CPU.*)
 *
 * Per mode × rate: an in-process sim host (Sunshine flavour; "encrypted" = video AES-GCM as
 * Sunshine sends it, "clear" = video in the clear; audio and control as the session negotiates)
 * plays its loop padded with filler NAL units to the rate (src/sim-host/filler-padding.ts), FEC
 * 20 %, over loopback to a streamer created through a real `serve` (its `__streamer` child, no
 * viewer). Every video and audio datagram is also sent to the floor: scripts/bench/ingest/floor.c,
 * compiled here with `cc … -lcrypto`, which only receives and decrypts (one reused OpenSSL context).
 * After `--warmup` s, `--repeat` windows of `--seconds` s each; per window the CPU time of every
 * thread of each process is read from /proc/PID/task/TID/schedstat (ns; /proc/PID/stat utime+stime
 * as a cross-check) and divided by the video datagrams that process received in the window.
 * Rows are medians over the windows. `--receive`: where the streamer receives video — "thread" (the
 * media receive thread, the default since issue 22) and/or "event-loop" (Bun's UDP socket feeding
 * the depacketizer on the event loop, as before), each from its own `serve` with
 * streamer.media_receive set (MLSTREAM_STREAMER_MEDIA_RECEIVE), measured one after the other against the same floor binary: the
 * before/after of one run.
 *
 * What a row includes: the whole receiving process — socket delivery, decryption, FEC, frame
 * reassembly, audio, control, timers, GC and JIT threads (streamer), or receive + decrypt only
 * (floor). Not included: the sim host (this process), `serve`, the kernel's send side.
 * lost_frames = frames the streamer's depacketizer counted lost in the windows.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { createLiveStreamer, startServer, untilAsync } from "../../tests/support/server.ts";

// ---- options ------------------------------------------------------------------------------------
const args = process.argv.slice(2);
const raw = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const number = (name: string, fallback: number) => {
  const n = Number(raw(name) ?? fallback);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number`);
  return n;
};
const MODES = (raw("modes") ?? "encrypted,clear").split(",") as Mode[];
if (MODES.some((m) => m !== "encrypted" && m !== "clear")) throw new Error("--modes is a list of encrypted,clear");
const RATES = (raw("mbps") ?? "15,50,150").split(",").map(Number);
if (RATES.some((r) => !(r > 0))) throw new Error("--mbps needs a comma-separated list of rates");
const SECONDS = number("seconds", 5);
const WARMUP = number("warmup", 10); // the JIT settles in ~10 s; a streamer runs for hours
const REPEAT = Math.round(number("repeat", 3));
const JSON_OUT = args.includes("--json");
const RECEIVE = (raw("receive") ?? "thread,event-loop").split(",") as Receive[];
if (RECEIVE.some((r) => r !== "thread" && r !== "event-loop")) throw new Error("--receive is a list of thread,event-loop");
/** Write Bun CPU profiles (.cpuprofile) of serve and every streamer process here (BUN_OPTIONS=--cpu-prof). */
const CPU_PROF_DIR = raw("cpu-prof");
const PIN = "4321";

type Mode = "encrypted" | "clear";
type Receive = "thread" | "event-loop";

export interface IngestRow {
  mode: Mode;
  receiver: "streamer" | "floor";
  /** Where the streamer received video (as its API reported it); the floor row of that run shares it. */
  receive: Receive;
  mbps: number;
  datagrams_per_s: number;
  cpu_us_per_datagram: number;
  lost_frames: number;
  /** Same window from /proc/PID/stat (10 ms ticks): a cross-check of the schedstat figure. */
  stat_us_per_datagram: number;
  /** What the sim host actually sent (it falls short of `mbps` when this machine is busy). */
  sent_mbps: number;
  /** The kernel's share (stime) of stat_us_per_datagram. */
  sys_us_per_datagram: number;
  /** Streamer rows: cpu_us_per_datagram ÷ the floor's in the same windows. */
  ratio_to_floor?: number;
  /** The busiest threads' share of cpu_us_per_datagram, by thread name. */
  threads: Record<string, number>;
}

// ---- CPU of a process ---------------------------------------------------------------------------
const TICK_NS = 1e9 / 100; // USER_HZ

interface CpuSample {
  ns: number;
  statNs: number;
  /** Kernel part of statNs (stime). */
  sysNs: number;
  byThread: Map<string, number>;
}

function cpuOf(pid: number): CpuSample {
  let ns = 0;
  const byThread = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const run = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "latin1").split(" ")[0]);
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "latin1").trim().replace(/[0-9]+$/, "#");
      ns += run;
      byThread.set(name, (byThread.get(name) ?? 0) + run);
    } catch {
      // the thread ended between readdir and read
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const statNs = (Number(fields[11]) + Number(fields[12])) * TICK_NS; // utime, stime
  return { ns, statNs, sysNs: Number(fields[12]) * TICK_NS, byThread };
}

// ---- the floor receiver -------------------------------------------------------------------------
function compileFloor(dir: string): string {
  const out = join(dir, "floor");
  const source = resolve(import.meta.dir, "ingest/floor.c");
  const cc = spawnSync("cc", ["-O2", "-o", out, source, "-lcrypto"], { encoding: "utf8" });
  if (cc.error || cc.status !== 0) throw new Error(`cannot build the floor receiver (needs cc and libssl-dev): ${cc.error?.message ?? cc.stderr}`);
  return out;
}

class FloorReceiver {
  readonly #proc: ReturnType<typeof spawn>;
  readonly #lines: AsyncIterator<string>;
  videoPort = 0;
  audioPort = 0;

  constructor(binary: string) {
    this.#proc = spawn(binary, [], { stdio: ["pipe", "pipe", "inherit"] });
    this.#lines = createInterface({ input: this.#proc.stdout! })[Symbol.asyncIterator]();
  }

  get pid(): number {
    return this.#proc.pid!;
  }

  async #line(): Promise<string> {
    const next = await this.#lines.next();
    if (next.done) throw new Error("the floor receiver exited");
    return next.value;
  }

  async ports(): Promise<void> {
    [this.videoPort, this.audioPort] = (await this.#line()).split(" ").map(Number) as [number, number];
  }

  /** The session's keys go through the pipe, never the command line (visible in ps). */
  setKeys(videoEncrypted: boolean, audioEncrypted: boolean, rikey: Uint8Array, rikeyId: number): void {
    this.#proc.stdin!.write(`${videoEncrypted ? 1 : 0} ${audioEncrypted ? 1 : 0} ${Buffer.from(rikey).toString("hex")} ${rikeyId}\n`);
  }

  async report(): Promise<{ video: number; audio: number; failures: number }> {
    this.#proc.stdin!.write("report\n");
    const [video, audio, failures] = (await this.#line()).split(" ").map(Number) as [number, number, number];
    return { video, audio, failures };
  }

  close(): void {
    this.#proc.stdin!.end();
  }
}

// ---- one mode × rate ----------------------------------------------------------------------------
interface Window {
  streamer: { cpu: CpuSample; video: number; lost: number };
  floor: { cpu: CpuSample; video: number; failures: number };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

async function measure(serverUrl: string, runServer: Parameters<typeof createLiveStreamer>[0], floorBinary: string, mode: Mode, mbps: number, receive: Receive): Promise<IngestRow[]> {
  const sim = new SimHost({ flavor: "sunshine", pin: PIN, media: { videoEncryption: mode === "encrypted" ? "required" : "never", videoPadKbps: mbps * 1000 } });
  const ports = await sim.start();
  const floor = new FloorReceiver(floorBinary);
  const id = `ingest-${mode}-${mbps}-${receive}`;
  try {
    await floor.ports();
    sim.media!.mirrorMedia({ address: "127.0.0.1", port: floor.videoPort }, { address: "127.0.0.1", port: floor.audioPort });
    await createLiveStreamer(runServer, ports.httpPort, PIN, id);
    const stream = sim.media!.stream!;
    floor.setKeys(stream.config.videoEncrypted, stream.config.audioEncrypted, stream.launch.rikey, stream.launch.rikeyId);
    const info = async () =>
      (await (await fetch(`${serverUrl}/api/streamers/${id}`)).json()) as {
        pid: number | null;
        stream: { media_receive: Receive } | null;
        counters: { videoDatagrams: number; framesLost: number } | null;
      };
    let pid = 0;
    await untilAsync(async () => (pid = (await info()).pid ?? 0) > 0, 10_000, "streamer pid");
    const received = (await info()).stream?.media_receive;
    if (received !== receive) throw new Error(`asked the streamer to receive video on "${receive}", it says "${received}"`);
    await Bun.sleep(WARMUP * 1000);

    // The streamer's counters reach `serve` in a snapshot once a second: wait for a fresh one so
    // that the datagram count and the CPU reading are taken within ~20 ms of each other.
    const freshCounters = async () => {
      const stale = (await info()).counters?.videoDatagrams;
      for (;;) {
        await Bun.sleep(20);
        const now = await info();
        if (now.counters?.videoDatagrams !== stale) return now;
      }
    };
    const sample = async (): Promise<Window> => {
      const s = await freshCounters();
      const f = await floor.report();
      return {
        streamer: { cpu: cpuOf(pid), video: s.counters?.videoDatagrams ?? 0, lost: s.counters?.framesLost ?? 0 },
        floor: { cpu: cpuOf(floor.pid), video: f.video, failures: f.failures },
      };
    };
    const streamerWindows: { us: number; statUs: number; sysUs: number; rate: number; lost: number; threads: Map<string, number> }[] = [];
    const floorWindows: { us: number; statUs: number; sysUs: number; rate: number; failures: number }[] = [];
    const sentBefore = { ...sim.media!.stats.video, sendErrors: sim.media!.stats.videoPort.sendErrors };
    const sentStart = performance.now();
    let before = await sample();
    for (let r = 0; r < REPEAT; r++) {
      const t0 = performance.now();
      await Bun.sleep(SECONDS * 1000);
      const after = await sample();
      const seconds = (performance.now() - t0) / 1000;
      const sv = after.streamer.video - before.streamer.video;
      const fv = after.floor.video - before.floor.video;
      const threads = new Map<string, number>();
      for (const [name, ns] of after.streamer.cpu.byThread) threads.set(name, (ns - (before.streamer.cpu.byThread.get(name) ?? 0)) / 1000 / Math.max(1, sv));
      streamerWindows.push({
        us: (after.streamer.cpu.ns - before.streamer.cpu.ns) / 1000 / Math.max(1, sv),
        statUs: (after.streamer.cpu.statNs - before.streamer.cpu.statNs) / 1000 / Math.max(1, sv),
        sysUs: (after.streamer.cpu.sysNs - before.streamer.cpu.sysNs) / 1000 / Math.max(1, sv),
        rate: sv / seconds,
        lost: after.streamer.lost - before.streamer.lost,
        threads,
      });
      floorWindows.push({
        us: (after.floor.cpu.ns - before.floor.cpu.ns) / 1000 / Math.max(1, fv),
        statUs: (after.floor.cpu.statNs - before.floor.cpu.statNs) / 1000 / Math.max(1, fv),
        sysUs: (after.floor.cpu.sysNs - before.floor.cpu.sysNs) / 1000 / Math.max(1, fv),
        rate: fv / seconds,
        failures: after.floor.failures - before.floor.failures,
      });
      before = after;
    }
    const sent = sim.media!.stats.video;
    const sentSeconds = (performance.now() - sentStart) / 1000;
    const sentMbps = round(((sent.bytesSent - sentBefore.bytesSent) * 8) / sentSeconds / 1e6, 1);
    process.stderr.write(
      `ingest bench: sim host sent ${((sent.framesSent - sentBefore.framesSent) / sentSeconds).toFixed(1)} frames/s, ` +
        `${sentMbps} Mbit/s of video datagrams, ${sent.oversizeFrames - sentBefore.oversizeFrames} frames too large, ` +
        `${sim.media!.stats.videoPort.sendErrors - sentBefore.sendErrors} send errors (${mode} ${mbps})\n`,
    );
    const floorUs = median(floorWindows.map((w) => w.us));
    const streamerUs = median(streamerWindows.map((w) => w.us));
    const threadNames = [...new Set(streamerWindows.flatMap((w) => [...w.threads.keys()]))];
    const threads = Object.fromEntries(
      threadNames
        .map((name) => [name, round(median(streamerWindows.map((w) => w.threads.get(name) ?? 0)), 3)] as const)
        .filter(([, us]) => us >= 0.05)
        .sort((a, b) => b[1] - a[1]),
    );
    if (floorWindows.some((w) => w.failures > 0)) process.stderr.write(`ingest bench: the floor failed to decrypt ${floorWindows.reduce((n, w) => n + w.failures, 0)} datagrams (${mode} ${mbps})\n`);
    return [
      {
        mode,
        receiver: "streamer",
        receive,
        mbps,
        sent_mbps: sentMbps,
        datagrams_per_s: Math.round(median(streamerWindows.map((w) => w.rate))),
        cpu_us_per_datagram: round(streamerUs),
        lost_frames: streamerWindows.reduce((n, w) => n + w.lost, 0),
        stat_us_per_datagram: round(median(streamerWindows.map((w) => w.statUs))),
        sys_us_per_datagram: round(median(streamerWindows.map((w) => w.sysUs))),
        ratio_to_floor: round(streamerUs / floorUs),
        threads,
      },
      {
        mode,
        receiver: "floor",
        receive,
        mbps,
        sent_mbps: sentMbps,
        datagrams_per_s: Math.round(median(floorWindows.map((w) => w.rate))),
        cpu_us_per_datagram: round(floorUs),
        lost_frames: 0,
        stat_us_per_datagram: round(median(floorWindows.map((w) => w.statUs))),
        sys_us_per_datagram: round(median(floorWindows.map((w) => w.sysUs))),
        threads: {},
      },
    ];
  } finally {
    await fetch(`${serverUrl}/api/streamers/${id}`, { method: "DELETE" }).catch(() => undefined);
    floor.close();
    await sim.close();
  }
}

// ---- run ----------------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), "mlstream-ingest-bench-"));
const floorBinary = compileFloor(dir);
const profileEnv: Record<string, string> = CPU_PROF_DIR ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(CPU_PROF_DIR)}` } : {};
const servers = new Map<Receive, Awaited<ReturnType<typeof startServer>>>();
const rows: IngestRow[] = [];
const loadBefore = readFileSync("/proc/loadavg", "latin1").trim();
try {
  for (const receive of RECEIVE) {
    const serverDir = join(dir, receive);
    servers.set(receive, await startServer(serverDir, { ...profileEnv, MLSTREAM_STREAMER_MEDIA_RECEIVE: receive }));
  }
  for (const mode of MODES) {
    for (const mbps of RATES) {
      for (const receive of RECEIVE) {
        const server = servers.get(receive)!;
        const [ours, floorRow] = await measure(server.url, server, floorBinary, mode, mbps, receive);
        rows.push(ours!, floorRow!);
        if (!JSON_OUT) process.stderr.write(`${mode} ${mbps} Mbit/s, ${receive}: ${ours!.cpu_us_per_datagram} µs/datagram (floor ${floorRow!.cpu_us_per_datagram})\n`);
      }
    }
  }
} finally {
  for (const server of servers.values()) await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
const loadAfter = readFileSync("/proc/loadavg", "latin1").trim();

if (JSON_OUT) {
  for (const row of rows) console.log(JSON.stringify(row));
} else {
  console.log(`loadavg before: ${loadBefore}; after: ${loadAfter}; ${REPEAT} windows of ${SECONDS} s after ${WARMUP} s warm-up, medians`);
  console.table(
    rows.map((r) => ({
      mode: r.mode,
      receiver: r.receiver,
      receive: r.receive,
      "Mbit/s": r.mbps,
      sent: r.sent_mbps,
      "datagrams/s": r.datagrams_per_s,
      "µs/datagram": r.cpu_us_per_datagram,
      "(stat)": r.stat_us_per_datagram,
      "of which sys": r.sys_us_per_datagram,
      "× floor": r.ratio_to_floor ?? "",
      "lost frames": r.receiver === "floor" ? "" : r.lost_frames,
    })),
  );
  for (const r of rows.filter((x) => x.receiver === "streamer")) {
    console.log(`${r.mode} ${r.mbps} Mbit/s ${r.receive}, streamer threads (µs/datagram): ${Object.entries(r.threads).map(([n, us]) => `${n} ${us}`).join(", ")}`);
  }
}
process.exit(0);
