/**
 * Transport latency benchmark: per-frame latency from "host frame complete at the gateway" to
 * "frame decoded in the page", over WebRTC and over the WebSocket media transport, in one run.
 *
 *   bun scripts/bench/transport-latency.ts [--width 1920] [--height 1080] [--fps 60]
 *                                          [--bitrate 20000] [--seconds 15] [--align 5]
 *
 * Setup: the sim host with its live ffmpeg pattern (testsrc2 → libx264 ultrafast/zerolatency at
 * the requested size, rate and bitrate), `mlstream serve` from source, a streamer of it, and
 * Debian's Chromium (headless, software decoding) with the real player page.
 *
 * Clocks. The streamer child stamps every frame from one `arrivalUs` (its performance.now() when
 * the frame was complete): the WebSocket header carries `timeOrigin + arrivalUs/1000` (ms since
 * the epoch), the RTP timestamp is `round(arrivalUs·0.09) mod 2³²`. The page measures
 * `performance.timeOrigin + performance.now()`; both clocks are the machine's wall clock at their
 * process start plus a monotonic clock, so they agree to the skew printed at the end.
 *   WebSocket: capture time from the header → the VideoDecoder's output callback (exact).
 *   WebRTC: the RTP timestamp → capture time needs the child's timeOrigin, found once by pairing
 *     frames both pages saw during an alignment phase (`capture − rtp/90` is the same for every
 *     pair of the same frame; analysis.ts): error ≤ the printed spread (~0.01 ms). "Decoded" is
 *     when the frame left the decoder: read from a MediaStreamTrackProcessor on the received
 *     track when Chromium puts the RTP timestamp in VideoFrame.metadata(), else
 *     requestVideoFrameCallback's presentationTime (the decoded frame handed to the compositor).
 *
 * Phases: (1) alignment — both pages open; (2) WebRTC page alone for --seconds; (3) WebSocket page
 * alone for --seconds. Rows "(both open)" come from phase 1 (two 1080p decoders on the same cores).
 */
import { chromium, type Browser, type Page } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { alignRtpClock, rtpToCaptureMs, summarize, type Alignment } from "./transport-latency/analysis.ts";
import { clockSkewMs, installRtcProbe, installWsProbe, pageCounters, type BenchWindow, type RvfcSample, type TrackSample, type WsSample } from "./transport-latency/probes.ts";
import { api, startServe, until } from "./transport-latency/serve.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const WIDTH = option("width", 1920);
const HEIGHT = option("height", 1080);
const FPS = option("fps", 60);
const BITRATE = option("bitrate", 20_000);
const SECONDS = option("seconds", 15);
const ALIGN = option("align", 5);
const STREAMER = "latency";
const PIN = "8642";

const log = (text: string) => console.error(`[bench] ${text}`);

interface StreamerView {
  pid: number;
  status: string;
  counters: { framesEmitted: number } | null;
  viewers: { id: string; transport?: string; stats: Record<string, number> }[];
}

interface Row {
  label: string;
  hostFrames: number;
  decoded: number;
  latencies: number[];
  dropped: number;
  note: string;
}

