/**
 * `mlstream doctor [--json]`: checks that this machine can run mlstream — the WebRTC addon loads
 * and two local peers exchange a data-channel message, UDP sockets bind with a large receive
 * buffer, the data and temp dirs are writable — and finds the optional tools.
 */
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../../core/store.ts";
import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.ts";
import type { Register } from "../command.ts";
import type { CliContext } from "../context.ts";
import { printJson, printTable } from "../output.ts";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** An optional check never makes the whole report fail. */
  optional?: boolean;
}

/** The receive buffer the media path asks for (see runtime-notes: 8 MB keeps 1080p60 bursts). */
const MEDIA_RECV_BUFFER = 8 * 1024 * 1024;

async function checkWebRtc(): Promise<Check[]> {
  let selfTest: typeof import("../../peer/self-test.ts");
  let ndc: typeof import("node-datachannel").default;
  try {
    selfTest = await import("../../peer/self-test.ts");
    ndc = (await import("node-datachannel")).default;
  } catch (err) {
    const detail = `${(err as Error).message}${String(err).includes("TMPDIR") || String(err).includes("EACCES") ? " (the binary extracts the addon to $TMPDIR: it must be writable)" : ""}`;
    return [
      { name: "webrtc-addon", ok: false, detail },
      { name: "webrtc-datachannel", ok: false, detail: "skipped: addon did not load" },
    ];
  }
  const checks: Check[] = [{ name: "webrtc-addon", ok: true, detail: `libdatachannel ${ndc.getLibraryVersion()}` }];
  try {
    const result = await selfTest.runDataChannelSelfTest();
    checks.push({ name: "webrtc-datachannel", ok: true, detail: `echo in ${result.roundTripMs.toFixed(0)} ms over ${result.candidate}` });
  } catch (err) {
    checks.push({ name: "webrtc-datachannel", ok: false, detail: (err as Error).message });
  } finally {
    // Stops libdatachannel's threads so that a one-shot command can exit.
    ndc.cleanup();
  }
  return checks;
}

async function checkUdp(): Promise<Check> {
  const socket = createSocket({ type: "udp4", recvBufferSize: MEDIA_RECV_BUFFER });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => resolve());
    });
    const { port } = socket.address();
    const received = new Promise<void>((resolve) => socket.once("message", () => resolve()));
    socket.send("doctor", port, "127.0.0.1");
    await Promise.race([received, Bun.sleep(2000).then(() => Promise.reject(new Error("datagram to self not received in 2 s")))]);
    const buffer = socket.getRecvBufferSize();
    const small = buffer < MEDIA_RECV_BUFFER;
    return {
      name: "udp",
      ok: true,
      detail: `bound 127.0.0.1:${port}, receive buffer ${(buffer / 1048576).toFixed(1)} MiB${small ? " (below 8 MiB: raise net.core.rmem_max for high bitrates)" : ""}`,
    };
  } catch (err) {
    return { name: "udp", ok: false, detail: (err as Error).message };
  } finally {
    socket.close();
  }
}

function checkDataDir(ctx: CliContext): Check {
  const dir = ctx.config.data_dir;
  try {
    const probe = join(dir, `.doctor-${process.pid}`);
    const store = Store.open(dir);
    const version = store.schemaVersion;
    store.close();
    writeFileSync(probe, "ok");
    rmSync(probe);
    return { name: "data-dir", ok: true, detail: `${dir} writable, store schema v${version}` };
  } catch (err) {
    return { name: "data-dir", ok: false, detail: `${dir}: ${(err as Error).message}` };
  }
}

function checkTempDir(): Check {
  try {
    const dir = mkdtempSync(join(tmpdir(), "mlstream-doctor-"));
    rmSync(dir, { recursive: true });
    return { name: "temp-dir", ok: true, detail: `${tmpdir()} writable` };
  } catch (err) {
    return { name: "temp-dir", ok: false, detail: `${tmpdir()}: ${(err as Error).message} (set TMPDIR to a writable dir)` };
  }
}

function checkTool(name: string, candidates: string[], versionArg: string, purpose: string): Check {
  for (const candidate of candidates) {
    const path = Bun.which(candidate);
    if (!path) continue;
    const run = Bun.spawnSync([path, versionArg], { stdout: "pipe", stderr: "ignore", timeout: 10_000 });
    const firstLine = run.stdout.toString().split("\n")[0]?.trim() || "version unknown";
    return { name, ok: true, optional: true, detail: `${path}: ${firstLine}` };
  }
  return { name, ok: false, optional: true, detail: `not found (optional: ${purpose})` };
}

export async function runChecks(ctx: CliContext): Promise<Check[]> {
  return [
    ...(await checkWebRtc()),
    await checkUdp(),
    checkDataDir(ctx),
    checkTempDir(),
    checkTool("ffmpeg", ["ffmpeg"], "-version", "live test pattern in the sim host, decoding checks"),
    checkTool("chromium", ["chromium", "chromium-browser", "google-chrome"], "--version", "browser tests"),
  ];
}

export const registerDoctor: Register = (cli, bind) => {
  cli.command("doctor", "Check that this machine can run mlstream").action(
    bind(async (ctx) => {
      const checks = await runChecks(ctx);
      const ok = checks.every((c) => c.ok || c.optional);
      if (ctx.json) printJson({ ok, checks });
      else {
        printTable(
          ["check", "result", "detail"],
          checks.map((c) => [c.name, c.ok ? "ok" : c.optional ? "missing" : "FAIL", c.detail]),
        );
        process.stdout.write(ok ? "\nAll required checks passed.\n" : "\nSome required checks failed.\n");
      }
      return ok ? EXIT_OK : EXIT_FAILURE;
    }),
  );
};
