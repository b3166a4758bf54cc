/**
 * Test support: a real `mlstream serve` process on a free loopback port, and a viewer that joins
 * a streamer over the peer WebSocket with a WebRtcReceiver (re-answering if the server sends a
 * new offer, as it does after a streamer process restart).
 */
import { join } from "node:path";
import type { ServerSignal, StreamInfo } from "../../src/peer/signaling.ts";
import { WebRtcReceiver } from "../../src/peer/webrtc-receiver.ts";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT } from "./cli.ts";

export interface RunningServer {
  url: string;
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export async function startServer(dataDir: string, env: Record<string, string> = {}, args: string[] = []): Promise<RunningServer> {
  const proc = Bun.spawn(cliCommand(["--data-dir", dataDir, "serve", "--port", "0", "--json", ...args]), {
    cwd: REPO_ROOT,
    env: cleanEnv({ XDG_CONFIG_HOME: join(dataDir, "no-config"), ...env }),
    stdout: "pipe",
    stderr: "pipe",
  });
  let errText = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) errText += new TextDecoder().decode(chunk);
  })();
  const line = await firstLine(proc.stdout as ReadableStream<Uint8Array>, () => `serve exited before listening: ${errText}`);
  const { url, port } = JSON.parse(line) as { url: string; port: number };
  return {
    url: url.replace(/\/$/, ""),
    port,
    proc,
    stderr: () => errText,
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return proc.exited;
    },
  };
}

export interface WsViewer {
  ws: WebSocket;
  receivers: WebRtcReceiver[];
  frames: { keyframe: boolean; data: Uint8Array }[];
  signals: ServerSignal[];
  stream?: StreamInfo;
  closed?: { code: number; reason: string };
  readonly current: WebRtcReceiver | undefined;
  close(): void;
}

/** Joins `streamerId` on `serverUrl` as a viewer; resolves once the socket is open. */
export async function joinOverWebSocket(serverUrl: string, streamerId: string, query = ""): Promise<WsViewer> {
  const ws = new WebSocket(`${serverUrl.replace(/^http/, "ws")}/api/streamers/${streamerId}/peer${query}`);
  const viewer: WsViewer = {
    ws,
    receivers: [],
    frames: [],
    signals: [],
    get current() {
      return this.receivers.at(-1);
    },
    close() {
      ws.close();
      for (const r of this.receivers) r.close();
    },
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as ServerSignal;
    viewer.signals.push(message);
    if (message.type === "offer") {
      // A fresh offer (first join, or after the streamer process restarted): a fresh connection.
      viewer.current?.close();
      const receiver = new WebRtcReceiver({ bindAddress: "127.0.0.1", signal: (m) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(m)) });
      receiver.on("frame", (f) => viewer.frames.push({ keyframe: f.keyframe, data: f.data }));
      if (viewer.stream) receiver.handleSignal({ type: "stream", info: viewer.stream });
      viewer.receivers.push(receiver);
    }
    if (message.type === "stream") viewer.stream = message.info;
    viewer.current?.handleSignal(message);
  };
  ws.onclose = (event) => {
    viewer.closed = { code: event.code, reason: event.reason };
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("WebSocket refused"));
  });
  return viewer;
}

export async function until(what: () => boolean, ms = 15_000, label = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await Bun.sleep(20);
  }
}

export async function untilAsync(what: () => Promise<boolean>, ms = 15_000, label = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await Bun.sleep(100);
  }
}

/**
 * Adds the sim host at `simHttpPort` to `server`, pairs it with `pin`, creates streamer `id` on its
 * Desktop app and waits until it is live.
 */
export async function createLiveStreamer(server: RunningServer, simHttpPort: number, pin: string, id: string): Promise<void> {
  const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const host = (await (await post("/api/hosts", { address: `127.0.0.1:${simHttpPort}` })).json()) as { id: string };
  await (await post(`/api/hosts/${host.id}/pair`, { pin })).text();
  const created = await post("/api/streamers", { id, host: host.id, app: "Desktop" });
  if (created.status !== 201) throw new Error(`creating streamer ${id}: HTTP ${created.status} ${await created.text()}`);
  await untilAsync(async () => ((await (await fetch(`${server.url}/api/streamers/${id}`)).json()) as { status: string }).status === "live", 20_000, "live");
}
