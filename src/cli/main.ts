#!/usr/bin/env bun
/**
 * The `mlstream` command line. Exit codes: 0 success, 1 failure, 2 usage error.
 * stdout carries only command output (tables, JSON); logs and errors go to stderr.
 */
import { cac, type CAC } from "cac";
import { ConfigError, UsageError } from "../core/errors.ts";
import { log } from "../core/log.ts";
import type { Bind, Register } from "./command.ts";
import { registerConfig } from "./commands/config.ts";
import { registerDoctor } from "./commands/doctor.ts";
import { registerHosts } from "./commands/hosts.ts";
import { registerJoin } from "./commands/join.ts";
import { registerServe } from "./commands/serve.ts";
import { registerSimHost } from "./commands/sim-host.ts";
import { registerStreamerWorker } from "./commands/streamer-worker.ts";
import { registerStreamers } from "./commands/streamers.ts";
import { CliContext, type GlobalOptions } from "./context.ts";
import { VERSION } from "./version.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";


const COMMANDS: Register[] = [registerServe, registerStreamers, registerJoin, registerHosts, registerSimHost, registerDoctor, registerConfig, registerStreamerWorker];


function buildCli(bind: Bind): CAC {
  const cli = cac("mlstream");
  cli.usage(`<command> [options]   (mlstream ${VERSION})`);
  cli
    .option("--config <file>", "Config file (TOML or JSON); default $XDG_CONFIG_HOME/mlstream/config.toml")
    .option("--data-dir <dir>", "State directory; default $XDG_DATA_HOME/mlstream")
    .option("--log-level <level>", "silent | error | warn | info | debug | trace")
    .option("--json", "Machine-readable output on stdout")
    .option("-v, --version", "Print the version");
  for (const register of COMMANDS) register(cli, bind);
  // Commands whose name starts with "__" are internal (child-process modes): keep them out of help.
  // cac shows a `--no-x` flag's implied `x: true` as "(default: true)", which reads as if the flag
  // itself were on: drop it.
  cli.help((sections) =>
    sections.map((section) => ({
      ...section,
      body: section.body
        .split("\n")
        .filter((line) => !line.includes(" __"))
        .map((line) => (/^\s*--no-/.test(line) ? line.replace(/\s*\(default: true\)/, "") : line))
        .join("\n"),
    })),
  );
  return cli;
}

function shortHelp(cli: CAC): string {
  const names = cli.commands.filter((c) => c.name !== "" && !c.name.startsWith("__")).map((c) => c.name);
  return `Commands: ${names.join(", ")}\nRun 'mlstream --help' or 'mlstream <command> --help' for details.`;
}

/** Runs the CLI on `argv` (without the runtime and script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let ctx: CliContext | undefined;
  const bind: Bind =
    (action) =>
    async (...args) => {
      ctx = new CliContext(cli.options as GlobalOptions);
      return (await action(ctx, ...args)) ?? EXIT_OK;
    };
  const cli = buildCli(bind);
  let unknownCommand: string | undefined;
  cli.addEventListener("command:*", (event) => {
    unknownCommand = String((event as CustomEvent).detail);
  });
  try {
    cli.parse(["bun", "mlstream", ...argv], { run: false });
    if (unknownCommand !== undefined) throw new UsageError(`unknown command '${unknownCommand}'`);
    if (cli.options.help) return EXIT_OK;
    if (cli.options.version && !cli.matchedCommand) {
      process.stdout.write(`mlstream ${VERSION}\n`);
      return EXIT_OK;
    }
    if (!cli.matchedCommand) {
      cli.outputHelp();
      return EXIT_OK;
    }
    return (await cli.runMatchedCommand()) ?? EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError || (err as Error)?.name === "CACError") {
      process.stderr.write(`mlstream: ${(err as Error).message}\n${shortHelp(cli)}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`mlstream: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    // One line for people; the stack only when asked for (--log-level debug).
    process.stderr.write(`mlstream: ${err instanceof Error ? err.message : String(err)}\n`);
    log.debug(err);
    return EXIT_FAILURE;
  } finally {
    ctx?.close();
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
