/**
 * The terminal viewer against a small in-process signaling server whose WebRtcViewer misbehaves
 * on purpose, one way per stage: each failed join names the stage it stopped at.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import { parseViewerSignal, type ServerSignal, type StreamInfo } from "../../src/peer/signaling.ts";
import { VideoRtpPacketizer } from "../../src/peer/rtp-packetizer.ts";
import { formatStatusLine, JoinError, TerminalViewer } from "../../src/peer/terminal-viewer.ts";
import { WebRtcViewer } from "../../src/peer/webrtc-viewer.ts";
import { LOOP_STREAM_INFO, loopAccessUnits } from "../support/sim-loop.ts";

const FRAMES = loopAccessUnits("h264");

const info: StreamInfo = LOOP_STREAM_INFO;

/** What the fake server does, chosen by the socket's path. */
type Scenario = "silent" | "not-found" | "no-offer" | "no-candidates" | "no-answer-forwarded" | "no-media" | "deltas-only" | "frames";

interface Conn {
  scenario: Scenario;
  viewer?: WebRtcViewer;
  timer?: ReturnType<typeof setInterval>;
}

const server = Bun.serve<Conn>({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request, srv) {
    const scenario = new URL(request.url).pathname.split("/")[3] as Scenario;
    if (scenario === ("refuse" as Scenario)) return new Response("no", { status: 401 });
    return srv.upgrade(request, { data: { scenario } }) ? undefined : new Response("upgrade expected", { status: 400 });
  },
  websocket: {
    open(ws: ServerWebSocket<Conn>) {
      const { scenario } = ws.data;
      const send = (m: unknown) => ws.send(JSON.stringify(m));
      if (scenario === "silent") return;
      if (scenario === "not-found") {
        send({ type: "error", error: "streamer_not_found", message: "no streamer 'x'" });
        return ws.close(4004, "streamer_not_found");
      }
      send({ type: "hello", peerId: "peer-1", role: "viewer", transport: "webrtc" });
      send({ type: "status", status: "live" });
      if (scenario === "no-offer") return;
      // no-candidates: the offer goes out without a single candidate, so no pair can ever be checked.
      const signal = (m: ServerSignal) => {
        if (scenario !== "no-candidates") return send(m);
        if (m.type === "candidate") return;
        send(m.type === "offer" ? { ...m, sdp: m.sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate")).join("\r\n") } : m);
      };
      const viewer = new WebRtcViewer({ id: "peer-1", stream: info, videoSsrc: 0x1111, audioSsrc: 0x2222, ice: { bindAddress: "127.0.0.1" }, signal });
      ws.data.viewer = viewer;
      viewer.start();
      if (scenario === "no-media" || scenario === "no-answer-forwarded" || scenario === "no-candidates") return;
      const packetizer = new VideoRtpPacketizer("h264", { payloadType: 102, ssrc: 0x1111 });
      let i = scenario === "deltas-only" ? 1 : 0;
      ws.data.timer = setInterval(() => {
        // deltas-only: delta frames flagged as keyframes get past the server's gate, but never decode.
        if (scenario === "deltas-only" && i % 30 === 0) i++;
        const frame = FRAMES[i % FRAMES.length]!;
        viewer.writeVideo(packetizer.packetize(frame, i * 1500, scenario === "deltas-only" || i % 30 === 0));
        i++;
      }, 16);
    },
    message(ws, raw) {
      if (ws.data.scenario === "no-answer-forwarded" || ws.data.scenario === "no-candidates") return;
      const message = parseViewerSignal(String(raw));
      ws.data.viewer?.handleSignal(message);
    },
    close(ws) {
      if (ws.data.timer) clearInterval(ws.data.timer);
      ws.data.viewer?.close();
    },
  },
});
afterAll(() => server.stop(true));

const open: TerminalViewer[] = [];
afterEach(() => {
  for (const v of open.splice(0)) v.close();
});

function join(scenario: string, timeoutMs = 3000): TerminalViewer {
  const viewer = new TerminalViewer({ url: `ws://127.0.0.1:${server.port}/api/streamers/${scenario}/peer`, timeoutMs, bindAddress: "127.0.0.1" });
  open.push(viewer);
  return viewer;
}

async function failure(viewer: TerminalViewer): Promise<JoinError> {
  try {
    await viewer.connect();
  } catch (error) {
    expect(error).toBeInstanceOf(JoinError);
    return error as JoinError;
  }
  throw new Error("the join succeeded");
}

describe("TerminalViewer names the stage that failed", () => {
  test("a server that refuses the upgrade with 401: signaling, and it says the token was refused", async () => {
    const error = await failure(join("refuse"));
    expect(error.stage).toBe("signaling");
    expect(error.message).toContain("refused the token (401)");
  });

  test("nothing listening: signaling, server unreachable", async () => {
    const viewer = new TerminalViewer({ url: "ws://127.0.0.1:9/api/streamers/x/peer", timeoutMs: 3000 });
    open.push(viewer);
    const error = await failure(viewer);
    expect(error.stage).toBe("signaling");
    expect(error.message).toContain("cannot reach");
  });

  test("an unknown streamer: signaling, streamer not found", async () => {
    const error = await failure(join("not-found"));
    expect(error.stage).toBe("signaling");
    expect(error.message).toContain("streamer not found");
  });

  test("an open socket that says nothing: signaling, no hello", async () => {
    const error = await failure(join("silent", 1500));
    expect(error.message).toBe("signaling: the socket opened but the server said no hello within 1.5 s");
  });

  test("hello but no offer: signaling, no offer", async () => {
    const error = await failure(join("no-offer", 1500));
    expect(error.stage).toBe("signaling");
    expect(error.message).toContain("no offer from the streamer within 1.5 s");
  });

  test("an offer without candidates: ICE", async () => {
    const error = await failure(join("no-candidates"));
    expect(error.stage).toBe("ice");
    expect(error.message).toContain("no ICE connectivity");
    expect(error.message).toContain("0 remote candidates");
  });

  test("an answer the server never applies: ICE checks are answered, DTLS never completes", async () => {
    const viewer = join("no-answer-forwarded");
    const error = await failure(viewer);
    expect(error.stage).toBe("dtls");
    expect(viewer.milestones.ice_connected).toBeNumber();
  });

  test("connected but no RTP: media", async () => {
    const viewer = join("no-media");
    const error = await failure(viewer);
    expect(error.stage).toBe("media");
    expect(viewer.milestones.dtls_connected).toBeNumber();
  });

  test("RTP without a decodable keyframe: keyframe", async () => {
    const viewer = join("deltas-only");
    const error = await failure(viewer);
    expect(error.stage).toBe("keyframe");
    expect(viewer.summary().packets).toBeGreaterThan(0);
    expect(viewer.summary().failed_stage).toBe("keyframe");
  });
});

describe("TerminalViewer when the stream flows", () => {
  test("reaches the first frame, counts frames and keyframes, passes every stage in order", async () => {
    const viewer = join("frames", 10_000);
    await viewer.connect();
    await Bun.sleep(600);
    const summary = viewer.summary("frames");
    expect(summary.frames).toBeGreaterThan(5);
    expect(summary.keyframes).toBeGreaterThanOrEqual(1);
    expect(summary.first_frame_ms).toBeNumber();
    expect(summary.failed_stage).toBeNull();
    const order = ["ws_open", "hello", "offer", "answer", "ice_connected", "dtls_connected", "first_rtp", "first_frame"] as const;
    const times = order.map((name) => summary.stages[name]);
    for (const t of times) expect(t).toBeNumber();
    expect([...times].sort((a, b) => a! - b!)).toEqual(times);
    const line = formatStatusLine(viewer.stats());
    expect(line).toContain("playing 1280x720 h264");
    expect(line).toMatch(/\d+\.\d fps/);
  });
});
