/**
 * What every command gets: the global flags, the effective configuration (loaded on first use so
 * that `--help` never fails on a bad config file) and the state store (opened on first use).
 */
import { loadConfig, type LoadedConfig } from "../core/config.ts";
import { setLogLevel } from "../core/log.ts";
import { Store } from "../core/store.ts";

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  logLevel?: string;
  json?: boolean;
}

export class CliContext {
  readonly options: GlobalOptions;
  /** Config keys set by the running command's own flags (e.g. `serve --port` → `server.port`). */
  readonly commandFlags: Record<string, unknown> = {};
  #loaded?: LoadedConfig;
  #store?: Store;

  constructor(options: GlobalOptions) {
    this.options = options;
  }

  get json(): boolean {
    return this.options.json === true;
  }

  get loaded(): LoadedConfig {
    if (!this.#loaded) {
      this.#loaded = loadConfig({
        ...(this.options.config !== undefined ? { configFile: this.options.config } : {}),
        flags: { data_dir: this.options.dataDir, "log.level": this.options.logLevel, ...this.commandFlags },
      });
      setLogLevel(this.#loaded.config.log.level);
    }
    return this.#loaded;
  }

  get config() {
    return this.loaded.config;
  }

  get store(): Store {
    this.#store ??= Store.open(this.config.data_dir);
    return this.#store;
  }

  close(): void {
    this.#store?.close();
  }
}
