/**
 * `streamer.fanout_processes`: a streamer's WebRTC viewers live in fan-out processes
 * (fanout-shards.ts), started by the streamer as `mlstream __fanout-shard`. Against `serve` and the
 * sim host: viewers joining at once are spread over the processes and all get pictures, a viewer's
 * input reaches the host, the API shows the processes and their viewers, and stopping the
 * streamer ends them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { runCli, tempDir } from "../support/cli.ts";
import { createLiveStreamer, startServer, until, untilAsync, type RunningServer } from "../support/server.ts";

const dir = tempDir("mlstream-fanout-processes-");
let sim: SimHost;
let server: RunningServer;

interface StreamerInfo {
  pid: number | null;
  viewers: { id: string; transport: string }[];
  fanout_processes: { pid: number; viewers: number; exited: boolean }[] | null;
}
const streamer = async () => (await (await fetch(`${server.url}/api/streamers/s1`)).json()) as StreamerInfo;

/** Live processes whose parent is `pid` and whose command line contains `needle`. */
function childrenRunning(pid: number, needle: string): number[] {
  const out = Bun.spawnSync(["ps", "-o", "pid=,args=", "--ppid", String(pid)]).stdout.toString();
  return out
    .split("\n")
    .filter((line) => line.includes(needle))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

beforeAll(async () => {
  sim = new SimHost({ pin: "5151" });
  const { httpPort } = await sim.start();
  server = await startServer(join(dir.path, "data"), { MLSTREAM_STREAMER_FANOUT_PROCESSES: "2" });
  await createLiveStreamer(server, httpPort, "5151", "s1");
});

afterAll(async () => {
  await server?.stop();
  await sim.close();
  dir.cleanup();
});

test("three viewers joining at once are spread over two fan-out processes, all get pictures, input reaches the host", async () => {
  const before = await streamer();
  expect(before.fanout_processes?.length).toBe(2);
  expect(childrenRunning(before.pid!, "__fanout-shard").sort()).toEqual(before.fanout_processes!.map((p) => p.pid).sort());

  sim.media!.clearInputLog();
  const spread: number[][] = [];
  const sampler = setInterval(async () => {
    const info = await streamer().catch(() => undefined);
    if (info?.fanout_processes && info.viewers.length === 3) spread.push(info.fanout_processes.map((p) => p.viewers));
  }, 250);
  const joins = await Promise.all([
    runCli(["join", "s1", "--server", server.url, "--duration", "3", "--json", "--key", "A"], { timeoutMs: 60_000 }),
    runCli(["join", "s1", "--server", server.url, "--duration", "3", "--json"], { timeoutMs: 60_000 }),
    runCli(["join", "s1", "--server", server.url, "--duration", "3", "--json", "--view-only"], { timeoutMs: 60_000 }),
  ]);
  clearInterval(sampler);
  const frames = joins.map((j) => {
    if (j.code !== 0) throw new Error(`join exited ${j.code}: ${j.stderr}`);
    return (JSON.parse(j.stdout) as { frames: number }).frames;
  });
  console.log(`fan-out processes: frames per viewer ${frames.join(" / ")} in 3 s; viewers per process while all three watched: ${JSON.stringify(spread.at(-1))}`);
  for (const f of frames) expect(f).toBeGreaterThan(90);
  // Each process held viewers (least loaded first): 2 + 1.
  expect(spread.length).toBeGreaterThan(0);
  expect(spread.at(-1)!.sort()).toEqual([1, 2]);
  // The key pressed by the first viewer went through its fan-out process to the host (0x41 = A).
  await until(() => sim.inputLog.some((e) => e.packet.kind === "keyboard" && e.packet.keyCode === 0x41 && e.packet.action === "down"), 5000, "key A down on the host");
  await until(() => sim.inputLog.some((e) => e.packet.kind === "keyboard" && e.packet.keyCode === 0x41 && e.packet.action === "up"), 5000, "key A up on the host");
  await untilAsync(async () => (await streamer()).fanout_processes!.every((p) => p.viewers === 0), 10_000, "viewers gone from the processes");
}, 90_000);

test("stopping the streamer ends its fan-out processes", async () => {
  const info = await streamer();
  const shardPids = info.fanout_processes!.map((p) => p.pid);
  const response = await fetch(`${server.url}/api/streamers/s1`, { method: "DELETE" });
  expect(response.status).toBe(204);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await until(() => shardPids.every((pid) => !alive(pid)), 10_000, "fan-out processes gone");
}, 30_000);
