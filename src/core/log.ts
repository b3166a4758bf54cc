/**
 * The one logger. Every level goes to stderr so that stdout carries only a command's output
 * (tables, `--json` objects). Never log keys, tokens or PINs.
 */
import { createConsola, type ConsolaInstance, type LogType } from "consola";

export const LOG_LEVELS = ["silent", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

const NUMERIC_LEVEL: Record<LogLevelName, number> = {
  silent: -999,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
  trace: 5,
};

export const log: ConsolaInstance = createConsola({
  level: NUMERIC_LEVEL.info,
  stdout: process.stderr,
  stderr: process.stderr,
});

/** Tagged loggers made so far: consola copies the level into a child when it is made. */
const children = new Map<string, ConsolaInstance>();

/** Sets the level of the root logger and of every tagged logger, made before or after. */
export function setLogLevel(level: LogLevelName): void {
  log.level = NUMERIC_LEVEL[level];
  for (const child of children.values()) child.level = log.level;
}

/** A child logger tagged with the component name, e.g. `logger("rtsp")`. */
export function logger(tag: string): ConsolaInstance {
  let child = children.get(tag);
  if (!child) {
    child = log.withTag(tag);
    children.set(tag, child);
  }
  return child;
}

export type { LogType };