async function main(): Promise<void> {
  const sim = new SimHost({ pin: PIN, media: { livePattern: true } });
  const { httpPort } = await sim.start();
  const serve = await startServe();
  let browser: Browser | undefined;
  try {
    const host = await api<{ id: string }>(serve.url, "POST", "api/hosts", { address: `127.0.0.1:${httpPort}` });
    await (await fetch(new URL(`api/hosts/${host.id}/pair`, serve.url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pin: PIN }) })).text();
    await api(serve.url, "POST", "api/streamers", { id: STREAMER, host: host.id, app: "Desktop", width: WIDTH, height: HEIGHT, fps: FPS, bitrate_kbps: BITRATE });
    await until(async () => (await streamer(serve.url)).status === "live", 30_000, "the streamer to go live");
    const pid = (await streamer(serve.url)).pid;
    log(`streamer live: ${WIDTH}x${HEIGHT}@${FPS} ${BITRATE} kbps (sim live pattern), child pid ${pid}`);

    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
    });
    const viewer = new URL(`view/${STREAMER}`, serve.url).href;
    const open = async (transport: "webrtc" | "websocket") => {
      const page = await (await browser!.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
      page.on("console", (m) => m.type() === "error" && log(`[page] ${m.text()}`));
      await page.goto(`${viewer}?transport=${transport}`, { waitUntil: "domcontentloaded" });
      return page;
    };

    // ---- phase 1: both pages, to pair frames and find the child's clock origin --------------
    const rtc = await open("webrtc");
    let ws = await open("websocket");
    await until(async () => ((await rtc.evaluate(pageCounters)).rtc?.framesDecoded ?? 0) > 60, 30_000, "the WebRTC page to decode");
    await until(async () => ((await ws.evaluate(pageCounters)).ws?.framesDecoded ?? 0) > 60, 30_000, "the WebSocket page to decode");
    await rtc.evaluate(installRtcProbe);
    await ws.evaluate(installWsProbe);
    await Bun.sleep(1000);
    const both = await measure(serve.url, [rtc, ws], ALIGN);
    const wsBoth = both.samples[1]!.ws;
    const rtcBoth = both.samples[0]!;
    const probe = rtcBoth.track.length > 0 ? "track" : "rvfc";
    const rtcRtps = probe === "track" ? rtcBoth.track.map((s) => s.rtp) : rtcBoth.rvfc.map((s) => s.rtp);
    const alignment = alignRtpClock(wsBoth.map((s) => s.captureTimeMs), rtcRtps);
    if (!alignment) throw new Error(`could not pair WebRTC and WebSocket frames (${wsBoth.length} / ${rtcRtps.length} frames)`);
    log(`alignment: child timeOrigin ${alignment.originMs.toFixed(3)} from ${alignment.matches} frame pairs, spread ${alignment.spreadMs.toFixed(4)} ms; WebRTC probe: ${probe} (${rtcBoth.trackProcessor})`);

    const rows: Row[] = [];
    rows.push(rtcRow("WebRTC (both open)", both.hostFrames, both.counters[0]!, rtcBoth, alignment));
    rows.push(wsRow("WebSocket (both open)", both.hostFrames, both.counters[1]!, wsBoth));

    // ---- phase 2: WebRTC alone ------------------------------------------------------------------
    await ws.context().close();
    await Bun.sleep(2000);
    const rtcAlone = await measure(serve.url, [rtc], SECONDS);
    rows.push(rtcRow("WebRTC", rtcAlone.hostFrames, rtcAlone.counters[0]!, rtcAlone.samples[0]!, alignment));
    const rtcSkew = await rtc.evaluate(clockSkewMs);
    await rtc.context().close();

    // ---- phase 3: WebSocket alone ---------------------------------------------------------------
    ws = await open("websocket");
    await until(async () => ((await ws.evaluate(pageCounters)).ws?.framesDecoded ?? 0) > 60, 30_000, "the WebSocket page to decode");
    await ws.evaluate(installWsProbe);
    await Bun.sleep(2000);
    const wsAlone = await measure(serve.url, [ws], SECONDS);
    rows.push(wsRow("WebSocket", wsAlone.hostFrames, wsAlone.counters[0]!, wsAlone.samples[0]!.ws));
    const wsSkew = await ws.evaluate(clockSkewMs);

    const after = await streamer(serve.url);
    if (after.pid !== pid) throw new Error(`the streamer's process restarted during the run (pid ${pid} → ${after.pid}): the alignment no longer holds`);
    const benchSkew = Date.now() - (performance.timeOrigin + performance.now());

    // ---- report -----------------------------------------------------------------------------------
    console.log(`\nTransport latency: gateway "host frame complete" → "decoded in the page", ${WIDTH}x${HEIGHT}@${FPS}, ${BITRATE} kbps, sim live pattern, Chromium ${browser.version()} (software decode), ${navigatorCores()} cores`);
    console.log(`phases: both pages ${ALIGN} s, then each transport alone ${SECONDS} s\n`);
    const header = ["transport", "host frames", "decoded", "measured", "dropped", "p50 ms", "p95 ms", "p99 ms", "max ms", "note"];
    const table = rows.map((row) => {
      const s = summarize(row.latencies);
      return [row.label, String(row.hostFrames), String(row.decoded), String(s.n), String(row.dropped), s.p50.toFixed(1), s.p95.toFixed(1), s.p99.toFixed(1), s.max.toFixed(1), row.note];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
    console.log(line(header));
    console.log(widths.map((w) => "-".repeat(w)).join("  "));
    for (const r of table) console.log(line(r));
    console.log(
      `\nclock alignment (WebRTC rows): ${alignment.matches} frame pairs, spread ${alignment.spreadMs.toFixed(4)} ms; ` +
        `clock skew (Date.now() − timeOrigin − now): bench ${benchSkew.toFixed(2)} ms, WebRTC page ${rtcSkew.toFixed(2)} ms, WebSocket page ${wsSkew.toFixed(2)} ms`,
    );
    console.log(`WebRTC "decoded" = ${probe === "track" ? "MediaStreamTrackProcessor read (VideoFrame.metadata().rtpTimestamp)" : "requestVideoFrameCallback presentationTime (decoded frame handed to the compositor)"}; WebSocket "decoded" = VideoDecoder output callback.`);
    console.log(`dropped = host frames in the window − frames decoded in it (±2 at the window's edges).`);
  } finally {
    await browser?.close();
    await serve.stop();
    await sim.close();
  }
}

function navigatorCores(): number {
  return navigator.hardwareConcurrency;
}

async function streamer(root: string): Promise<StreamerView> {
  return api<StreamerView>(root, "GET", `api/streamers/${STREAMER}`);
}

interface Collected {
  ws: WsSample[];
  rvfc: RvfcSample[];
  track: TrackSample[];
  trackProcessor: string;
}

interface PageDelta {
  decoded: number;
  dropped: number;
  /** WebRTC only: RTP packets lost, NACKs and PLIs sent in the window. */
  lost?: number;
  nacks?: number;
  plis?: number;
}

/** Records `seconds` of samples on the pages; returns them, decoded-frame deltas and host frames. */
async function measure(root: string, pages: Page[], seconds: number): Promise<{ samples: Collected[]; counters: PageDelta[]; hostFrames: number }> {
  const hostBefore = (await streamer(root)).counters?.framesEmitted ?? 0;
  const before = await Promise.all(pages.map((p) => p.evaluate(pageCounters)));
  await Promise.all(
    pages.map((p) =>
      p.evaluate(() => {
        const bench = (window as unknown as BenchWindow).__bench!;
        bench.ws.length = bench.rvfc.length = bench.track.length = 0;
        bench.on = true;
      }),
    ),
  );
  await Bun.sleep(seconds * 1000);
  const samples = await Promise.all(
    pages.map((p) =>
      p.evaluate(() => {
        const bench = (window as unknown as BenchWindow).__bench!;
        bench.on = false;
        return { ws: bench.ws, rvfc: bench.rvfc, track: bench.track, trackProcessor: bench.trackProcessor };
      }),
    ),
  );
  const after = await Promise.all(pages.map((p) => p.evaluate(pageCounters)));
  const hostFrames = ((await streamer(root)).counters?.framesEmitted ?? 0) - hostBefore;
  const counters = pages.map((_, i) => {
    const a = after[i]!.ws ?? after[i]!.rtc!;
    const b = before[i]!.ws ?? before[i]!.rtc!;
    const delta: PageDelta = { decoded: a.framesDecoded - b.framesDecoded, dropped: a.framesDropped - b.framesDropped };
    const ra = after[i]!.rtc;
    const rb = before[i]!.rtc;
    if (ra && rb && !after[i]!.ws) Object.assign(delta, { lost: ra.packetsLost - rb.packetsLost, nacks: ra.nackCount - rb.nackCount, plis: ra.pliCount - rb.pliCount });
    return delta;
  });
  return { samples, counters, hostFrames };
}

function rtcRow(label: string, hostFrames: number, delta: PageDelta, samples: Collected, alignment: Alignment): Row {
  const fromTrack = samples.track.length > 0;
  const latencies = fromTrack ? samples.track.map((s) => s.decodedAtMs - rtpToCaptureMs(s.rtp, alignment)) : samples.rvfc.map((s) => s.presentationMs - rtpToCaptureMs(s.rtp, alignment));
  // The last packet's arrival, from requestVideoFrameCallback (the processor's frames do not carry it).
  const receive = samples.rvfc.flatMap((s) => (s.receiveMs === undefined ? [] : [s.receiveMs - rtpToCaptureMs(s.rtp, alignment)]));
  const r = summarize(receive);
  return {
    label,
    hostFrames,
    decoded: delta.decoded,
    latencies,
    dropped: Math.max(0, hostFrames - delta.decoded),
    note: `${fromTrack ? "track processor" : "rVFC presentation"}; last packet received p50 ${r.p50.toFixed(1)} ms; getStats: framesDropped ${delta.dropped}, packetsLost ${delta.lost ?? "?"}, NACKs ${delta.nacks ?? "?"}, PLIs ${delta.plis ?? "?"}`,
  };
}

function wsRow(label: string, hostFrames: number, delta: PageDelta, samples: WsSample[]): Row {
  const received = summarize(samples.map((s) => s.receivedAtMs - s.captureTimeMs));
  return {
    label,
    hostFrames,
    decoded: delta.decoded,
    latencies: samples.map((s) => s.decodedAtMs - s.captureTimeMs),
    dropped: Math.max(0, hostFrames - delta.decoded),
    note: `VideoDecoder output; message received p50 ${received.p50.toFixed(1)} ms; skipped by the page ${delta.dropped}`,
  };
}

await main();
