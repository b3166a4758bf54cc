/**
 * MoonlightSession end to end against the simulated host over loopback: launch, RTSP, control,
 * video and audio, input, IDR requests, teardown — the whole client as a user's streamer runs it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClientIdentity } from "../../src/moonlight/http/identity.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { MoonlightSession, type ConnectedInfo } from "../../src/moonlight/session.ts";
import type { SimHost } from "../../src/sim-host/sim-host.ts";
import type { VideoFrame } from "../../src/moonlight/video/video-depacketizer.ts";
import { startPairedSimHost } from "../support/paired-sim-host.ts";
import { seededRandom } from "../support/seeded-random.ts";

let host: SimHost;
let client: NvHttpClient;
let appId: number;

beforeAll(async () => {
  ({ host, client, appId } = await startPairedSimHost({ pin: "2468" }));
});

afterAll(async () => {
  await host.close();
});

const until = async (what: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(10);
  }
};

const settings = { width: 1280, height: 720, fps: 60, bitrateKbps: 5000 };

describe("MoonlightSession against the sim host", () => {
  test("connects, receives frames ffmpeg decodes and audio, then stops cleanly", async () => {
    const session = new MoonlightSession({ client, appId, settings });
    const stages: string[] = [];
    session.on("stage", (s) => stages.push(s));
    const frames: VideoFrame[] = [];
    session.on("video", (f) => frames.push(f));
    let audio = 0;
    session.on("audio", (p) => p.data && audio++);
    const info: ConnectedInfo = await session.start();
    expect(info).toMatchObject({ width: 1280, height: 720, fps: 60, codec: "h264", resumed: false });
    expect(stages).toEqual(["launch", "rtsp", "audio", "control", "video", "streaming"]);
    expect((await client.serverInfo({ https: true })).busy).toBe(true);
    await until(() => frames.length >= 90 && audio >= 100);
    expect(frames[0]!.isIdr).toBe(true);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.frameNumber).toBe(frames[i - 1]!.frameNumber + 1);

    // ffmpeg must decode what we received without a single error.
    const dir = mkdtempSync(join(tmpdir(), "mlstream-session-"));
    try {
      const file = join(dir, "out.h264");
      writeFileSync(file, Buffer.concat(frames.map((f) => f.data)));
      const probe = Bun.spawnSync(["ffmpeg", "-v", "error", "-i", file, "-f", "null", "-"], { stderr: "pipe" });
      expect(probe.exitCode).toBe(0);
      expect(probe.stderr.toString()).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const counters = session.snapshot();
    expect(counters.framesLost).toBe(0);
    expect(counters.malformedDatagrams).toBe(0);
    await session.stop();
    expect(session.state).toBe("stopped");
    await session.stop(); // idempotent
  });

  test("a second session resumes the running app; an IDR request brings a keyframe; input reaches the host log", async () => {
    const session = new MoonlightSession({ client, appId, settings });
    const frames: VideoFrame[] = [];
    session.on("video", (f) => frames.push(f));
    const info = await session.start();
    expect(info.resumed).toBe(true);
    await until(() => frames.length > 5);
    const before = frames.length;
    session.requestIdr();
    await until(() => frames.slice(before).some((f) => f.isIdr), 3000);
    // The next IDR must come well before the loop's own GOP boundary would bring one (30 frames).
    const idrAt = frames.slice(before).findIndex((f) => f.isIdr);
    expect(idrAt).toBeLessThan(15);

    const logged: unknown[] = [];
    host.on("input", (event) => logged.push(event.packet));
    session.send({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 });
    session.send({ kind: "mouseButton", action: "down", button: 1 });
    session.send({ kind: "gamepadState", controllerNumber: 0, activeGamepadMask: 1, buttonFlags: 0x1000, leftTrigger: 0, rightTrigger: 255, leftStickX: 100, leftStickY: -100, rightStickX: 0, rightStickY: 0 });
    await until(() => logged.length >= 3);
    expect(logged).toContainEqual({ kind: "keyboard", action: "down", keyCode: 0x41, modifiers: 0, flags: 0 });
    expect(logged).toContainEqual({ kind: "mouseButton", action: "down", button: 1 });
    expect(logged).toContainEqual(expect.objectContaining({ kind: "gamepadState", rightTrigger: 255, leftStickY: -100 }));
    await session.stop({ quitApp: true });
    expect((await client.serverInfo({ https: true })).busy).toBe(false);
  });

  test("the host ending the session is reported as a termination", async () => {
    const session = new MoonlightSession({ client, appId, settings });
    const terminated = new Promise<{ code: number; reason: string }>((resolve) => session.on("terminated", resolve));
    let frames = 0;
    session.on("video", () => frames++);
    await session.start();
    await until(() => frames > 3);
    await client.cancel();
    const termination = await terminated;
    expect(termination.reason.length).toBeGreaterThan(0);
    expect(session.state).toBe("stopped");
  });

  test("with 3 % of video datagrams dropped on arrival, FEC rebuilds shards and the frames still decode", async () => {
    // Seeded so that a failure can be replayed.
    const random = seededRandom(12345);
    let dropped = 0;
    const session = new MoonlightSession({
      client,
      appId,
      settings,
      dropVideoDatagram: () => {
        const drop = random() < 0.03;
        if (drop) dropped++;
        return drop;
      },
    });
    const frames: VideoFrame[] = [];
    session.on("video", (f) => frames.push(f));
    await session.start();
    await until(() => frames.length >= 240, 20_000);
    const counters = session.snapshot();
    await session.stop({ quitApp: true });
    expect(dropped).toBeGreaterThan(30);
    expect(counters.fecRecoveries).toBeGreaterThan(0);
    // Most frames survive the loss intact; a block that lost more than its parity costs a frame
    // and an IDR request, after which the stream goes on.
    expect(counters.framesEmitted).toBeGreaterThan(counters.framesLost * 10);
    expect(frames[0]!.isIdr).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "mlstream-loss-"));
    try {
      writeFileSync(join(dir, "v.h264"), Buffer.concat(frames.map((f) => f.data)));
      const probe = Bun.spawnSync(["ffmpeg", "-v", "error", "-i", join(dir, "v.h264"), "-f", "null", "-"], { stderr: "pipe" });
      expect(probe.exitCode).toBe(0);
      expect(probe.stderr.toString()).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000); // ~4.5 s alone; more on a loaded 2-core CI box

  test("a host that is not paired with us fails at the launch stage", async () => {
    const stranger = new NvHttpClient({ address: "127.0.0.1", httpPort: client.httpPort, identity: createClientIdentity() });
    const session = new MoonlightSession({ client: stranger, appId, settings });
    await expect(session.start()).rejects.toMatchObject({ name: "SessionStageError", stage: "launch" });
  });
});
