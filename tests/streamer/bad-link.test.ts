/**
 * A viewer on a real bad link harms no one. The test makes a network namespace with a veth pair
 * (addresses of its own: 10.213.N.1 here, 10.213.N.2 in the namespace, a /30 that exists only on
 * this pair, so nothing can leave the machine), shapes the path into the namespace to 2 Mbit/s
 * (`tc tbf` on our end of the pair) and drops 5 % of the UDP arriving in the namespace (nftables
 * `numgen random`): this kernel has no sch_netem, so `tc netem` is not available.
 *
 * A real `mlstream serve` (listening on 10.213.N.1, with a token) serves the sim host's stream
 * (sunshine flavour: keyframes only when asked, plus one per 4 s loop). First two clean viewers
 * (`mlstream join` in our namespace) watch for a while; then the same two watch again while a
 * third `mlstream join` watches from inside the namespace, behind the bad link. Its terminal viewer
 * asks for a keyframe after every loss, as a browser does. Asserted: the clean viewers' frame rate
 * and keyframes per minute stay as they were without it (loose bounds), the bad viewer still gets
 * pictures, and the viewer list and the viewer itself say why its picture is poor. Needs root (CI is
 * root).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { cleanEnv, cliCommand, REPO_ROOT, tempDir } from "../support/cli.ts";
import { startServer, untilAsync, type RunningServer } from "../support/server.ts";
import { CHROMIUM, launchChromium, playerStats } from "../web/support.ts";

const WATCH_S = 20;
const TOKEN = "bad-link-test-admin-token-0123456789";
const tag = Math.floor(Math.random() * 0xfff);
const NETNS = `mlsbl${tag.toString(16)}`;
const VETH = `mlbl${tag.toString(16)}`;
const SUBNET = `10.213.${tag & 0xff}`;
const HOST_SIDE = `${SUBNET}.1`;
const BAD_SIDE = `${SUBNET}.2`;

interface JoinSummary {
  peer_id: string | null;
  frames: number;
  keyframes: number;
  fps: number;
  packets_lost: number;
  frames_dropped: number;
  first_frame_ms: number | null;
  error: string | null;
  link_notice: { quality: string; reason: string | null } | null;
}

interface ViewerRow {
  id: string;
  link?: { quality: string; reason: string | null; keyframes: { asked: number; granted: number; deferred: number } };
}

const dir = tempDir("mlstream-bad-link-");
let sim: SimHost;
let server: RunningServer;
const cleanups: (() => void)[] = [];

function run(args: string[]): void {
  const result = Bun.spawnSync(args, { stderr: "pipe", stdout: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${args.join(" ")}: ${result.stderr.toString().trim()} (the bad-link test needs root, iproute2 and nftables)`);
}

/** The namespace, the veth pair between it and us, the rate limit and the loss. */
function makeBadLink(): void {
  run(["ip", "netns", "add", NETNS]);
  cleanups.push(() => void Bun.spawnSync(["ip", "netns", "del", NETNS]));
  run(["ip", "link", "add", VETH, "type", "veth", "peer", "name", `${VETH}n`]);
  cleanups.push(() => void Bun.spawnSync(["ip", "link", "del", VETH]));
  run(["ip", "link", "set", `${VETH}n`, "netns", NETNS]);
  run(["ip", "addr", "add", `${HOST_SIDE}/30`, "dev", VETH]);
  run(["ip", "link", "set", VETH, "up"]);
  run(["ip", "netns", "exec", NETNS, "ip", "addr", "add", `${BAD_SIDE}/30`, "dev", `${VETH}n`]);
  run(["ip", "netns", "exec", NETNS, "ip", "link", "set", `${VETH}n`, "up"]);
  run(["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"]);
  // 2 Mbit/s towards the bad viewer, with a queue of ~300 ms (a keyframe burst waits, as on a real link).
  run(["tc", "qdisc", "add", "dev", VETH, "root", "tbf", "rate", "2mbit", "burst", "16kb", "latency", "300ms"]);
  // 5 % of the UDP arriving at the bad viewer is lost (in its namespace only).
  run(["ip", "netns", "exec", NETNS, "nft", "add table inet mlsbadlink"]);
  run(["ip", "netns", "exec", NETNS, "nft", "add chain inet mlsbadlink input { type filter hook input priority 0; policy accept; }"]);
  run(["ip", "netns", "exec", NETNS, "nft", "add rule inet mlsbadlink input meta l4proto udp numgen random mod 100 < 5 drop"]);
}

const authorized = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: authorized });

