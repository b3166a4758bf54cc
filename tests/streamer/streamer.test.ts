/**
 * The streamer against the sim host with real WebRTC viewers (node-datachannel receivers in this
 * process, over loopback): headless start, late joiners starting at a keyframe that decodes,
 * audio, viewers leaving, and the union semantics of held keys on the host's input log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClientIdentity } from "../../src/moonlight/http/identity.ts";
import type { InputPacket } from "../../src/moonlight/input/input.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { MoonlightSession } from "../../src/moonlight/session.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import type { ServerSignal } from "../../src/peer/signaling.ts";
import { WebRtcReceiver } from "../../src/peer/webrtc-receiver.ts";
import { Streamer } from "../../src/streamer/streamer.ts";

let host: SimHost;
let client: NvHttpClient;
let streamer: Streamer;

const until = async (what: () => boolean, ms = 15_000, label = "condition") => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await Bun.sleep(10);
  }
};

interface TestViewer {
  id: string;
  signals: ServerSignal[];
  receiver: WebRtcReceiver;
  frames: { data: Uint8Array; keyframe: boolean }[];
  audio: number;
  leave(): void;
}

function joinViewer(): TestViewer {
  const frames: TestViewer["frames"] = [];
  let handle: ReturnType<Streamer["addViewer"]>;
  const receiver = new WebRtcReceiver({ bindAddress: "127.0.0.1", signal: (m) => queueMicrotask(() => handle.handleSignal(m)) });
  const signals: ServerSignal[] = [];
  handle = streamer.addViewer({
    signal: (m) => {
      signals.push(m);
      queueMicrotask(() => receiver.handleSignal(m));
    },
  });
  const viewer: TestViewer = {
    id: handle.id,
    signals,
    receiver,
    frames,
    audio: 0,
    leave: () => receiver.close(),
  };
  receiver.on("frame", (f) => frames.push({ data: f.data, keyframe: f.keyframe }));
  receiver.on("audio", () => viewer.audio++);
  return viewer;
}

function decodes(frames: { data: Uint8Array }[]): string {
  const dir = mkdtempSync(join(tmpdir(), "mlstream-streamer-"));
  try {
    const file = join(dir, "v.h264");
    writeFileSync(file, Buffer.concat(frames.map((f) => f.data)));
    const run = Bun.spawnSync(["ffmpeg", "-v", "error", "-i", file, "-f", "null", "-"], { stderr: "pipe" });
    return run.exitCode === 0 ? run.stderr.toString() : `exit ${run.exitCode}: ${run.stderr.toString()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  host = new SimHost({ pin: "1357" });
  const { httpPort } = await host.start();
  client = new NvHttpClient({ address: "127.0.0.1", httpPort, identity: createClientIdentity() });
  await client.pair({ pin: "1357" });
  const appId = (await client.appList())[0]!.id;
  streamer = new Streamer({
    id: "test",
    ice: { bindAddress: "127.0.0.1" },
    createSession: () => new MoonlightSession({ client, appId, settings: { width: 1280, height: 720, fps: 60, bitrateKbps: 5000 } }),
  });
});

afterAll(async () => {
  await streamer.stop({ quitApp: true });
  await host.close();
});

const keyboard = (action: "down" | "up", keyCode: number): InputPacket => ({ kind: "keyboard", action, keyCode, modifiers: 0, flags: 0 });

describe("Streamer", () => {
  test("starts headless and receives frames with no viewer", async () => {
    await streamer.start();
    expect(streamer.status).toBe("live");
    await until(() => streamer.snapshot().counters.framesEmitted > 30, 5000, "frames with no viewer");
    expect(streamer.snapshot().viewers).toEqual([]);
  });

  test("with no viewer, audio is still received (it travels with the frames); a viewer gets it paced as the host sends it", async () => {
    const before = streamer.snapshot().counters.audioPackets;
    await Bun.sleep(1000);
    expect(streamer.snapshot().counters.audioPackets - before).toBeGreaterThan(150); // 5 ms packets
    const viewer = joinViewer();
    try {
      await until(() => viewer.audio > 20, 15_000, "viewer audio");
      const arrivals: number[] = [];
      viewer.receiver.on("audio", () => arrivals.push(performance.now()));
      await Bun.sleep(1000);
      const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!).sort((a, b) => a - b);
      // Held for the frames they would come in bursts (median gap ~0); passed on at once, ~5 ms apart.
      expect(gaps.length).toBeGreaterThan(100);
      expect(gaps[Math.floor(gaps.length / 2)]!).toBeGreaterThan(2.5);
    } finally {
      viewer.leave();
      await until(() => streamer.snapshot().viewers.length === 0, 5000, "the viewer to leave");
    }
  });

  test("three viewers joining at different times each start at a keyframe that decodes, with audio; leaving does not stop the others", async () => {
    const a = joinViewer();
    await until(() => a.frames.length > 20 && a.audio > 20, 15_000, "viewer A media");
    const b = joinViewer();
    await Bun.sleep(300);
    const c = joinViewer();
    await until(() => b.frames.length > 20 && c.frames.length > 20 && b.audio > 10 && c.audio > 10, 15_000, "viewers B and C media");
    for (const v of [a, b, c]) {
      expect(v.frames[0]!.keyframe).toBe(true);
      expect(decodes(v.frames)).toBe("");
      expect(v.receiver.videoStats!.framesDropped).toBe(0);
    }
    expect(streamer.snapshot().viewers).toHaveLength(3);
    // Joiners asked for keyframes; the host was asked far fewer times than viewers asked.
    const counters = streamer.snapshot().counters;
    expect(counters.keyframe_requests_sent).toBeGreaterThanOrEqual(1);

    a.leave();
    await until(() => streamer.viewerCount === 2, 10_000, "A to leave");
    const bBefore = b.frames.length;
    const cBefore = c.frames.length;
    await until(() => b.frames.length > bBefore + 30 && c.frames.length > cBefore + 30, 10_000, "B and C to go on");

    b.leave();
    c.leave();
    await until(() => streamer.viewerCount === 0, 10_000, "everyone to leave");
    const emitted = streamer.snapshot().counters.framesEmitted;
    await Bun.sleep(300);
    expect(streamer.status).toBe("live");
    expect(streamer.snapshot().counters.framesEmitted).toBeGreaterThan(emitted);
  });

  test("a key held by A and B stays down when A releases; B disconnecting releases it on the host", async () => {
    const a = joinViewer();
    const b = joinViewer();
    await until(() => a.receiver.inputReady && b.receiver.inputReady, 10_000, "input channels");
    host.media!.clearInputLog();
    const K = 0x4b;
    a.receiver.sendInput(keyboard("down", K));
    await until(() => host.inputLog.length >= 1, 5000, "first key down");
    const merged = streamer.snapshot().counters.input_merged;
    b.receiver.sendInput(keyboard("down", K));
    // A and B use separate connections: wait until B's press is in before A lets go.
    await until(() => streamer.snapshot().counters.input_merged > merged, 5000, "B's press to merge");
    a.receiver.sendInput(keyboard("up", K));
    await Bun.sleep(300);
    const keyEvents = () => host.inputLog.map((e) => e.packet).filter((p) => p.kind === "keyboard" && p.keyCode === K);
    expect(keyEvents()).toEqual([keyboard("down", K)]);

    b.leave();
    await until(() => keyEvents().length === 2, 10_000, "release on disconnect");
    expect(keyEvents()[1]).toEqual(keyboard("up", K));
    a.leave();
    await until(() => streamer.viewerCount === 0, 10_000, "viewers to leave");
  });

  test("the host's rumble reaches the viewer that owns the pad, in its own controller numbering", async () => {
    const a = joinViewer();
    const b = joinViewer();
    await until(() => a.receiver.inputReady && b.receiver.inputReady, 10_000, "input channels");
    const pad = (controllerNumber: number): InputPacket => ({
      kind: "gamepadState", controllerNumber, activeGamepadMask: 1 << controllerNumber, buttonFlags: 0, leftTrigger: 0, rightTrigger: 0, leftStickX: 0, leftStickY: 0, rightStickX: 0, rightStickY: 0,
    });
    a.receiver.sendInput(pad(0)); // host slot 0
    await until(() => host.inputLog.some((e) => e.packet.kind === "gamepadState"), 5000, "A's pad");
    b.receiver.sendInput(pad(0)); // B's pad 0 → host slot 1
    await until(() => host.inputLog.filter((e) => e.packet.kind === "gamepadState").length >= 2, 5000, "B's pad");
    host.media!.sendRumble(1, 0x8000, 0x4000);
    await until(() => b.signals.some((m) => m.type === "rumble"), 5000, "rumble at B");
    expect(b.signals.find((m) => m.type === "rumble")).toEqual({ type: "rumble", controllerNumber: 0, lowFrequency: 0x8000, highFrequency: 0x4000 });
    expect(a.signals.some((m) => m.type === "rumble")).toBe(false);
    a.leave();
    b.leave();
    await until(() => streamer.viewerCount === 0, 10_000, "viewers to leave");
  });

  test("the host dropping the session is reported and the streamer reconnects by itself", async () => {
    const statuses: string[] = [];
    streamer.on("status", (s) => statuses.push(s));
    host.endSession();
    await until(() => statuses.includes("reconnecting"), 10_000, "reconnecting");
    await until(() => streamer.status === "live", 20_000, "live again");
    const v = joinViewer();
    await until(() => v.frames.length > 5, 15_000, "frames after reconnect");
    expect(v.frames[0]!.keyframe).toBe(true);
    expect(streamer.snapshot().counters.reconnects).toBeGreaterThanOrEqual(1);
    v.leave();
  });
});
