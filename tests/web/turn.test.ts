/**
 * TURN in a real relay: Debian's coturn on loopback, `mlstream serve` told to use it
 * (`webrtc.ice_servers`) and to use relay candidates only (`webrtc.ice_transport_policy: relay`),
 * so every packet between the streamer and its viewers passes coturn. The player in Chromium
 * (opened with `?ice=relay`, the viewer-link spelling of the same policy) decodes frames over a
 * relay pair, and so does `mlstream join`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { runCli } from "../support/cli.ts";
import { startTurn, type RunningTurn } from "../support/coturn.ts";
import { framesDecoded, launchChromium, setUpStreamer, startServe, until, type Serve } from "./support.ts";

const STREAMER = "turn-test";
let turn: RunningTurn;
let sim: SimHost;
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  turn = await startTurn();
  sim = new SimHost({ pin: "1357" });
  const { httpPort } = await sim.start();
  serve = await startServe({ env: { MLSTREAM_WEBRTC_ICE_SERVERS: turn.url, MLSTREAM_WEBRTC_ICE_TRANSPORT_POLICY: "relay" } });
  await setUpStreamer(serve.url, httpPort, "1357", STREAMER);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.close();
  await turn?.stop();
}, 30_000);

describe("TURN through Debian's coturn", () => {
  test("the player in Chromium, relay candidates only, decodes frames over a relay pair", async () => {
    const page = await (await browser.newContext()).newPage();
    page.on("console", (message) => {
      if (message.type() === "error") console.error(`[page] ${message.text()}`);
    });
    await page.goto(new URL(`view/${STREAMER}?ice=relay`, serve.url).href, { waitUntil: "domcontentloaded" });
    await until(async () => (await framesDecoded(page)) > 30, 30_000, "frames decoded through TURN");

    const pair = await page.evaluate(async () => {
      const pc = window.mlstreamPlayer!.peerConnection!;
      const reports = new Map<string, Record<string, unknown>>();
      (await pc.getStats()).forEach((report: Record<string, unknown>) => reports.set(report.id as string, report));
      const transport = [...reports.values()].find((r) => r.type === "transport" && r.selectedCandidatePairId);
      const selected = reports.get(transport?.selectedCandidatePairId as string);
      const local = reports.get(selected?.localCandidateId as string);
      const remote = reports.get(selected?.remoteCandidateId as string);
      const gathered = [...reports.values()].filter((r) => r.type === "local-candidate").map((r) => r.candidateType);
      return { state: selected?.state, local: local?.candidateType, localAddress: `${local?.address}:${local?.port}`, localPort: local?.port as number, remote: remote?.candidateType, remoteAddress: remote?.address, remotePort: remote?.port as number, gathered, policy: pc.getConfiguration().iceTransportPolicy };
    });
    console.log(`TURN (browser): selected pair ${JSON.stringify(pair)}, coturn allocations ${turn.allocations()}`);
    expect(pair.policy).toBe("relay");
    expect(pair.state).toBe("succeeded");
    // The browser's end is coturn's relay address; it gathered nothing else.
    expect(pair.local).toBe("relay");
    expect(pair.localAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(new Set(pair.gathered)).toEqual(new Set(["relay"]));
    expect(pair.localPort).toBeWithin(turn.relayPorts.min, turn.relayPorts.max + 1);
    // The streamer advertised relay candidates only (webrtc.ice_transport_policy: relay); the
    // browser may learn its end from the first check (prflx: on loopback, coturn's permission for
    // 127.0.0.1 also lets the streamer's own socket through, so that end may be its base).
    expect(["relay", "prflx"]).toContain(pair.remote as string);
    expect(turn.allocations()).toBeGreaterThanOrEqual(2);
    await page.context().close();
  }, 60_000);

  test("mlstream join gets frames over a relay pair (the server's hello carries the TURN servers and the policy)", async () => {
    const before = turn.allocations();
    const result = await runCli(["join", STREAMER, "--server", serve.url, "--duration", "2", "--json"], { timeoutMs: 40_000 });
    expect(result.code).toBe(0);
    const stats = JSON.parse(result.stdout) as { frames: number; candidate_pair: string | null };
    console.log(`TURN (join): ${stats.frames} frames, pair ${stats.candidate_pair}`);
    expect(stats.frames).toBeGreaterThan(30);
    // join took the hello's TURN server: it allocated a relay (and the streamer one for it).
    expect(turn.allocations()).toBeGreaterThan(before);
    // libdatachannel (libjuice) honours "relay" in what it advertises, but may name the selected
    // pair by its socket's base (host ⇄ prflx) rather than "relay": the pair is printed, not asserted.
    expect(stats.candidate_pair).toMatch(/^127\.0\.0\.1:\d+ \((host|relay)\) ⇄ 127\.0\.0\.1:\d+ \((relay|prflx)\)$/);
  }, 60_000);
});
