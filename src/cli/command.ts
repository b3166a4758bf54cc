/**
 * How commands plug into the CLI. Each file in ./commands exports a `register(cli, bind)`; `bind`
 * wraps an action so it receives the CliContext and returns an exit code.
 *
 * cac has no multi-word commands (`peers ls` never matches a command named so), so a command with
 * actions is registered as `peers <action> [...args]` and dispatched with `dispatch`.
 */
import type { CAC } from "cac";
import { UsageError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";

export type ExitCode = number;
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<ExitCode | void> | ExitCode | void;
export type Bind = <A extends unknown[]>(action: Action<A>) => (...args: A) => Promise<ExitCode>;
export type Register = (cli: CAC, bind: Bind) => void;

/** Runs `actions[name]`, or fails with a usage error listing the known actions. */
export async function dispatch(
  command: string,
  name: string | undefined,
  actions: Record<string, () => Promise<ExitCode | void> | ExitCode | void>,
): Promise<ExitCode | void> {
  const known = Object.keys(actions);
  if (name === undefined) throw new UsageError(`'${command}' needs an action: ${known.join(", ")}`);
  const action = actions[name];
  if (!action) throw new UsageError(`unknown action '${command} ${name}' (known: ${known.join(", ")})`);
  return action();
}
