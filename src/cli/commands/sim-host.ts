/**
 * `mlstream sim-host --port N --pin NNNN [--json]`: runs the simulated GameStream host in the
 * foreground on loopback. HTTP on N; HTTPS on N−5 (the real hosts' layout, 47989 → 47984) unless
 * given; the rest is advertised the way real hosts do.
 */
import { UsageError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { SimHost, type SimHostFlavor } from "../../sim-host/sim-host.ts";
import type { Register } from "../command.ts";

const log = logger("sim-host");

function port(value: string | number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${name} must be a port number 0–65535`);
  return n;
}

export const registerSimHost: Register = (cli, bind) => {
  cli
    .command("sim-host", "Run a simulated GameStream host on loopback (for demos and tests)")
    .option("--port <port>", "HTTP port (default 47989; 0 = any free port)")
    .option("--https-port <port>", "HTTPS port (default: HTTP port − 5, or any free port when --port is 0)")
    .option("--pin <pin>", "Accept this PIN at once; without it, pairing waits for a POST /pin/ like Wolf")
    .option("--hostname <name>", "Host name to advertise", { default: "mlstream-sim" })
    .option("--address <ip>", "127.0.0.1 (default) or ::1")
    .option("--flavor <host>", "Behave like 'sunshine' (encrypted RTSP/video, H.264+HEVC, keyframes on request) or 'wolf'; docs/hosts.md")
    .action(
      bind(async (ctx, options: { port?: string | number; httpsPort?: string | number; pin?: string | number; hostname: string; address?: string; flavor?: string }) => {
        const httpPort = port(options.port, "--port", 47989);
        const httpsPort = port(options.httpsPort, "--https-port", httpPort === 0 ? 0 : httpPort - 5);
        const pin = options.pin === undefined ? undefined : String(options.pin).padStart(4, "0");
        if (pin !== undefined && !/^\d{4}$/.test(pin)) throw new UsageError("--pin must be four digits");
        const address = options.address ?? "127.0.0.1";
        if (address !== "127.0.0.1" && address !== "::1") throw new UsageError("--address must be 127.0.0.1 or ::1 (the sim host never listens off this machine)");
        const flavor = options.flavor;
        if (flavor !== undefined && flavor !== "sunshine" && flavor !== "wolf") throw new UsageError("--flavor must be 'sunshine' or 'wolf'");
        const host = new SimHost({ ...(flavor ? { flavor: flavor as SimHostFlavor } : {}), httpPort, httpsPort, hostname: options.hostname, bindAddress: address, ...(pin !== undefined ? { pin } : {}) });
        const ports = await host.start();
        host.on("pinRequested", ({ deviceName }) => log.info(`pairing request from '${deviceName}': POST {"pin":"NNNN"} to http://${address}:${ports.httpPort}/pin/`));
        host.on("paired", () => log.info("a client paired"));
        host.on("launch", (session) => log.info(`launch: app ${session.appId} at ${session.width}x${session.height}@${session.fps}`));
        host.on("cancel", () => log.info("session cancelled"));
        const media = host.media?.ports;
        const summary = {
          address,
          http_port: ports.httpPort,
          https_port: ports.httpsPort,
          rtsp_port: host.state.rtspPort,
          ...(media ? { video_port: media.video, audio_port: media.audio, control_port: media.control } : {}),
          hostname: host.hostname,
          ...(flavor ? { flavor } : {}),
          uniqueid: host.uniqueId,
        };
        if (ctx.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else {
          log.info(`sim host '${host.hostname}' on http://${address}:${ports.httpPort}${pin ? `, PIN ${pin}` : ""}`);
          log.info(`ports: https ${ports.httpsPort}, rtsp ${host.state.rtspPort}${media ? `, video ${media.video}, audio ${media.audio}, control ${media.control}` : ""}`);
        }
        await new Promise<void>((resolve) => {
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        await host.close();
      }),
    );
};
