/**
 * `mlstream serve`: the control plane (REST + WebSocket API and web UI) for orchestrators and
 * viewers. Refuses a non-loopback address without an admin token: the API controls input on the
 * host's desktop.
 */
import { isLoopbackHost } from "../../core/config.ts";
import { ConfigError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { HostService } from "../../hosts/host-service.ts";
import { createApp } from "../../server/app.ts";
import { createMetrics } from "../../server/metrics.ts";
import { StreamerSupervisor } from "../../server/streamer-supervisor.ts";
import type { Register } from "../command.ts";
import { VERSION } from "../version.ts";

const log = logger("serve");

export const registerServe: Register = (cli, bind) => {
  cli
    .command("serve", "Run the server (API, web UI, streamers)")
    .option("--host <address>", "Listen address (default 127.0.0.1)")
    .option("--port <port>", "Listen port (default 8080; 0 = any free port)")
    .option("--base-path <path>", "Path prefix behind a reverse proxy, e.g. /mlstream")
    .action(
      bind(async (ctx, options: { host?: string; port?: string | number; basePath?: string }) => {
        Object.assign(ctx.commandFlags, {
          "server.host": options.host,
          "server.port": options.port,
          "server.base_path": options.basePath,
        });
        const { config } = ctx;
        if (!isLoopbackHost(config.server.host) && config.auth.admin_tokens.length === 0) {
          throw new ConfigError(
            `config: refusing to listen on ${config.server.host} without an admin token (set MLSTREAM_TOKEN or auth.admin_tokens)`,
          );
        }
        const hosts = new HostService(ctx.store);
        const supervisor = new StreamerSupervisor({
          store: ctx.store,
          hosts,
          logLevel: config.log.level,
          ice: {
            iceServers: config.webrtc.ice_servers,
            ...(config.webrtc.port_range_begin ? { portRangeBegin: config.webrtc.port_range_begin } : {}),
            ...(config.webrtc.port_range_end ? { portRangeEnd: config.webrtc.port_range_end } : {}),
            ...(config.webrtc.public_ip ? { publicIp: config.webrtc.public_ip } : {}),
          },
        });
        const app = createApp({ config, version: VERSION, services: { hosts, supervisor, metrics: createMetrics(supervisor) } });
        app.listen({ hostname: config.server.host, port: config.server.port });
        const server = app.server!;
        supervisor.restore();
        const url = `http://${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${server.port}${config.server.base_path}/`;
        log.info(`listening on ${url}`);
        if (ctx.json) process.stdout.write(`${JSON.stringify({ url, port: server.port })}\n`);
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            log.info(`${signal}: shutting down`);
            resolve();
          };
          process.once("SIGINT", () => stop("SIGINT"));
          process.once("SIGTERM", () => stop("SIGTERM"));
        });
        await supervisor.shutdown();
        await app.stop(true);
      }),
    );
};
