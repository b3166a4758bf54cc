/**
 * The operator commands and the terminal viewer as a user types them: a sim host and `mlstream
 * serve` in their own processes, the CLI against the server from a third, sharing only loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv, cliCommand, firstLine, REPO_ROOT, runCli, tempDir } from "../support/cli.ts";

const home = tempDir();
const env = { XDG_CONFIG_HOME: join(home.path, "config"), XDG_DATA_HOME: join(home.path, "data") };
let sim: ReturnType<typeof Bun.spawn> | undefined;
let serve: ReturnType<typeof Bun.spawn> | undefined;
let server = "";

function spawnCli(args: string[], extraEnv: Record<string, string> = {}) {
  return Bun.spawn(cliCommand(args), { cwd: REPO_ROOT, env: cleanEnv({ ...env, ...extraEnv }), stdout: "pipe", stderr: "pipe" });
}

beforeAll(async () => {
  sim = spawnCli(["sim-host", "--port", "0", "--pin", "4321", "--json"]);
  const ports = JSON.parse(await firstLine(sim.stdout as ReadableStream<Uint8Array>));
  serve = spawnCli(["serve", "--port", "0", "--json"]);
  server = JSON.parse(await firstLine(serve.stdout as ReadableStream<Uint8Array>)).url.replace(/\/$/, "");
  const added = await fetch(`${server}/api/hosts`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ address: `127.0.0.1:${ports.http_port}` }) });
  expect(added.status).toBe(201);
  const host = await added.json();
  const paired = await (await fetch(`${server}/api/hosts/${host.id}/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pin: "4321" }) })).text();
  expect(paired).toContain('"paired"');
});

afterAll(async () => {
  for (const proc of [serve, sim]) {
    if (!proc) continue;
    proc.kill("SIGTERM");
    await Promise.race([proc.exited, Bun.sleep(15_000)]);
    proc.kill("SIGKILL");
  }
  home.cleanup();
});

const cli = (...args: string[]) => runCli([...args, "--server", server], { env, timeoutMs: 60_000 });

describe("start, ls, stop against a running server", () => {
  test("ls on an empty server says so; --json gives []", async () => {
    const table = await cli("ls");
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("no streamers");
    expect(JSON.parse((await cli("ls", "--json")).stdout)).toEqual([]);
  });

  test("start picks the server's only host, waits until live and prints the id and viewer URL", async () => {
    const started = await cli("start", "--app", "Test Pattern", "--id", "t1", "--fps", "30", "--width", "640", "--height", "360");
    expect(started.code).toBe(0);
    expect(started.stdout).toContain("streamer  t1");
    expect(started.stdout).toContain(`viewer    ${server}/view/t1`);
    expect(started.stderr).toContain("streamer 't1' is live");

    const again = await cli("start", "--app", "Test Pattern", "--id", "t1", "--fps", "30", "--width", "640", "--height", "360", "--json");
    expect(again.code).toBe(0);
    expect(again.stderr).toBe("");
    const view = JSON.parse(again.stdout);
    expect(view).toMatchObject({ id: "t1", status: "live", viewer_url: `${server}/view/t1`, app: { title: "Test Pattern" } });
    expect(view.stream).toMatchObject({ width: 640, height: 360, fps: 30, codec: "h264" });

    const list = JSON.parse((await cli("ls", "--json")).stdout);
    expect(list.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([["t1", "live"]]);
    const table = await cli("ls");
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+APP/);
    expect(table.stdout).toMatch(/t1\s+live\s+Test Pattern/);
  });

  test("usage errors exit 2; unknown streamers, peers and an unreachable server exit 1 with one line", async () => {
    const noApp = await cli("start");
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain("start needs --app");
    expect((await cli("start", "--app", "x", "--codec", "vp9")).code).toBe(2);
    expect((await cli("peers", "kick", "t1")).code).toBe(2);
    expect((await cli("peers", "frob")).code).toBe(2);

    const stopNope = await cli("stop", "nope");
    expect(stopNope.code).toBe(1);
    expect(stopNope.stderr).toBe("mlstream: no streamer 'nope'\n");
    const kickNope = await cli("peers", "kick", "t1", "peer-0");
    expect(kickNope.code).toBe(1);
    expect(kickNope.stderr).toContain("no peer 'peer-0'");
    const noApp2 = await cli("start", "--app", "No Such Game");
    expect(noApp2.code).toBe(1);
    expect(noApp2.stderr).toContain("No Such Game");

    const away = await runCli(["ls", "--server", "http://127.0.0.1:9"], { env });
    expect(away.code).toBe(1);
    expect(away.stderr).toContain("cannot reach the server at http://127.0.0.1:9 (connection refused)");
    expect(away.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("join", () => {
  test("join --duration 5 --record --record-audio --json: frames, a file ffmpeg decodes, Ogg/Opus, input that reaches the streamer", async () => {
    const video = join(home.path, "x.h264");
    const audio = join(home.path, "x.ogg");
    const result = await cli("join", "t1", "--duration", "5", "--record", video, "--record-audio", audio, "--json", "--key", "ctrl+a", "--type", "hello");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.frames).toBeGreaterThan(100);
    expect(summary.keyframes).toBeGreaterThanOrEqual(1);
    expect(summary.fps).toBeGreaterThan(25);
    expect(summary.fps).toBeLessThan(35);
    expect(summary.mbps).toBeGreaterThan(0);
    expect(summary.first_frame_ms).toBeLessThan(5000);
    expect(summary.packets_lost).toBe(0);
    expect(summary.audio_packets).toBeGreaterThan(100);
    expect(summary.input_sent).toBe(5); // ctrl down, a down, a up, ctrl up, text
    expect(summary.stream).toEqual({ width: 640, height: 360, codec: "h264", fps: 30 });
    expect(summary.failed_stage).toBeNull();
    for (const stage of ["ws_open", "hello", "offer", "answer", "ice_connected", "dtls_connected", "first_rtp", "first_frame"]) expect(summary.stages[stage]).toBeNumber();
    for (const key of ["frames", "keyframes", "bytes", "first_frame_ms", "fps", "mbps", "packets_lost", "rtt_ms", "audio_packets", "stages"]) expect(summary).toHaveProperty(key);

    const decode = Bun.spawnSync(["ffmpeg", "-v", "error", "-i", video, "-f", "null", "-"]);
    expect(decode.exitCode).toBe(0);
    expect(decode.stderr.toString()).toBe("");
    // Every frame the viewer counted is in the file and decodes (the sim's loop is 1280x720 whatever was asked).
    const frames = Bun.spawnSync(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "json", video]);
    const stream = JSON.parse(frames.stdout.toString()).streams[0];
    expect(stream.codec_name).toBe("h264");
    expect(Number(stream.nb_read_frames)).toBe(summary.frames);

    const probe = Bun.spawnSync(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,channels", "-of", "json", audio]);
    expect(probe.exitCode).toBe(0);
    expect(JSON.parse(probe.stdout.toString()).streams[0]).toMatchObject({ codec_name: "opus", channels: 2 });
    expect(Bun.spawnSync(["ffmpeg", "-v", "error", "-i", audio, "-f", "null", "-"]).stderr.toString()).toBe("");

    // The input went through the peer's data channel and the streamer to the host.
    let forwarded = 0;
    for (let i = 0; i < 40 && forwarded < 5; i++) {
      forwarded = (await (await fetch(`${server}/api/streamers/t1`)).json()).counters?.input_forwarded ?? 0;
      if (forwarded < 5) await Bun.sleep(250);
    }
    expect(forwarded).toBeGreaterThanOrEqual(5);
  });

  test("join --transport websocket: media over the signaling socket, a recording that decodes, input that goes through", async () => {
    const video = join(home.path, "ws.h264");
    const result = await cli("join", "t1", "--transport", "websocket", "--duration", "2", "--record", video, "--type", "x", "--json");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ transport: "websocket", failed_stage: null, input_sent: 1 });
    expect(summary.frames).toBeGreaterThan(30);
    expect(summary.audio_packets).toBeGreaterThan(0);
    expect(Bun.spawnSync(["ffmpeg", "-v", "error", "-i", video, "-f", "null", "-"]).stderr.toString()).toBe("");
    expect((await cli("join", "t1", "--transport", "carrier-pigeon")).code).toBe(2);
  });

  test("join on the viewer URL works the same; without --json it prints one summary line", async () => {
    const result = await runCli(["join", `${server}/view/t1`, "--duration", "1"], { env, timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^frames \d+ \(key \d+\) · [\d.]+ fps · [\d.]+ Mbps · first frame \d+ ms · lost 0/);
    expect(result.stderr).toContain("first frame after");
  });

  test("peers ls shows a joined viewer; peers kick ends its join with exit 1 and the reason", async () => {
    // Viewers of the previous tests may take a moment to be gone.
    for (let i = 0; i < 40 && JSON.parse((await cli("peers", "ls", "t1", "--json")).stdout).length > 0; i++) await Bun.sleep(250);
    const viewer = spawnCli(["join", "t1", "--duration", "30", "--json", "--server", server]);
    try {
      let peers: { id: string; role: string }[] = [];
      for (let i = 0; i < 80 && peers.length === 0; i++) {
        peers = JSON.parse((await cli("peers", "ls", "t1", "--json")).stdout);
        if (peers.length === 0) await Bun.sleep(250);
      }
      expect(peers).toHaveLength(1);
      expect(peers[0]!.role).toBe("viewer");
      const all = JSON.parse((await cli("peers", "ls", "--json")).stdout);
      expect(all).toEqual([expect.objectContaining({ streamer: "t1", id: peers[0]!.id })]);
      const table = await cli("peers", "ls");
      expect(table.stdout).toContain(peers[0]!.id);

      const kicked = await cli("peers", "kick", "t1", peers[0]!.id);
      expect(kicked.code).toBe(0);
      expect(kicked.stdout).toBe(`kicked ${peers[0]!.id} from t1\n`);
      expect(await viewer.exited).toBe(1);
      const stderr = await new Response(viewer.stderr as ReadableStream).text();
      expect(stderr).toContain("the session ended: kicked");
      const summary = JSON.parse(await new Response(viewer.stdout as ReadableStream).text());
      expect(summary.frames).toBeGreaterThan(0);
      expect(summary.ended).toBe("kicked");
    } finally {
      viewer.kill("SIGKILL");
    }
  });

  test("join on an unknown streamer fails at the signaling stage", async () => {
    const result = await cli("join", "nope", "--timeout", "5");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("failed at stage 'signaling': streamer not found");
  });

  test("join on a streamer whose host is gone fails, naming the stage and the streamer's trouble", async () => {
    sim!.kill("SIGKILL");
    await sim!.exited;
    const result = await cli("join", "t1", "--timeout", "4", "--json");
    expect(result.code).toBe(1);
    // The streamer may not have noticed yet (the host's media is UDP): it says live or reconnecting.
    expect(result.stderr).toMatch(/failed at stage 'media': connected, but no video RTP arrived within 4 s; streamer (live|reconnecting)/);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ frames: 0, failed_stage: "media" });
    expect(summary.stages.dtls_connected).toBeNumber();
  });

  test("stop ends the streamer; ls no longer lists it", async () => {
    const stopped = await cli("stop", "t1");
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toBe("stopped t1\n");
    expect(JSON.parse((await cli("ls", "--json")).stdout)).toEqual([]);
  });
});

describe("tokens", () => {
  test("a server with tokens: no token exits 1 naming 401; MLSTREAM_TOKEN lets ls and join through", async () => {
    const token = "operator-token-0123456789";
    const guarded = spawnCli(["serve", "--port", "0", "--json"], { MLSTREAM_TOKEN: token, XDG_DATA_HOME: join(home.path, "data2") });
    try {
      const url = JSON.parse(await firstLine(guarded.stdout as ReadableStream<Uint8Array>)).url.replace(/\/$/, "");
      const refused = await runCli(["ls", "--server", url], { env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("(401)");
      expect(refused.stderr.trim().split("\n")).toHaveLength(1);
      const allowed = await runCli(["ls", "--server", url, "--json"], { env: { ...env, MLSTREAM_TOKEN: token } });
      expect(allowed.code).toBe(0);
      expect(JSON.parse(allowed.stdout)).toEqual([]);
      const joinRefused = await runCli(["join", "x", "--server", url, "--timeout", "5"], { env });
      expect(joinRefused.code).toBe(1);
      expect(joinRefused.stderr).toContain("failed at stage 'signaling': the server refused the token (401)");
      const joinNotFound = await runCli(["join", "x", "--server", url, "--timeout", "5"], { env: { ...env, MLSTREAM_CLIENT_TOKEN: token } });
      expect(joinNotFound.stderr).toContain("streamer not found");
    } finally {
      guarded.kill("SIGTERM");
      await guarded.exited;
    }
  });
});
