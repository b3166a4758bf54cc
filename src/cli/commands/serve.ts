/**
 * `mlstream serve`: the control plane (REST + WebSocket API and web UI) for orchestrators and
 * viewers. Refuses a non-loopback address without an admin token: the API controls input on the
 * host's desktop.
 */
import { isLoopbackHost } from "../../core/config.ts";
import { ConfigError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { createApp } from "../../server/app.ts";
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
        ctx.store; // open (and migrate) the store before accepting requests
        const app = createApp({ config, version: VERSION });
        const server = Bun.serve({ hostname: config.server.host, port: config.server.port, fetch: app.fetch });
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
        await server.stop(true);
      }),
    );
};
