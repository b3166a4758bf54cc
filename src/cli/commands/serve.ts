/**
 * `mlstream serve`: the control plane (REST + WebSocket API and web UI) for orchestrators and
 * viewers. Refuses a non-loopback address without an admin token: the API controls input on the
 * host's desktop.
 *
 * `serve --demo` also starts a simulated host in this process, pairs it and starts a streamer on
 * it (see demo.ts), then prints the viewer URL on stdout. Its state lives in a throwaway data dir
 * unless --data-dir is given.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { findHelixDir, loadHelixSettings, withHelixConfig, type HelixSettings } from "../../compat/moonlight-web/helix-config.ts";
import { isLoopbackHost, type Config } from "../../core/config.ts";
import { DataDirLock, DataDirLockedError } from "../../core/data-dir-lock.ts";
import { ConfigError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { HostService } from "../../hosts/host-service.ts";
import { createApp } from "../../server/app.ts";
import { createMetrics } from "../../server/metrics.ts";
import { StreamerSupervisor } from "../../server/streamer-supervisor.ts";
import { loadTls } from "../../server/tls.ts";
import type { Register } from "../command.ts";
import { invocation } from "../invocation.ts";
import { Progress } from "../progress.ts";
import type { CliContext } from "../context.ts";
import { EXIT_ADDRESS_IN_USE, EXIT_DATA_DIR_LOCKED } from "../exit-codes.ts";
import { VERSION } from "../version.ts";
import { DEMO_STREAMER_ID, startDemo, type Demo } from "./demo.ts";

const log = logger("serve");
/** How long a streamer child may take to stop when `serve` does; what remains of the second goes to viewers' close frames. */
const SHUTDOWN_GRACE_MS = 600;

export class AddressInUseError extends Error {
  override name = "AddressInUseError";
  constructor(host: string, port: number) {
    super(`${urlHost(host)}:${port} is already in use (another mlstream serve?); stop it or pick another --port`);
  }
}

/** `::1` and `[::1]` → `[::1]`; names and IPv4 addresses unchanged. */
export function urlHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return bare.includes(":") ? `[${bare}]` : bare;
}

export const registerServe: Register = (cli, bind) => {
  cli
    .command("serve", "Run the server (API, web UI, streamers)")
    .option("--host <address>", "Listen address (default 127.0.0.1)")
    .option("--port <port>", "Listen port (default 8080; 0 = any free port)")
    .option("--base-path <path>", "Path prefix behind a reverse proxy, e.g. /mlstream")
    .option("--public-url <url>", "The URL people reach this server at (its host is answered, its origin trusted)")
    .option("--tls-cert <pem>", "Serve HTTPS with this certificate (chain) file (with --tls-key)")
    .option("--tls-key <pem>", "The certificate's private key file")
    .option("--compat <protocol>", "Also serve another sidecar's protocol: moonlight-web (Helix; docs/helix.md)")
    .option("--janus-url <url>", "Also publish every streamer into this Janus (its HTTP API, e.g. http://127.0.0.1:8088/janus)")
    .option("--janus-viewer-url <url>", "Viewers take their media from Janus at this URL (as their browsers reach it)")
    .option("--demo", "Also run a simulated host, paired, with a streamer on its test app; prints the viewer URL")
    .example("mlstream serve --demo")
    .action(
      bind(async (ctx, options: { host?: string; port?: string | number; basePath?: string; publicUrl?: string; tlsCert?: string; tlsKey?: string; janusUrl?: string; janusViewerUrl?: string; demo?: boolean; compat?: string }) => {
        Object.assign(ctx.commandFlags, {
          "server.host": options.host,
          "server.port": options.port,
          "server.base_path": options.basePath,
          "server.public_url": options.publicUrl,
          "compat.mode": options.compat,
          "server.tls_cert": options.tlsCert,
          "server.tls_key": options.tlsKey,
          "egress.janus_url": options.janusUrl,
          "egress.janus_viewer_url": options.janusViewerUrl,
        });
        // The demo's host and pairing are made afresh each time: keep them out of the real state.
        const demoDir = options.demo && ctx.options.dataDir === undefined ? mkdtempSync(join(tmpdir(), "mlstream-demo-")) : undefined;
        if (demoDir) ctx.commandFlags.data_dir = demoDir;
        try {
          return await serve(ctx, options.demo === true);
        } catch (error) {
          // Each with its own exit code, so that a supervisor can tell "already running" apart.
          const code = error instanceof AddressInUseError ? EXIT_ADDRESS_IN_USE : error instanceof DataDirLockedError ? EXIT_DATA_DIR_LOCKED : undefined;
          if (code === undefined) throw error;
          process.stderr.write(`mlstream: ${error instanceof Error ? error.message : String(error)}\n`);
          return code;
        } finally {
          if (demoDir) rmSync(demoDir, { recursive: true, force: true });
        }
      }),
    );
};

async function serve(ctx: CliContext, demoMode: boolean): Promise<void> {
  const compat = moonlightWebCompat(ctx.config);
  const config = compat?.config ?? ctx.config;
  if (!isLoopbackHost(config.server.host) && config.auth.admin_tokens.length === 0) {
    throw new ConfigError(
      `config: refusing to listen on ${config.server.host} without an admin token (set MLSTREAM_TOKEN or auth.admin_tokens)`,
    );
  }
  // Opening the store creates (and tightens) the data dir the lock lives in.
  const lock = DataDirLock.acquire(dirname(ctx.store.path));
  try {
    await serveLocked(ctx, config, demoMode, compat?.helix);
  } finally {
    lock.release();
  }
}

