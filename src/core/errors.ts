/**
 * Errors every layer may raise. `UsageError` means the user typed something wrong (exit code 2);
 * every other error is a failure (exit code 1).
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export class ConfigError extends Error {
  override name = "ConfigError";
}
