/**
 * Runs the sidecar image the way Helix does and checks what Helix relies on:
 *
 *   bun scripts/image/check.ts [image]        (after scripts/image/build.sh)
 *
 * A sim host (Wolf flavour, pairing PIN) plays Wolf on 127.0.0.1; the container gets Helix's
 * config.json/data.json mounted at /app/server and Helix's env, on the host network (loopback
 * only: the server is told to listen on 127.0.0.1). Checked: the health check passes, the process
 * runs as the image's non-root user, `/data` holds the state, `POST /api/pair {"host_id":0}`
 * pairs with the shared PIN, a kickoff `keepalive` starts a streamer that receives frames, the
 * gate refuses a missing bearer and a foreign Origin, and `podman stop` ends it cleanly.
 * Prints one line of figures; exits 1 on the first failed check.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliCommand, firstLine } from "../../tests/support/cli.ts";

const image = process.argv[2] ?? "localhost/mlstream:latest";
const name = `mlstream-image-check-${process.pid}`;
const CREDENTIALS = "image-check-credentials-0123456789";
const PIN = "4321";
const DESKTOP_APP_ID = 881448767;
const HELIX_HOST = "moonlight-web:8080";

// Containers here need runc and explicit limits: our CI's VMs mount cgroup v1 (crun refuses it)
// and cap RLIMIT_NOFILE/NPROC below podman's defaults.
const RUNTIME = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];
const LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];

class CheckFailed extends Error {}
function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new CheckFailed(what);
}

async function podman(args: string[], allowFailure = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn(["podman", ...RUNTIME, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  // podman logs a harmless error about systemd timers on machines without systemd.
  const errors = stderr.split("\n").filter((line) => line && !line.includes("systemd")).join("\n");
  if (code !== 0 && !allowFailure) throw new CheckFailed(`podman ${args[0]} exited ${code}: ${errors}`);
  return { code, stdout: stdout.trim(), stderr: errors };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function poll<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new CheckFailed(`${what}: not within ${ms} ms`);
    await Bun.sleep(100);
  }
}

const work = mkdtempSync(join(tmpdir(), "mlstream-image-"));
const sim = Bun.spawn(cliCommand(["sim-host", "--port", "0", "--pin", PIN, "--flavor", "wolf", "--json", "--data-dir", join(work, "sim")]), { stdout: "pipe", stderr: "ignore" });
let failed = false;
try {
  const simPorts = JSON.parse(await firstLine(sim.stdout, () => "sim-host ended before printing its ports")) as { http_port: number };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = join(work, "helix-config");
  rmSync(config, { recursive: true, force: true });
  await Bun.write(join(config, "config.json"), JSON.stringify({ bind_address: "0.0.0.0:8080", credentials: CREDENTIALS, webrtc_port_range: { min: 40000, max: 40100 } }));
  writeFileSync(join(config, "data.json"), JSON.stringify({ hosts: [{ address: "127.0.0.1", http_port: simPorts.http_port }] }));

  const started = performance.now();
  await podman(["run", "-d", "--name", name, ...LIMITS, "--network", "host",
    "-e", `MOONLIGHT_INTERNAL_PAIRING_PIN=${PIN}`, "-e", "MLSTREAM_SERVER_HOST=127.0.0.1", "-e", `MLSTREAM_SERVER_PORT=${port}`,
    "-v", `${config}:/app/server:ro`, "-v", `${name}-data:/data`, image]);
  await poll("/healthz answers", 20_000, async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined));
  const healthyMs = performance.now() - started;
  check((await podman(["healthcheck", "run", name], true)).code === 0, "the image's HEALTHCHECK passes");
  const uid = (await podman(["exec", name, "id", "-u"])).stdout;
  check(uid !== "0", `runs as a non-root user (uid ${uid})`);
  check((await podman(["exec", name, "test", "-s", "/data/mlstream.db"], true)).code === 0, "state is kept in the /data volume");

  const helix = { host: HELIX_HOST, authorization: `Bearer ${CREDENTIALS}` };
  check((await fetch(`${base}/api/admin/status`, { headers: { host: HELIX_HOST } })).status === 401, "no bearer → 401");
  const pairStarted = performance.now();
  const pair = await fetch(`${base}/api/pair`, { method: "POST", headers: { ...helix, "content-type": "application/json" }, body: JSON.stringify({ host_id: 0 }) });
  const pairLines = (await pair.text()).trim().split("\n").map((line) => JSON.parse(line));
  check(pair.status === 200 && pairLines[0]?.Pin === PIN && pairLines[1]?.Paired?.paired === "Paired", `pairing with the shared PIN (${pair.status} ${JSON.stringify(pairLines)})`);
  const pairMs = performance.now() - pairStarted;

  const foreign = await fetch(`${base}/api/host/stream`, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", host: HELIX_HOST, origin: "http://evil.example" } });
  check(foreign.status === 403, `a kickoff from a foreign Origin is refused (${foreign.status})`);

  const kickoffStarted = performance.now();
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/host/stream`, { headers: { host: HELIX_HOST } } as unknown as string[]);
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  ws.send(JSON.stringify({ AuthenticateAndInit: {
    credentials: CREDENTIALS, session_id: "image-check", mode: "keepalive", client_unique_id: "helix-agent-image-check", host_id: 0, app_id: DESKTOP_APP_ID,
    bitrate: 10000, packet_size: 1024, fps: 60, width: 1280, height: 720, video_sample_queue_size: 10, play_audio_local: false,
    audio_sample_queue_size: 10, video_supported_formats: 1, video_colorspace: "Rec709", video_color_range_full: false,
  } }));
  // Helix's bearer gets Helix's shapes on /api/streamers (docs/helix.md §2): frames are read from
  // our Prometheus metrics, which answer the same bearer.
  let seen = "";
  const framesTotal = async () => {
    seen = await (await fetch(`${base}/metrics`, { headers: helix })).text();
    const line = seen.split("\n").find((l) => l.startsWith("mlstream_frames_total{") && l.includes('"mlw-image-check"'));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  };
  const frames = await poll("the keepalive's streamer receives frames", 20_000, async () => {
    const n = await framesTotal();
    return n > 0 ? n : undefined;
  }).catch((error: Error) => {
    throw new CheckFailed(`${error.message}; metrics then: ${seen.split("\n").filter((l) => l.startsWith("mlstream_")).join(" | ").slice(0, 2000)}`);
  });
  const firstFrameMs = performance.now() - kickoffStarted;
  ws.close();

  const stopStarted = performance.now();
  await podman(["stop", "-t", "10", name]);
  const stopMs = performance.now() - stopStarted;
  const exitCode = (await podman(["inspect", name, "--format", "{{.State.ExitCode}}"])).stdout;
  check(stopMs < 9000, `podman stop ends it before the kill timeout (${Math.round(stopMs)} ms)`);
  const size = Number((await podman(["image", "inspect", image, "--format", "{{.Size}}"])).stdout);
  console.log(JSON.stringify({
    image, size_mb: Math.round(size / 1e6), healthy_ms: Math.round(healthyMs), uid: Number(uid), pair_ms: Math.round(pairMs),
    keepalive_first_frame_ms: Math.round(firstFrameMs), frames_at_check: frames, stop_ms: Math.round(stopMs), exit_code: Number(exitCode),
  }));
} catch (error) {
  failed = true;
  console.error(`image check failed: ${error instanceof Error ? error.message : String(error)}`);
  const logs = await podman(["logs", "--tail", "30", name], true);
  if (logs.stdout || logs.stderr) console.error(`container log:\n${logs.stdout}\n${logs.stderr}`);
} finally {
  await podman(["rm", "-f", name], true);
  await podman(["volume", "rm", "-f", `${name}-data`], true);
  sim.kill();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
