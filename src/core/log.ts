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

export function setLogLevel(level: LogLevelName): void {
  log.level = NUMERIC_LEVEL[level];
}

/** A child logger tagged with the component name, e.g. `logger("rtsp")`. */
export function logger(tag: string): ConsolaInstance {
  return log.withTag(tag);
}

export type { LogType };
