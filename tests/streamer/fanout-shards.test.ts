/**
 * FanoutShards: a streamer's WebRTC viewers in fan-out processes of their own (real processes,
 * real PeerConnections over loopback, WebRtcReceiver playing each viewer), fed through MediaFanout.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { WebRtcReceiver } from "../../src/peer/webrtc-receiver.ts";
import { FanoutShards } from "../../src/streamer/fanout-shards.ts";
import { MediaFanout } from "../../src/streamer/media-fanout.ts";
import type { ShardViewer } from "../../src/streamer/shard-viewer.ts";
import { LOOP_STREAM_INFO, loopAccessUnits } from "../support/sim-loop.ts";

const FRAMES = loopAccessUnits("h264");
const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const until = async (what: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(10);
  }
};

async function setup(processes: number, viewers: number) {
  const shards = await FanoutShards.start({ processes });
  open.push(shards);
  const fanout = new MediaFanout({ videoSsrc: 0x1111, audioSsrc: 0x2222 });
  fanout.setCodec("h264");
  fanout.add(shards);
  const pairs: { viewer: ShardViewer; receiver: WebRtcReceiver; opened: boolean }[] = [];
  for (let i = 0; i < viewers; i++) {
    let receiver!: WebRtcReceiver;
    const viewer = shards.add({
      id: `v${i}`,
      stream: LOOP_STREAM_INFO,
      videoSsrc: 0x1111,
      audioSsrc: 0x2222,
      ice: { bindAddress: "127.0.0.1" },
      signal: (m) => receiver.handleSignal(m),
    });
    receiver = new WebRtcReceiver({ bindAddress: "127.0.0.1", signal: (m) => viewer.handleSignal(m) });
    open.push(receiver);
    const pair = { viewer, receiver, opened: false };
    viewer.on("open", () => (pair.opened = true));
    pairs.push(pair);
  }
  await until(() => pairs.every((p) => p.opened));
  return { shards, fanout, pairs };
}

describe("FanoutShards", () => {
  test("viewers spread over two processes each get every frame from their first keyframe on, none lost", async () => {
    const { shards, fanout, pairs } = await setup(2, 4);
    expect(shards.load.map((l) => l.viewers)).toEqual([2, 2]);
    expect(new Set(shards.load.map((l) => l.pid)).size).toBe(2);
    const received = pairs.map(() => [] as number[]);
    pairs.forEach((p, i) => p.receiver.on("frame", (f) => received[i]!.push(f.timestamp)));
    // Start mid-GOP: frames 5…29 are deltas and must not reach anyone; 30 is the next IDR.
    for (let i = 5; i < 70; i++) {
      fanout.writeVideo(FRAMES[i]!, i % 30 === 0, i * 16_667);
      await Bun.sleep(2);
    }
    await until(() => received.every((r) => r.length >= 40));
    await shards.refresh();
    for (const [i, p] of pairs.entries()) {
      expect(received[i]!.length).toBe(40);
      expect(p.receiver.videoStats?.keyframes).toBe(2);
      expect(p.receiver.videoStats?.packetsLost).toBe(0);
      // The process's stats reach the streamer's side.
      expect(p.viewer.stats.framesSent).toBe(40);
      expect(p.viewer.stats.framesSkipped).toBe(25);
      expect(p.viewer.receivingVideo).toBe(true);
      expect(p.viewer.state).toBe("connected");
    }
    expect(shards.latency.percentile(50)).toBeGreaterThan(0);
    expect(shards.cpuUs()).toBeGreaterThan(0);
  }, 60_000);

  test("a viewer's PLI reaches the streamer as a keyframe request; closing a viewer leaves the others", async () => {
    const { shards, fanout, pairs } = await setup(2, 2);
    const reasons: string[] = [];
    pairs[0]!.viewer.on("keyframeRequest", (r) => reasons.push(r));
    fanout.writeVideo(FRAMES[0]!, true, 0);
    await until(() => (pairs[0]!.receiver.videoStats?.frames ?? 0) >= 1);
    pairs[0]!.receiver.requestKeyframe();
    await until(() => reasons.includes("pli"));

    const closed: string[] = [];
    pairs[0]!.viewer.on("closed", (r) => closed.push(r));
    pairs[0]!.viewer.close("kicked");
    pairs[0]!.viewer.close("again");
    expect(closed).toEqual(["kicked"]);
    expect(pairs[0]!.viewer.state).toBe("closed");
    await until(() => shards.load.reduce((a, l) => a + l.viewers, 0) === 1);
    const before = pairs[1]!.receiver.videoStats?.frames ?? 0;
    for (let i = 1; i < 5; i++) fanout.writeVideo(FRAMES[i]!, false, i * 16_667);
    await until(() => (pairs[1]!.receiver.videoStats?.frames ?? 0) >= before + 4);
  }, 60_000);

  test("a fan-out process that dies closes its viewers; the other process's viewers keep their picture", async () => {
    const { shards, fanout, pairs } = await setup(2, 2);
    fanout.writeVideo(FRAMES[0]!, true, 0);
    await until(() => pairs.every((p) => (p.receiver.videoStats?.frames ?? 0) >= 1));
    const victim = shards.load[0]!.pid;
    const closed: string[] = [];
    for (const p of pairs) p.viewer.on("closed", (r) => closed.push(`${p.viewer.id}: ${r}`));
    process.kill(victim, "SIGKILL");
    await until(() => closed.length === 1);
    expect(closed[0]).toContain("fan-out process exited");
    const survivor = pairs.find((p) => p.viewer.state !== "closed")!;
    const before = survivor.receiver.videoStats?.frames ?? 0;
    for (let i = 1; i < 5; i++) fanout.writeVideo(FRAMES[i]!, false, i * 16_667);
    await until(() => (survivor.receiver.videoStats?.frames ?? 0) >= before + 4);
    // New viewers go to the process that is left.
    expect(shards.load.filter((l) => !l.exited).length).toBe(1);
  }, 60_000);

  test("a process that falls behind is skipped, not queued for; once back its viewer resumes at the next keyframe", async () => {
    const { shards, fanout, pairs } = await setup(2, 2);
    fanout.writeVideo(FRAMES[0]!, true, 0);
    await until(() => pairs.every((p) => (p.receiver.videoStats?.frames ?? 0) >= 1) && shards.latency.percentile(50) > 0);
    const [slow, other] = pairs as [(typeof pairs)[0], (typeof pairs)[0]];
    const stopped = shards.load[0]!.pid;
    const reasons: string[] = [];
    slow.viewer.on("keyframeRequest", (r) => reasons.push(r));
    process.kill(stopped, "SIGSTOP");
    try {
      for (let i = 1; i <= 20; i++) {
        fanout.writeVideo(FRAMES[i]!, false, i * 16_667);
        await Bun.sleep(5);
      }
      // The process that runs kept its viewer's picture going meanwhile.
      await until(() => (other.receiver.videoStats?.frames ?? 0) >= 21);
      expect(shards.load[0]!.framesSkipped).toBeGreaterThanOrEqual(10);
      expect(shards.load[1]!.framesSkipped).toBe(0);
    } finally {
      process.kill(stopped, "SIGCONT");
    }
    // Back: the frames queued before it was skipped are written, then its viewer waits for a keyframe.
    await until(() => (slow.receiver.videoStats?.frames ?? 0) >= 2);
    fanout.writeVideo(FRAMES[21]!, false, 21 * 16_667);
    await until(() => reasons.includes("viewer"));
    fanout.writeVideo(FRAMES[30]!, true, 30 * 16_667);
    await until(() => (slow.receiver.videoStats?.keyframes ?? 0) >= 2);
    await until(() => (other.receiver.videoStats?.frames ?? 0) >= 23);
    expect(other.receiver.videoStats?.packetsLost).toBe(0);
  }, 60_000);
});
