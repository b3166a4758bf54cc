/**
 * Operator commands against a running server (`--server URL`, default client.server):
 *   mlstream start --app <name|id> [--host H] [--width --height --fps --bitrate --codec] [--id ID]
 *   mlstream stop <id> [--quit]
 *   mlstream ls
 *   mlstream peers ls [id] | mlstream peers kick <id> <peer>
 * Listings take --json. A server that cannot be reached, a refused token or an unknown streamer
 * exits 1 with one line; a usage error exits 2.
 */
import { UsageError } from "../../core/errors.ts";
import { ApiClient, ApiError, clientToken, type StreamerView, type ViewerInfo } from "../api-client.ts";
import { dispatch, type Register } from "../command.ts";
import type { CliContext } from "../context.ts";
import { printJson, printTable } from "../output.ts";
import { invocation } from "../invocation.ts";
import { Progress } from "../progress.ts";

/** The client for the server named by `--server`, client.server or the default. */
export function apiClient(ctx: CliContext, server?: string | number): ApiClient {
  if (server !== undefined) ctx.commandFlags["client.server"] = String(server);
  const { config } = ctx;
  const token = clientToken(config);
  return new ApiClient({ server: config.client.server, ...(token ? { token } : {}) });
}

export const SERVER_OPTION = ["--server <url>", "Server URL (default client.server, http://127.0.0.1:8080)"] as const;