/** `mlstream join s1` for WATCH_S seconds; `inBadNetns` runs it behind the bad link. */
function watch(inBadNetns: boolean): Promise<JoinSummary> {
  const args = cliCommand(["--json", "join", "s1", "--server", server.url, "--view-only", "--duration", String(WATCH_S), "--timeout", "30", "--bind", inBadNetns ? BAD_SIDE : HOST_SIDE]);
  const proc = Bun.spawn(inBadNetns ? ["ip", "netns", "exec", NETNS, ...args] : args, {
    cwd: REPO_ROOT,
    env: cleanEnv({ MLSTREAM_TOKEN: TOKEN, XDG_CONFIG_HOME: join(dir.path, "no-config") }),
    stdout: "pipe",
    stderr: "pipe",
  });
  return (async () => {
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    try {
      return JSON.parse(out) as JoinSummary;
    } catch {
      throw new Error(`join${inBadNetns ? " (bad link)" : ""} printed no summary: ${out.slice(-500)} ${err.slice(-1500)}`);
    }
  })();
}

const perMinute = (s: JoinSummary) => (s.keyframes * 60) / WATCH_S;

/** The clean viewers' figures without the bad viewer (the first test measures them). */
let alone: JoinSummary[] = [];

function expectCleanAsAlone(clean: JoinSummary[]): void {
  const fpsAlone = Math.min(...alone.map((s) => s.fps));
  const keyframesAlone = Math.max(...alone.map(perMinute));
  for (const s of clean) {
    expect(s.error).toBeNull();
    expect(s.fps).toBeGreaterThanOrEqual(fpsAlone * 0.85);
    // The bad viewer may add its join and at most one keyframe per viewer_keyframe_interval_ms (5 s): 12/min.
    expect(perMinute(s)).toBeLessThanOrEqual(keyframesAlone * 1.25 + 12);
  }
}

beforeAll(async () => {
  makeBadLink();
  sim = new SimHost({ pin: "4242", flavor: "sunshine" });
  const { httpPort } = await sim.start();
  server = await startServer(join(dir.path, "data"), { MLSTREAM_TOKEN: TOKEN, MLSTREAM_SERVER_HOST: HOST_SIDE });
  const host = (await (await api("/api/hosts", { method: "POST", body: JSON.stringify({ address: `127.0.0.1:${httpPort}` }) })).json()) as { id: string };
  await (await api(`/api/hosts/${host.id}/pair`, { method: "POST", body: JSON.stringify({ pin: "4242" }) })).text();
  const created = await api("/api/streamers", { method: "POST", body: JSON.stringify({ id: "s1", host: host.id, app: "Desktop" }) });
  expect(created.status).toBe(201);
  await untilAsync(async () => ((await (await api("/api/streamers/s1")).json()) as { status: string }).status === "live", 20_000, "live");
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await sim?.close();
  for (const cleanup of cleanups.reverse()) cleanup();
  dir.cleanup();
});

