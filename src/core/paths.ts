/** Default locations, following the XDG base-directory conventions. */
import { homedir } from "node:os";
import { join } from "node:path";

type Env = Record<string, string | undefined>;

function xdg(env: Env, envName: string, fallback: string[]): string {
  const value = env[envName];
  // XDG says relative paths in these variables are invalid and must be ignored.
  if (value && value.startsWith("/")) return value;
  return join(homedir(), ...fallback);
}

/** `$XDG_DATA_HOME/mlstream`, else `~/.local/share/mlstream`: the store and key material. */
export function defaultDataDir(env: Env = process.env): string {
  return join(xdg(env, "XDG_DATA_HOME", [".local", "share"]), "mlstream");
}

/** `$XDG_CONFIG_HOME/mlstream/config.toml`, else `~/.config/mlstream/config.toml`. */
export function defaultConfigFile(env: Env = process.env): string {
  return join(xdg(env, "XDG_CONFIG_HOME", [".config"]), "mlstream", "config.toml");
}
