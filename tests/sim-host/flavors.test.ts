/**
 * Our client against both flavours of the simulated host (`sim-host --flavor sunshine|wolf`), for
 * each codec: what each real host does differently (docs/hosts.md) shows up on the wire, and the
 * client still gets every frame, decodable by ffmpeg without a single error.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClientIdentity } from "../../src/moonlight/http/identity.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { SCM } from "../../src/moonlight/http/serverinfo.ts";
import { MoonlightSession } from "../../src/moonlight/session.ts";
import type { VideoCodec } from "../../src/moonlight/video/nal.ts";
import type { VideoFrame } from "../../src/moonlight/video/video-depacketizer.ts";
import { SimHost, type SimHostFlavor } from "../../src/sim-host/sim-host.ts";

const hosts: SimHost[] = [];
afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
});

async function pairedClient(flavor: SimHostFlavor): Promise<{ host: SimHost; client: NvHttpClient; appId: number }> {
  const host = new SimHost({ flavor, pin: "1357" });
  hosts.push(host);
  const { httpPort } = await host.start();
  const client = new NvHttpClient({ address: "127.0.0.1", httpPort, identity: createClientIdentity() });
  await client.pair({ pin: "1357" });
  return { host, client, appId: (await client.appList())[0]!.id };
}

const until = async (what: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(10);
  }
};

const DEMUXER: Record<VideoCodec, string> = { h264: "h264", hevc: "hevc", av1: "obu" };

/** ffmpeg's complaints decoding the received access units (empty = none), and the decoded pixel format. */
function decodeErrors(codec: VideoCodec, frames: VideoFrame[]): { errors: string; pixelFormat: string } {
  const dir = mkdtempSync(join(tmpdir(), "mlstream-flavor-"));
  try {
    const file = join(dir, "out.bin");
    writeFileSync(file, Buffer.concat(frames.map((f) => f.data)));
    const run = Bun.spawnSync(["ffmpeg", "-v", "error", "-f", DEMUXER[codec], "-i", file, "-f", "null", "-"], { stderr: "pipe" });
    const probe = Bun.spawnSync(["ffprobe", "-v", "error", "-f", DEMUXER[codec], "-select_streams", "v", "-show_entries", "stream=pix_fmt", "-of", "csv=p=0", file], { stdout: "pipe" });
    return {
      errors: run.exitCode === 0 ? run.stderr.toString() : `exit ${run.exitCode}: ${run.stderr.toString()}`,
      pixelFormat: probe.stdout.toString().trim(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: string[] = [];
afterAll(() => {
  if (results.length) console.error(`flavour | codec | frames received | decode errors\n${results.join("\n")}`);
});

for (const flavor of ["sunshine", "wolf"] as const) {
  describe(`sim-host --flavor ${flavor}`, () => {
    test(`serverinfo advertises H.264, HEVC, AV1${flavor === "sunshine" ? ", their Main10" : " (no 10-bit)"}; RTSP is ${flavor === "sunshine" ? "encrypted (rtspenc://)" : "plain"}`, async () => {
      const { client, host } = await pairedClient(flavor);
      const info = await client.serverInfo({ https: true });
      expect(info.codecModeSupport & SCM.H264).toBe(SCM.H264);
      expect(info.codecModeSupport & SCM.HEVC).toBe(SCM.HEVC);
      // Wolf never advertises a 10-bit format (moonlight.cpp serverinfo).
      expect(info.codecModeSupport & SCM.HEVC_MAIN10).toBe(flavor === "sunshine" ? SCM.HEVC_MAIN10 : 0);
      expect(info.codecModeSupport & SCM.AV1_MAIN8).toBe(SCM.AV1_MAIN8);
      expect(info.codecModeSupport & SCM.AV1_MAIN10).toBe(flavor === "sunshine" ? SCM.AV1_MAIN10 : 0);
      expect(info.appVersion.text).toBe("7.1.431.-1");
      await host.close();
    });

    const variants = [
      { name: "h264", codec: "h264", tenBit: false, pixelFormat: "yuv420p" },
      { name: "hevc", codec: "hevc", tenBit: false, pixelFormat: "yuv420p" },
      { name: "hevc main10", codec: "hevc", tenBit: true, pixelFormat: "yuv420p10le" },
      { name: "av1", codec: "av1", tenBit: false, pixelFormat: "yuv420p" },
      { name: "av1 main10", codec: "av1", tenBit: true, pixelFormat: "yuv420p10le" },
    ] as const;
    for (const { name, codec, tenBit: asked, pixelFormat: tenBitFormat } of variants) {
      // HDR asked of a host without Main10 (Wolf): the client offers 8-bit HEVC only, as it must.
      const tenBit = asked && flavor === "sunshine";
      const pixelFormat = tenBit || !asked ? tenBitFormat : "yuv420p";
      test(`${name}${asked && !tenBit ? " asked of a host without Main10 (8-bit sent)" : ""}: every frame arrives and decodes; the host's own traits are on the wire`, async () => {
        const { host, client, appId } = await pairedClient(flavor);
        const session = new MoonlightSession({ client, appId, settings: { width: 1280, height: 720, fps: 60, bitrateKbps: 5000, codecs: [codec], hdr: asked } });
        const frames: VideoFrame[] = [];
        const hdr: boolean[] = [];
        session.on("video", (f) => frames.push(f));
        session.on("hdr", (e) => hdr.push(e.enabled));
        const info = await session.start();
        expect(info.codec).toBe(codec);
        await until(() => frames.length >= 120);
        const stream = host.media!.stream!;
        // Sunshine numbers frames from 1, Wolf from 0; both start on an IDR and then send none unasked.
        expect(frames[0]!.frameNumber).toBe(flavor === "sunshine" ? 1 : 0);
        expect(frames[0]!.isIdr).toBe(true);
        expect(frames.slice(1, 120).filter((f) => f.isIdr)).toHaveLength(0);
        for (let i = 1; i < frames.length; i++) expect(frames[i]!.frameNumber).toBe(frames[i - 1]!.frameNumber + 1);
        if (flavor === "sunshine") {
          expect(host.state.session?.sessionUrl ?? "").toStartWith("rtspenc://");
          expect(stream.config.videoEncrypted).toBe(true);
          expect(stream.config.controlIvScheme).toBe("v2");
          expect(hdr).toEqual([false]);
        } else {
          expect(stream.config.videoEncrypted).toBe(false);
          expect(stream.config.controlIvScheme).toBe("legacy");
          expect(hdr).toEqual([]);
        }
        expect(stream.config.codec).toBe(codec);
        expect(stream.config.tenBit).toBe(tenBit);
        const { errors, pixelFormat: decoded } = decodeErrors(codec, frames);
        results.push(`${flavor} | ${name}${asked && !tenBit ? " asked → 8-bit (host has no Main10)" : ""} | ${frames.length} | ${errors === "" ? 0 : errors.split("\n").filter(Boolean).length}`);
        expect(errors).toBe("");
        expect(decoded).toBe(pixelFormat);
        const counters = session.snapshot();
        expect(counters.framesLost).toBe(0);
        expect(counters.malformedDatagrams).toBe(0);
        expect(host.media!.stats.control.decryptFailures).toBe(0);
        await session.stop({ quitApp: true });
        await host.close();
      });
    }
  });
}