describe("a viewer behind 2 Mbit/s and 5 % loss", () => {
  test("the clean viewers keep their frame rate and keyframe rate; the bad one still gets pictures and is told why they are poor", async () => {
    alone = await Promise.all([watch(false), watch(false)]);

    let watching = true;
    const withBad = Promise.all([watch(false), watch(false), watch(true)]).finally(() => (watching = false));
    // The viewer list, once a second while they watch: a mark holds 5 s after the last sign of trouble.
    const samples: ViewerRow[][] = [];
    while (watching) {
      await Bun.sleep(1000);
      samples.push(((await (await api("/api/streamers/s1")).json()) as { viewers: ViewerRow[] }).viewers);
    }
    const [cleanA, cleanB, bad] = await withBad;
    const badRows = samples.flatMap((rows) => rows.filter((r) => r.id === bad.peer_id));
    // The sample where its link looked worst (a mark, else the last).
    const badRow = badRows.find((r) => r.link?.quality === "lossy") ?? badRows.at(-1);
    const cleanRows = samples.flatMap((rows) => rows.filter((r) => r.id === cleanA.peer_id || r.id === cleanB.peer_id));

    const figures = {
      clean_alone: alone.map((s) => ({ fps: s.fps, keyframes_per_min: perMinute(s) })),
      clean_with_bad: [cleanA, cleanB].map((s) => ({ fps: s.fps, keyframes_per_min: perMinute(s) })),
      bad: { fps: bad.fps, frames: bad.frames, keyframes: bad.keyframes, packets_lost: bad.packets_lost, frames_dropped: bad.frames_dropped },
      bad_link: badRow?.link,
    };
    console.log(`bad-link figures: ${JSON.stringify(figures)}`);

    for (const s of [...alone, bad]) expect(s.error).toBeNull();
    expectCleanAsAlone([cleanA, cleanB]);
    // The bad viewer still gets pictures (how many varies a lot: a keyframe arrives whole or not).
    expect(bad.frames).toBeGreaterThanOrEqual(5);
    expect(bad.packets_lost).toBeGreaterThan(0);
    // And the viewer list said why its picture was poor.
    expect(badRow?.link?.quality).toBe("lossy");
    expect(badRow?.link?.reason).toContain("waits for the next keyframe");
    expect(badRow?.link?.keyframes.deferred).toBeGreaterThan(0);
    // The bad viewer itself was told (its player shows it). (The clean viewers' links are not held
    // to "good": on 2 busy shared cores a clean receiver process now and then misses a packet too.)
    expect(bad.link_notice?.quality).toBe("lossy");
    expect(bad.link_notice?.reason).toContain("waits for the next keyframe");
    console.log(`clean viewers' links seen: ${JSON.stringify([...new Set(cleanRows.map((r) => r.link?.quality))])}, told: ${JSON.stringify([cleanA.link_notice, cleanB.link_notice])}`);
  }, 120_000);

  test("a real Chromium behind the bad link: the clean viewers keep their rates, it plays, and its page shows what the server says of its link", async () => {
    expect(alone.length).toBe(2); // the first test measured the clean viewers alone
    // Debian's Chromium, started inside the namespace (playwright's pipe survives `ip netns exec`).
    const wrapper = join(dir.path, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${NETNS} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    let browser: Browser | undefined;
    try {
      browser = await launchChromium([], wrapper);
      const page = await (await browser.newContext({ viewport: { width: 960, height: 540 } })).newPage();
      const cleanRuns = Promise.all([watch(false), watch(false)]);
      await page.goto(`${server.url}/view/s1?access_token=${TOKEN}`, { waitUntil: "domcontentloaded" });
      // Every second: the page's frames and note, and the server's verdict on the browser's link.
      const samples: { at: number; frames: number; note: string; server: string | undefined }[] = [];
      const started = performance.now();
      while (performance.now() - started < WATCH_S * 1000) {
        await Bun.sleep(1000);
        const stats = await playerStats(page);
        const note = await page.evaluate(() => window.mlstreamPlayer?.linkNote ?? "");
        const rows = ((await (await api("/api/streamers/s1")).json()) as { viewers: (ViewerRow & { role: string })[] }).viewers;
        samples.push({ at: performance.now(), frames: stats?.framesDecoded ?? 0, note, server: rows.find((r) => r.role === "viewer")?.link?.quality });
      }
      const cleanRunsDone = await cleanRuns;
      const frames = samples.at(-1)!.frames;
      const firstPlaying = samples.findIndex((s) => s.frames > 0);
      const last = samples.at(-1)!;
      const fps = firstPlaying >= 0 && last.at > samples[firstPlaying]!.at ? ((frames - samples[firstPlaying]!.frames) * 1000) / (last.at - samples[firstPlaying]!.at) : 0;
      const figures = {
        clean_with_chromium: cleanRunsDone.map((s) => ({ fps: s.fps, keyframes_per_min: perMinute(s) })),
        chromium: { fps: Math.round(fps * 10) / 10, frames, notes: [...new Set(samples.map((s) => s.note).filter(Boolean))], server_verdicts: [...new Set(samples.map((s) => s.server).filter(Boolean))] },
      };
      console.log(`bad-link figures (Chromium): ${JSON.stringify(figures)}`);
      expectCleanAsAlone(cleanRunsDone);
      // It plays through the bad link.
      expect(frames).toBeGreaterThan(WATCH_S);
      // When the server judged its link poor for 3 s running, the page said why. Not necessarily by
      // the third second: the verdict reaches the page over the same 2 Mbit/s, 5 %-loss link as the
      // video (a TCP segment lost behind a full shaper queue waits seconds), so the page may lag
      // the server's row — the previous stop's code fails a per-second check here too, 2 runs of 2.
      const poor = (s: (typeof samples)[number] | undefined) => s?.server !== undefined && s.server !== "good";
      if (samples.some((s, i) => poor(s) && poor(samples[i + 1]) && poor(samples[i + 2]))) {
        expect(samples.some((s) => poor(s) && s.note.startsWith("Poor picture:"))).toBe(true);
      }
      // And what it said is the server's verdict, nothing else.
      for (const sample of samples) if (sample.note) expect(sample.note).toStartWith("Poor picture:");
    } finally {
      await browser?.close();
    }
  }, 120_000);
});