function positiveInt(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer`);
  return n;
}

function streamText(view: StreamerView): string {
  const s = view.stream;
  if (s) return `${s.width}x${s.height}@${s.fps} ${s.codec}`;
  const w = view.settings;
  return `${w.width}x${w.height}@${w.fps} ${(w.codecs ?? ["h264"]).join("/")}`;
}

function since(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Polls a streamer until it is live (resolves) or over (throws). */
async function waitLive(client: ApiClient, id: string, progress: Progress, timeoutMs: number): Promise<StreamerView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await client.streamer(id);
    if (view.status === "live") return view;
    if (view.status === "failed" || view.status === "stopped") {
      throw new ApiError("server", 0, `streamer_${view.status}`, `streamer '${id}' ${view.status}${view.detail ? `: ${view.detail}` : ""}`);
    }
    const detail = view.status === "starting" ? `launching ${view.app.title} on host ${view.host_id}` : `${view.status}${view.detail ? `: ${view.detail}` : ""}`;
    progress.update(`${id}: ${detail}`);
    if (Date.now() > deadline) {
      throw new ApiError("server", 0, "timeout", `streamer '${id}' is still ${view.status} after ${timeoutMs / 1000} s${view.detail ? ` (${view.detail})` : ""}; it keeps trying — 'mlstream ls' shows it, 'mlstream stop ${id}' ends it`);
    }
    await Bun.sleep(250);
  }
}

interface StartOptions {
  server?: string;
  app?: string | number;
  host?: string | number;
  width?: string | number;
  height?: string | number;
  fps?: string | number;
  bitrate?: string | number;
  codec?: string;
  hdr?: boolean;
  id?: string | number;
  timeout?: string | number;
  wait: boolean;
}

function viewerRow(streamer: string | undefined, v: ViewerInfo): (string | number | null)[] {
  const stats = v.stats as { framesSent?: number; rtt_ms?: number };
  // Why its picture is poor (streamer/viewer-link.ts), or just "good".
  const link = v.link ? (v.link.reason ? `${v.link.quality}: ${v.link.reason}` : v.link.quality) : null;
  const row = [v.id, v.role, v.transport, v.state, since(v.connected_at), stats.framesSent ?? null, stats.rtt_ms !== undefined && stats.rtt_ms >= 0 ? `${stats.rtt_ms} ms` : null, link];
  return streamer === undefined ? row : [streamer, ...row];
}

export const registerStreamers: Register = (cli, bind) => {
  cli
    .command("start", "Start a streamer on a running server (headless) and print its viewer URL")
    .option("--app <name|id>", "App to launch (title or id)")
    .option("--host <host>", "Host id, name or address (default: the server's only host)")
    .option("--width <px>", "Width (default 1280)")
    .option("--height <px>", "Height (default 720)")
    .option("--fps <n>", "Frame rate (default 60)")
    .option("--bitrate <kbps>", "Video bitrate in kbit/s (default 10000)")
    .option("--codec <codec>", "h264 | hevc | av1 (default h264)")
    .option("--hdr", "10-bit video (HEVC Main10 / AV1 Main10) where the host advertises it")
    .option("--id <id>", "Streamer id (default: a random one); starting the same id twice is idempotent")
    .option("--timeout <s>", "How long to wait for the stream to go live (default 60)")
    .option("--no-wait", "Return at once, without waiting for the stream to go live")
    .option(...SERVER_OPTION)
    .example("mlstream start --app Desktop")
    .action(
      bind(async (ctx, options: StartOptions) => {
        if (options.app === undefined || options.app === "" || (options.app as unknown) === true) throw new UsageError("start needs --app <name|id>");
        if (options.codec !== undefined && !["h264", "hevc", "av1"].includes(String(options.codec))) throw new UsageError("--codec must be h264, hevc or av1");
        const width = positiveInt(options.width, "--width");
        const height = positiveInt(options.height, "--height");
        const fps = positiveInt(options.fps, "--fps");
        const bitrate = positiveInt(options.bitrate, "--bitrate");
        const timeoutS = positiveInt(options.timeout, "--timeout") ?? 60;
        const client = apiClient(ctx, options.server);
        const progress = new Progress({ quiet: ctx.json });
        try {
          let host = options.host === undefined ? undefined : String(options.host);
          if (host === undefined) {
            progress.update(`asking ${client.server} for its hosts`);
            const hosts = await client.hosts();
            if (hosts.length === 0) throw new ApiError("not_found", 0, "no_hosts", `the server at ${client.server} has no hosts yet: add and pair one first (mlstream hosts add / pair, or the web UI)`);
            if (hosts.length > 1) throw new UsageError(`the server has ${hosts.length} hosts: pick one with --host (${hosts.map((h) => `${h.id} ${h.name}`).join(", ")})`);
            host = hosts[0]!.id;
          }
          progress.update(`starting ${options.app} on ${host}`);
          const created = await client.createStreamer({
            host,
            app: String(options.app),
            ...(options.id !== undefined ? { id: String(options.id) } : {}),
            ...(width ? { width } : {}),
            ...(height ? { height } : {}),
            ...(fps ? { fps } : {}),
            ...(bitrate ? { bitrate_kbps: bitrate } : {}),
            ...(options.codec ? { codec: options.codec as "h264" | "hevc" | "av1" } : {}),
            ...(options.hdr === true ? { hdr: true } : {}),
          });
          const view = options.wait === false ? created : await waitLive(client, created.id, progress, timeoutS * 1000);
          const viewerUrl = client.viewerUrl(view.id);
          progress.done(`streamer '${view.id}' is ${view.status}: ${view.app.title} on ${view.host_id}, ${streamText(view)}`);
          if (ctx.json) printJson({ ...view, viewer_url: viewerUrl });
          else process.stdout.write(`streamer  ${view.id}\nviewer    ${viewerUrl}\njoin      ${invocation()} join ${view.id}${client.server === "http://127.0.0.1:8080" ? "" : ` --server ${client.server}`}\n`);
        } catch (error) {
          progress.stop();
          throw error;
        }
      }),
    );

  cli
    .command("stop <id>", "Stop a streamer on a running server")
    .option("--quit", "Also quit the app on the host (ends the host session)")
    .option(...SERVER_OPTION)
    .action(
      bind(async (ctx, id: string, options: { quit?: boolean; server?: string }) => {
        const client = apiClient(ctx, options.server);
        await client.stopStreamer(String(id), { quit: options.quit === true });
        if (ctx.json) printJson({ stopped: String(id), quit: options.quit === true });
        else process.stdout.write(`stopped ${id}${options.quit ? " (and quit the app on the host)" : ""}\n`);
      }),
    );

  cli
    .command("ls", "List the streamers of a running server")
    .option(...SERVER_OPTION)
    .action(
      bind(async (ctx, options: { server?: string }) => {
        const client = apiClient(ctx, options.server);
        const streamers = await client.streamers();
        if (ctx.json) return printJson(streamers.map((s) => ({ ...s, viewer_url: client.viewerUrl(s.id) })));
        printTable(
          ["id", "status", "app", "host", "stream", "viewers", "up", "viewer url"],
          streamers.map((s) => [s.id, s.detail && s.status !== "live" ? `${s.status} (${s.detail})` : s.status, s.app.title, s.host_id, streamText(s), s.viewers.length, since(s.created_at), client.viewerUrl(s.id)]),
          "no streamers: mlstream start --app <name|id>",
        );
      }),
    );

  cli
    .command("peers <action> [id] [peer]", "Viewers of streamers: 'peers ls [id]', 'peers kick <id> <peer>'")
    .option(...SERVER_OPTION)
    .action(
      bind(async (ctx, action: string, id: string | undefined, peer: string | undefined, options: { server?: string }) =>
        dispatch("peers", action, {
          ls: async () => {
            const client = apiClient(ctx, options.server);
            if (id !== undefined) {
              const viewers = await client.peers(String(id));
              if (ctx.json) return printJson(viewers);
              return printTable(["peer", "role", "transport", "state", "connected", "frames sent", "rtt", "link"], viewers.map((v) => viewerRow(undefined, v)), `no viewers on ${id}`);
            }
            const streamers = await client.streamers();
            if (ctx.json) return printJson(streamers.flatMap((s) => s.viewers.map((v) => ({ streamer: s.id, ...v }))));
            printTable(
              ["streamer", "peer", "role", "transport", "state", "connected", "frames sent", "rtt", "link"],
              streamers.flatMap((s) => s.viewers.map((v) => viewerRow(s.id, v))),
              "no viewers",
            );
          },
          kick: async () => {
            if (id === undefined || peer === undefined) throw new UsageError("usage: mlstream peers kick <streamer-id> <peer-id>");
            const client = apiClient(ctx, options.server);
            await client.kick(String(id), String(peer));
            if (ctx.json) printJson({ kicked: String(peer), streamer: String(id) });
            else process.stdout.write(`kicked ${peer} from ${id}\n`);
          },
        }),
      ),
    );
};
