/**
 * Host management on the local data dir (no server needed):
 *   mlstream hosts add <address[:port]> | hosts ls | hosts rm <host>
 *   mlstream pair <host> [--pin NNNN] [--identity ID] | mlstream unpair <host>
 *   mlstream apps <host> [--json]
 */
import { dirname } from "node:path";
import { formatHostAddress } from "../../moonlight/http/host-address.ts";
import type { PairingPhase } from "../../moonlight/http/pairing.ts";
import { UsageError } from "../../core/errors.ts";
import { describeHost, HostService } from "../../hosts/host-service.ts";
import { dispatch, type Register } from "../command.ts";
import type { CliContext } from "../context.ts";
import { invocation } from "../invocation.ts";
import { printJson, printTable } from "../output.ts";
import { Progress } from "../progress.ts";

const PHASE_TEXT: Record<PairingPhase, string> = {
  getservercert: "waiting for the PIN to be entered on the host",
  clientchallenge: "exchanging challenges",
  serverchallengeresp: "verifying the host",
  clientpairingsecret: "sending our secret",
  pairchallenge: "confirming over HTTPS",
};

function hosts(ctx: CliContext): HostService {
  return new HostService(ctx.store);
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === "") throw new UsageError(`missing ${what}`);
  return value;
}

export const registerHosts: Register = (cli, bind) => {
  cli
    .command("hosts <action> [host]", "Manage hosts: 'hosts add <address[:port]>', 'hosts ls', 'hosts rm <host>'")
    .example("mlstream hosts add 192.168.1.20")
    .action(
      bind(async (ctx, action: string, ref: string | undefined) =>
        dispatch("hosts", action, {
          add: async () => {
            const { host, serverInfo } = await hosts(ctx).add(need(ref, "host address"));
            if (ctx.json) printJson({ id: host.id, name: host.name, address: host.address, http_port: host.httpPort, app_version: serverInfo.appVersion.text });
            else process.stdout.write(`added ${describeHost(host)} as '${host.id}' (${serverInfo.gfe ? "GeForce Experience" : "GameStream"} ${serverInfo.appVersion.text}); next: mlstream pair ${host.id}\n`);
          },
          ls: async () => {
            const statuses = await hosts(ctx).statuses();
            if (ctx.json) {
              printJson(
                statuses.map((s) => ({
                  id: s.host.id,
                  name: s.host.name,
                  address: s.host.address,
                  http_port: s.host.httpPort,
                  paired: s.pairedIdentities.length > 0,
                  paired_identities: s.pairedIdentities,
                  online: s.online,
                  state: s.serverInfo ? (s.serverInfo.busy ? "busy" : "free") : "offline",
                  current_app: s.serverInfo?.busy ? s.serverInfo.currentGame : null,
                  ...(s.error ? { error: s.error } : {}),
                })),
              );
              return;
            }
            printTable(
              ["id", "name", "address", "paired", "state"],
              statuses.map((s) => [
                s.host.id,
                s.host.name,
                formatHostAddress({ host: s.host.address, port: s.host.httpPort }),
                s.pairedIdentities.length > 0 ? "yes" : "no",
                s.serverInfo ? (s.serverInfo.busy ? `busy (app ${s.serverInfo.currentGame})` : "free") : "offline",
              ]),
              // `hosts` reads this machine's store, not a server: say which, so that a demo's host
              // (kept in the demo's own throwaway store) is not expected here.
              `no hosts in the local store (${dirname(ctx.store.path)}): ${invocation()} hosts add <address[:port]>\n` +
                `(a serve with another --data-dir, and serve --demo, keep their own store: see their web UI, or '${invocation()} ls' for their streamers)`,
            );
          },
          rm: () => {
            const host = hosts(ctx).remove(need(ref, "host"));
            if (ctx.json) printJson({ removed: host.id });
            else process.stdout.write(`removed ${describeHost(host)}\n`);
          },
        }),
      ),
    );

  cli
    .command("pair <host>", "Pair with a host: shows the PIN to type on the host")
    .option("--pin <pin>", "Use this 4-digit PIN instead of a random one")
    .option("--identity <id>", "Client identity to pair (default: the shared one)")
    .action(
      bind(async (ctx, ref: string, options: { pin?: string | number; identity?: string }) => {
        const pin = options.pin === undefined ? undefined : String(options.pin).padStart(4, "0");
        if (pin !== undefined && !/^\d{4}$/.test(pin)) throw new UsageError("--pin must be four digits");
        const service = hosts(ctx);
        const host = service.get(ref);
        const progress = new Progress({ quiet: ctx.json });
        const abort = new AbortController();
        const onSignal = () => abort.abort();
        process.once("SIGINT", onSignal);
        try {
          const result = await service.pair(ref, {
            ...(pin !== undefined ? { pin } : {}),
            ...(options.identity !== undefined ? { identityId: options.identity } : {}),
            signal: abort.signal,
            onPin: (shown) => {
              if (ctx.json) process.stdout.write(`${JSON.stringify({ pin: shown })}\n`);
              else progress.note(`PIN ${shown} — enter it on ${describeHost(host)}`);
            },
            onProgress: (phase) => progress.update(PHASE_TEXT[phase]),
          });
          progress.done(`paired with ${describeHost(result.host)}`);
          if (ctx.json) process.stdout.write(`${JSON.stringify({ paired: result.host.id, name: result.host.name })}\n`);
        } catch (err) {
          progress.stop();
          throw err;
        } finally {
          process.off("SIGINT", onSignal);
        }
      }),
    );

  cli
    .command("unpair <host>", "Forget the pairing with a host")
    .option("--identity <id>", "Client identity (default: the shared one)")
    .action(
      bind(async (ctx, ref: string, options: { identity?: string }) => {
        const { host, hostForgot, wasPaired } = await hosts(ctx).unpair(ref, options.identity);
        if (ctx.json) printJson({ host: host.id, was_paired: wasPaired, host_forgot: hostForgot });
        else {
          process.stdout.write(`${wasPaired ? "unpaired" : "was not paired with"} ${describeHost(host)}\n`);
          if (wasPaired && !hostForgot) process.stderr.write("the host keeps our certificate until you remove this client in its own UI\n");
        }
      }),
    );

  cli
    .command("apps <host>", "List the apps a paired host offers")
    .option("--identity <id>", "Client identity (default: the shared one)")
    .action(
      bind(async (ctx, ref: string, options: { identity?: string }) => {
        const apps = await hosts(ctx).apps(ref, options.identity);
        if (ctx.json) printJson(apps.map((app) => ({ id: app.id, title: app.title })));
        else printTable(["id", "title", "hdr"], apps.map((app) => [app.id, app.title, app.hdrSupported ? "yes" : "no"]), "the host lists no apps");
      }),
    );
};