async function serveLocked(ctx: CliContext, config: Config, demoMode: boolean, helix?: HelixSettings): Promise<void> {
  const { store } = ctx;
  const hosts = new HostService(store);
  const supervisor = new StreamerSupervisor({
    store,
    hosts,
    logLevel: config.log.level,
    fallbackAfterMs: config.viewers.fallback_after_ms,
    wsMaxBufferedBytes: config.viewers.ws_max_buffered_kb * 1024,
    viewerKeyframeIntervalMs: config.streamer.viewer_keyframe_interval_ms,
    fanoutProcesses: config.streamer.fanout_processes,
    mediaReceive: config.streamer.media_receive,
    referenceFrameInvalidation: config.streamer.reference_frame_invalidation === "on",
    ...(config.egress.janus_url ? { janusUrl: config.egress.janus_url } : {}),
    ...(config.egress.janus_viewer_url ? { janusViewerUrl: config.egress.janus_viewer_url } : {}),
    ice: {
      iceServers: config.webrtc.ice_servers,
      ...(config.webrtc.port_range_begin ? { portRangeBegin: config.webrtc.port_range_begin } : {}),
      ...(config.webrtc.port_range_end ? { portRangeEnd: config.webrtc.port_range_end } : {}),
      ...(config.webrtc.public_ip ? { publicIp: config.webrtc.public_ip } : {}),
      ...(config.webrtc.ice_transport_policy === "relay" ? { transportPolicy: "relay" as const } : {}),
    },
  });
  const tls = loadTls(config.server.tls_cert, config.server.tls_key);
  const app = createApp({ config, version: VERSION, services: { hosts, supervisor, metrics: createMetrics(supervisor) }, ...(helix ? { compat: { store, helix } } : {}) });
  try {
    // Elysia turns reusePort on, with which a second serve on the same port starts and the kernel
    // splits connections between the two: a second bind must fail.
    app.listen({ hostname: config.server.host, port: config.server.port, reusePort: false, ...(tls ? { tls } : {}) });
  } catch (error) {
    if ((error as { code?: string }).code === "EADDRINUSE") throw new AddressInUseError(config.server.host, config.server.port);
    throw error;
  }
  const server = app.server!;
  supervisor.restore();
  const url = `${tls ? "https" : "http"}://${urlHost(server.hostname ?? config.server.host)}:${server.port}${config.server.base_path}/`;
  log.info(`listening on ${url}${config.server.public_url ? ` (public at ${config.server.public_url})` : ""}`);
  let stopping: string | undefined;
  let wake = () => {};
  const stop = (signal: string) => {
    stopping ??= signal;
    wake();
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  process.once("SIGINT", onInt);
  process.once("SIGTERM", onTerm);
  let demo: Demo | undefined;
  try {
    if (demoMode) {
      const progress = new Progress({ quiet: ctx.json });
      try {
        demo = await startDemo({ hosts, supervisor }, progress);
      } catch (error) {
        progress.stop();
        throw error;
      }
      const viewerUrl = `${url}view/${DEMO_STREAMER_ID}`;
      const s = demo.streamer.stream;
      progress.done(`demo: ${demo.streamer.app.title} from a simulated host${s ? ` (${s.width}x${s.height}@${s.fps} ${s.codec})` : ""} is live`);
      if (ctx.json) process.stdout.write(`${JSON.stringify({ url, port: server.port, viewer_url: viewerUrl, streamer: DEMO_STREAMER_ID })}\n`);
      else {
        process.stdout.write(`${viewerUrl}\n`);
        const server_ = url === "http://127.0.0.1:8080/" ? "" : ` --server ${url.replace(/\/$/, "")}`;
        process.stderr.write(`open ${viewerUrl} in a browser, or watch from a terminal: ${invocation()} join ${DEMO_STREAMER_ID}${server_}  (Ctrl-C stops the demo)\n`);
      }
    } else if (ctx.json) process.stdout.write(`${JSON.stringify({ url, port: server.port })}\n`);
    if (!stopping) await new Promise<void>((resolve) => (wake = resolve));
    log.info(`${stopping}: shutting down`);
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    // Within a second of the signal (a container runtime's stop timeout is not much longer): the
    // children are told to stop without quitting the app, so the host session stays resumable, and
    // one that is still lingering for the host's ACK after the grace is killed.
    await supervisor.shutdown({ graceMs: SHUTDOWN_GRACE_MS });
    await demo?.close();
    // The shutdown told every viewer why (an `end` message and close code 4004); let those close
    // frames reach them before the remaining connections are cut.
    await Bun.sleep(250);
    await app.stop(true);
  }
}

/** `--compat moonlight-web`, or Helix's config.json found where Helix mounts it: Helix's settings folded in. */
function moonlightWebCompat(config: Config): { config: Config; helix: HelixSettings } | undefined {
  const dir = findHelixDir(config.compat.helix_dir);
  if (config.compat.mode !== "moonlight-web" && dir === undefined) return undefined;
  const helix = loadHelixSettings(dir);
  log.info(`moonlight-web compatibility on${dir ? ` (Helix config from ${dir})` : ""}: ${helix.hosts.length} host(s), pairing PIN ${helix.pairingPin ? "set" : "not set"}`);
  return { config: withHelixConfig(config, helix), helix };
}
