/**
 * Adversarial: viewers that freeze while holding a key, through a real `mlstream serve` and the sim
 * host's input log. A real `mlstream join --hold` is SIGSTOPped (over WebRTC and over the WebSocket
 * transport), and a raw WebSocket client holds a key and then says nothing: each one's key must be
 * released on the host within 3 s, the viewer shown stale, and it must count again once it speaks.
 * Last, stopping the streamer releases a WebSocket viewer's held key on the host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { serializeInputPacket } from "../../src/moonlight/input/input.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { serializeInput, serializePing } from "../../src/peer/ws-media.ts";
import { cleanEnv, cliCommand, REPO_ROOT, tempDir } from "../support/cli.ts";
import { createLiveStreamer, startServer, until, untilAsync, type RunningServer } from "../support/server.ts";

const dir = tempDir("mlstream-liveness-");
let sim: SimHost;
let server: RunningServer;

interface ViewerRow {
  id: string;
  transport: string;
  stale: boolean;
}

const viewers = async () => ((await (await fetch(`${server.url}/api/streamers/s1`)).json()) as { viewers: ViewerRow[] }).viewers;
const keyEvents = (keyCode: number) => sim.inputLog.filter((e) => e.packet.kind === "keyboard" && e.packet.keyCode === keyCode);
const keyDownAt = (keyCode: number) => keyEvents(keyCode).find((e) => e.packet.kind === "keyboard" && e.packet.action === "down")?.at;
const keyUpAt = (keyCode: number) => keyEvents(keyCode).find((e) => e.packet.kind === "keyboard" && e.packet.action === "up")?.at;
const keyboard = (action: "down" | "up", keyCode: number) => serializeInput(serializeInputPacket({ kind: "keyboard", action, keyCode, modifiers: 0, flags: 0 }));

beforeAll(async () => {
  sim = new SimHost({ pin: "3333" });
  const { httpPort } = await sim.start();
  server = await startServer(join(dir.path, "data"));
  await createLiveStreamer(server, httpPort, "3333", "s1");
});

afterAll(async () => {
  await server?.stop();
  await sim.close();
  dir.cleanup();
});

/** `mlstream join s1 --hold KEY`, frozen with SIGSTOP once the key is down on the host. */
async function frozenJoin(transport: "webrtc" | "websocket", keyCode: number): Promise<number> {
  sim.media!.clearInputLog();
  const before = new Set((await viewers()).map((v) => v.id));
  const join = Bun.spawn(cliCommand(["join", "s1", "--server", server.url, "--transport", transport, "--hold", `0x${keyCode.toString(16)}`, "--timeout", "20"]), {
    cwd: REPO_ROOT,
    env: cleanEnv(),
    stdout: "ignore",
    stderr: "pipe",
  });
  try {
    await until(() => keyDownAt(keyCode) !== undefined, 30_000, "the held key down on the host");
    // Held well past the silence limit while the viewer is alive: its heartbeats keep it.
    await Bun.sleep(3000);
    expect(keyUpAt(keyCode)).toBeUndefined();
    const id = (await viewers()).find((v) => !before.has(v.id))!.id;
    expect((await viewers()).find((v) => v.id === id)?.stale).toBe(false);

    join.kill("SIGSTOP");
    const frozenAt = Date.now();
    await until(() => keyUpAt(keyCode) !== undefined, 10_000, "the frozen viewer's key released");
    const releasedAfterMs = keyUpAt(keyCode)! - frozenAt;
    await untilAsync(async () => (await viewers()).find((v) => v.id === id)?.stale === true, 3000, "the viewer shown stale");

    join.kill("SIGCONT");
    await untilAsync(async () => (await viewers()).find((v) => v.id === id)?.stale === false, 5000, "the viewer live again");
    return releasedAfterMs;
  } finally {
    join.kill("SIGCONT");
    join.kill("SIGTERM");
    await join.exited;
  }
}

describe("a viewer that goes silent", () => {
  test("a frozen `mlstream join` over WebRTC has its held key released within 3 s", async () => {
    const ms = await frozenJoin("webrtc", 0x48);
    console.log(`WebRTC viewer frozen: key released on the host after ${(ms / 1000).toFixed(2)} s`);
    expect(ms).toBeLessThan(3000);
  });

  test("a frozen `mlstream join` over the WebSocket transport has its held key released within 3 s", async () => {
    const ms = await frozenJoin("websocket", 0x4a);
    console.log(`WebSocket viewer frozen: key released on the host after ${(ms / 1000).toFixed(2)} s`);
    expect(ms).toBeLessThan(3000);
  });

  test("a WebSocket client that stops talking is released and stale; when it speaks again its keys work again", async () => {
    sim.media!.clearInputLog();
    const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/streamers/s1/peer?transport=websocket`);
    ws.binaryType = "arraybuffer";
    let peerId = "";
    ws.onmessage = (event) => {
      if (typeof event.data === "string" && !peerId) peerId = (JSON.parse(event.data) as { peerId?: string }).peerId ?? "";
    };
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("refused"));
    });
    try {
      await until(() => peerId !== "", 5000, "hello");
      await untilAsync(async () => (await viewers()).some((v) => v.id === peerId), 5000, "the viewer listed");
      const K = 0x4c;
      ws.send(keyboard("down", K));
      await until(() => keyDownAt(K) !== undefined, 5000, "key down");
      // No heartbeat, no input from here on.
      await until(() => keyUpAt(K) !== undefined, 5000, "release");
      expect(keyUpAt(K)! - keyDownAt(K)!).toBeLessThan(3000);
      await untilAsync(async () => (await viewers()).find((v) => v.id === peerId)?.stale === true, 3000, "stale");

      ws.send(serializePing("ping", 1));
      await untilAsync(async () => (await viewers()).find((v) => v.id === peerId)?.stale === false, 3000, "live again");
      sim.media!.clearInputLog();
      ws.send(keyboard("down", K));
      await until(() => keyDownAt(K) !== undefined, 5000, "key down after coming back");
    } finally {
      ws.close();
    }
  });

  test("stopping the streamer releases a WebSocket viewer's held key on the host", async () => {
    sim.media!.clearInputLog();
    const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/streamers/s1/peer?transport=websocket`);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("refused"));
    });
    const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(serializePing("ping", 1)), 500);
    try {
      const K = 0x4d;
      await Bun.sleep(500);
      ws.send(keyboard("down", K));
      await until(() => keyDownAt(K) !== undefined, 5000, "key down");
      expect((await fetch(`${server.url}/api/streamers/s1`, { method: "DELETE" })).status).toBeLessThan(300);
      await until(() => keyUpAt(K) !== undefined, 5000, "the key released before the session ended");
    } finally {
      clearInterval(beat);
      ws.close();
    }
  });
});
