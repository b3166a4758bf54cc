/**
 * One typed configuration, assembled from (lowest to highest precedence) defaults, a TOML or JSON
 * file, `MLSTREAM_*` environment variables and command-line flags, and validated once at start.
 *
 * Every key is declared once in SCHEMA; its environment name is derived from it
 * (`server.port` → `MLSTREAM_SERVER_PORT`). Unknown keys are errors wherever they come from —
 * a typo must not silently fall back to a default (a recurring complaint about Docker setups).
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "./errors.ts";
import { LOG_LEVELS, type LogLevelName } from "./log.ts";
import { defaultConfigFile, defaultDataDir } from "./paths.ts";

export type ConfigSource = "default" | "file" | "env" | "flag";

type Env = Record<string, string | undefined>;

interface Field<T> {
  readonly kind: string;
  readonly doc: string;
  readonly secret?: boolean;
  /** How `config print` shows the value when only part of it is secret. */
  readonly mask?: (value: T) => T;
  defaultValue(env: Env): T;
  /** Parses a raw value (a string from env/flags, or any TOML/JSON value); returns an error text. */
  parse(raw: unknown): { value: T } | { error: string };
}

function stringField(doc: string, fallback: (env: Env) => string, check?: (s: string) => string | undefined): Field<string> {
  return {
    kind: "string",
    doc,
    defaultValue: fallback,
    parse(raw) {
      if (typeof raw !== "string") return { error: "expected a string" };
      const problem = check?.(raw);
      return problem ? { error: problem } : { value: raw };
    },
  };
}

function intField(doc: string, fallback: number, min: number, max: number, kind = "integer"): Field<number> {
  return {
    kind,
    doc,
    defaultValue: () => fallback,
    parse(raw) {
      const n = typeof raw === "number" ? raw : typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) return { error: `expected ${kind === "port" ? "a port number" : "an integer"} ${min}–${max}` };
      return { value: n };
    },
  };
}

function enumField<const T extends string>(doc: string, values: readonly T[], fallback: T): Field<T> {
  return {
    kind: values.join("|"),
    doc,
    defaultValue: () => fallback,
    parse(raw) {
      if (typeof raw === "string" && (values as readonly string[]).includes(raw)) return { value: raw as T };
      return { error: `expected one of ${values.join(", ")}` };
    },
  };
}

function stringListField(doc: string, check?: (s: string) => string | undefined, mask?: (s: string) => string): Field<string[]> {
  return {
    kind: "list of strings",
    doc,
    ...(mask ? { mask: (values: string[]) => values.map(mask) } : {}),
    defaultValue: () => [],
    parse(raw) {
      const items = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) ? raw : undefined;
      if (!items || !items.every((item) => typeof item === "string")) return { error: "expected a list of strings (comma-separated in env/flags)" };
      const values = (items as string[]).map((s) => s.trim()).filter((s) => s.length > 0);
      for (const value of values) {
        const problem = check?.(value);
        if (problem) return { error: problem };
      }
      return { value: values };
    },
  };
}

function secretListField(doc: string): Field<string[]> {
  return {
    kind: "list of secrets",
    doc,
    secret: true,
    defaultValue: () => [],
    parse(raw) {
      const items = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) ? raw : undefined;
      if (!items || !items.every((item) => typeof item === "string")) return { error: "expected a list of strings (comma-separated in env/flags)" };
      const tokens = (items as string[]).map((s) => s.trim()).filter((s) => s.length > 0);
      if (tokens.some((s) => s.length < 16)) return { error: "tokens must be at least 16 characters" };
      return { value: tokens };
    },
  };
}

/** `turn:user:password@host` → `turn:user:********@host`. */
function maskCredentials(url: string): string {
  return url.replace(/^([a-z]+:[^:@/]*):[^@]*@/, "$1:********@");
}

function secretStringField(doc: string): Field<string> {
  return {
    kind: "secret",
    doc,
    secret: true,
    defaultValue: () => "",
    parse(raw) {
      if (typeof raw !== "string") return { error: "expected a string" };
      return { value: raw.trim() };
    },
  };
}

function serverUrlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return "expected a URL like http://127.0.0.1:8080";
  }
  return url.protocol === "http:" || url.protocol === "https:" ? undefined : "expected an http:// or https:// URL";
}

function basePathProblem(s: string): string | undefined {
  if (s === "") return undefined;
  if (!s.startsWith("/") || s.endsWith("/") || /[\s?#]/.test(s)) return "expected '' or a path like /mlstream (leading slash, no trailing slash)";
  return undefined;
}

function hostNameProblem(s: string): string | undefined {
  return /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/.test(s) ? undefined : `"${s}" is not a host name (no scheme, port or path: e.g. stream.example.com)`;
}

function originProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return `"${s}" is not an origin like https://app.example.com`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `"${s}" is not an http:// or https:// origin`;
  return url.origin === s.replace(/\/$/, "").toLowerCase() ? undefined : `"${s}" is not an origin (scheme://host[:port], no path)`;
}

/** The schema: nested like the config file. Keep README's configuration reference in step. */
export const SCHEMA = {
  data_dir: stringField("Directory for the state store and key material.", defaultDataDir, (s) =>
    s.length === 0 ? "expected a directory path" : undefined,
  ),
  log: {
    level: enumField("Log verbosity (logs go to stderr).", LOG_LEVELS, "info"),
  },
  server: {
    host: stringField("Address `serve` listens on. A non-loopback address requires an admin token.", () => "127.0.0.1", (s) =>
      s.length === 0 ? "expected an address" : undefined,
    ),
    port: intField("TCP port `serve` listens on (0 = any free port).", 8080, 0, 65535, "port"),
    base_path: stringField("Path prefix when served behind a reverse proxy, e.g. /mlstream.", () => "", basePathProblem),
    public_url: stringField("The URL people reach this server at (e.g. https://stream.example.com/mlstream): its host is answered and its origin trusted.", () => "", (s) =>
      s === "" ? undefined : serverUrlProblem(s),
    ),
    allowed_hosts: stringListField("More Host names to answer besides the listen address, localhost and public_url's host (DNS-rebinding guard).", hostNameProblem),
    allowed_origins: stringListField("More browser origins (scheme://host[:port]) allowed to change state and join streams besides this server's own.", originProblem),
    max_body_kb: intField("Largest API request body in KiB; bigger ones are refused with 413 before they are read.", 1024, 1, 65_536),
    tls_cert: stringField("PEM certificate (chain) file: with tls_key, `serve` speaks HTTPS itself (WebCodecs and audio need a secure origin).", () => ""),
    tls_key: stringField("PEM private key file of tls_cert.", () => ""),
  },
  streamer: {
    idle_timeout_s: intField("Stop a streamer this long after its last viewer leaves; 0 keeps it up.", 0, 0, 30 * 24 * 3600),
    viewer_keyframe_interval_ms: intField("A viewer that keeps losing its picture gets a new keyframe asked for at most this often (others are not made to pay for its link); a joining viewer, or one alone, is served at once.", 5000, 100, 60_000),
    fanout_processes: intField("WebRTC viewers of a streamer live in this many fan-out processes (each owns its viewers' connections; a frame crosses to each once), so that many viewers use more cores than one. 0 keeps them in the streamer's process, the best on a box with 2 cores (docs/fanout-floor.md).", 0, 0, 64),
    media_receive: enumField("Where a streamer receives the host's video and audio: thread (a receive thread drains the sockets in batches, decrypts and reassembles off the event loop; issue 22, docs/ingest-cost.md) or event-loop (one callback per datagram on the event loop, as before; also used where the thread cannot run).", ["thread", "event-loop"] as const, "thread"),
    reference_frame_invalidation: enumField("on: after a loss on the host's link, ask a host that can (Sunshine with a hardware encoder) to invalidate the lost frames instead of sending an IDR. Viewers' decoders then see a frame gap, which not every browser decoder hides: off by default.", ["off", "on"] as const, "off"),
  },
  viewers: {
    transport: enumField("How viewers get media: auto (WebRTC, falling back to WebSocket), webrtc, websocket.", ["auto", "webrtc", "websocket"] as const, "auto"),
    fallback_after_ms: intField("With transport auto: move a viewer to the WebSocket transport if WebRTC is not up after this long.", 5000, 500, 120_000),
    ws_max_buffered_kb: intField("A WebSocket viewer's send buffer bound; past it the viewer skips to the next keyframe.", 4096, 64, 262_144),
  },
  egress: {
    janus_url: stringField("A Janus (its HTTP API, e.g. http://127.0.0.1:8088/janus) every streamer also publishes into, for audiences one machine cannot serve (docs/scale.md).", () => "", (s) =>
      s === "" ? undefined : serverUrlProblem(s),
    ),
    janus_viewer_url: stringField("Janus's HTTP API as viewers' browsers reach it; set, viewers take their media from Janus and send input to us.", () => "", (s) =>
      s === "" ? undefined : serverUrlProblem(s),
    ),
  },
  webrtc: {
    ice_servers: stringListField("STUN/TURN servers: stun:host:port, turn:user:password@host:port[?transport=tcp].", (s) =>
      /^(stun|stuns|turn|turns):/.test(s) ? undefined : `"${maskCredentials(s)}" is not a stun:/turn: URL`,
      maskCredentials,
    ),
    ice_servers_command: stringField("Command printing a JSON list of ICE servers for each new viewer (fresh TURN credentials).", () => ""),
    ice_transport_policy: enumField("ICE candidates to use: all, or relay (TURN only: media always passes the TURN server; needs a turn: server).", ["all", "relay"] as const, "all"),
    port_range_begin: intField("First UDP port for WebRTC (0 = any).", 0, 0, 65535, "port"),
    port_range_end: intField("Last UDP port for WebRTC (0 = any).", 0, 0, 65535, "port"),
    public_ip: stringField("NAT 1:1: the public address to advertise beside the host candidates.", () => "", (s) =>
      s === "" || /^[0-9a-fA-F.:]+$/.test(s) ? undefined : "expected an IP address",
    ),
  },
  client: {
    server: stringField("The server the operator commands (`start`, `stop`, `ls`, `peers`) and `join` talk to.", () => "http://127.0.0.1:8080", serverUrlProblem),
    token: secretStringField("Token those commands present; default: MLSTREAM_TOKEN, else the first admin token."),
  },
  compat: {
    mode: enumField("Also serve another sidecar's protocol: moonlight-web = Helix's moonlight-web sidecar (docs/helix.md). Found Helix config also turns it on.", ["off", "moonlight-web"] as const, "off"),
    helix_dir: stringField("Directory holding Helix's moonlight-web config.json and data.json (default: /app/server or /opt/moonlight-web/server, whichever exists).", () => ""),
  },
  auth: {
    admin_tokens: secretListField("Tokens allowed everything. MLSTREAM_TOKEN adds one."),
    viewer_tokens: secretListField("Tokens allowed to join streams as a viewer with input."),
    view_only_tokens: secretListField("Tokens allowed to watch streams without sending input."),
  },
} as const;

type ConfigOf<S> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : ConfigOf<S[K]> };
export type Config = ConfigOf<typeof SCHEMA>;

/** Environment variables that are not keys of SCHEMA but are understood. */
const ENV_ALIASES: Record<string, string> = { MLSTREAM_TOKEN: "auth.admin_tokens" };
const ENV_NOT_KEYS = new Set(["MLSTREAM_CONFIG"]);

function isField(node: unknown): node is Field<unknown> {
  return typeof node === "object" && node !== null && "parse" in node && "defaultValue" in node;
}

/** Every key of SCHEMA as `a.b` → field. */
export const FIELDS: ReadonlyMap<string, Field<unknown>> = (() => {
  const out = new Map<string, Field<unknown>>();
  const walk = (node: object, prefix: string) => {
    for (const [name, child] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (isField(child)) out.set(key, child);
      else walk(child as object, key);
    }
  };
  walk(SCHEMA, "");
  return out;
})();

export function envNameOf(key: string): string {
  return `MLSTREAM_${key.replace(/\./g, "_").toUpperCase()}`;
}

export interface LoadOptions {
  /** Explicit config file (from --config or MLSTREAM_CONFIG); must exist. */
  configFile?: string;
  /** Values from command-line flags, keyed by config key (`server.port`). Undefined values are ignored. */
  flags?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
}

export interface LoadedConfig {
  config: Config;
  /** Where each key's value came from. */
  sources: ReadonlyMap<string, ConfigSource>;
  /** The file that was read, if any. */
  file?: string;
}

function flatten(obj: Record<string, unknown>, prefix: string, out: Map<string, unknown>, file: string): void {
  for (const [name, value] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (FIELDS.has(key)) out.set(key, value);
    else if (typeof value === "object" && value !== null && !Array.isArray(value) && [...FIELDS.keys()].some((k) => k.startsWith(`${key}.`))) {
      flatten(value as Record<string, unknown>, key, out, file);
    } else {
      throw new ConfigError(`config: unknown key '${key}' in ${file}`);
    }
  }
}

function readConfigFile(path: string): Map<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith(".json") ? JSON.parse(text) : Bun.TOML.parse(text);
  } catch (err) {
    throw new ConfigError(`config: ${path} is not valid ${path.endsWith(".json") ? "JSON" : "TOML"}: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config: ${path} must hold a table of keys`);
  const out = new Map<string, unknown>();
  flatten(parsed as Record<string, unknown>, "", out, path);
  return out;
}

function describe(value: unknown, secret: boolean | undefined): string {
  if (secret) return "(secret)";
  return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

/** Builds the effective configuration. Throws ConfigError naming the bad key, value and source. */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const values = new Map<string, unknown>();
  const sources = new Map<string, ConfigSource>();

  const set = (key: string, raw: unknown, source: ConfigSource, where: string) => {
    const field = FIELDS.get(key);
    if (!field) throw new ConfigError(`config: unknown key '${key}' (${where})`);
    const result = field.parse(raw);
    if ("error" in result) throw new ConfigError(`config: ${key} = ${describe(raw, field.secret)} (${where}): ${result.error}`);
    // Token lists accumulate across sources (MLSTREAM_TOKEN adds to the file's tokens); the rest override.
    const previous = values.get(key);
    values.set(key, field.secret && Array.isArray(previous) ? [...new Set([...previous, ...(result.value as string[])])] : result.value);
    sources.set(key, source);
  };

  const explicitFile = options.configFile ?? env.MLSTREAM_CONFIG;
  const file = explicitFile ? resolve(explicitFile) : defaultConfigFile(env);
  let fileRead: string | undefined;
  if (explicitFile || existsSync(file)) {
    if (explicitFile && !existsSync(file)) throw new ConfigError(`config: file ${file} does not exist`);
    for (const [key, raw] of readConfigFile(file)) set(key, raw, "file", `in ${file}`);
    fileRead = file;
  }

  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("MLSTREAM_") || raw === undefined || ENV_NOT_KEYS.has(name)) continue;
    const key = ENV_ALIASES[name] ?? [...FIELDS.keys()].find((k) => envNameOf(k) === name);
    if (!key) throw new ConfigError(`config: unknown environment variable ${name}`);
    set(key, raw, "env", `from ${name}`);
  }

  for (const [key, raw] of Object.entries(options.flags ?? {})) {
    if (raw === undefined) continue;
    set(key, typeof raw === "number" ? String(raw) : raw, "flag", `from --${key.split(".").pop()!.replace(/_/g, "-")}`);
  }

  const build = (node: object, prefix: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (isField(child)) {
        if (!values.has(key)) {
          values.set(key, child.defaultValue(env));
          sources.set(key, "default");
        }
        out[name] = values.get(key);
      } else {
        out[name] = build(child as object, key);
      }
    }
    return out;
  };
  const config = build(SCHEMA, "") as unknown as Config;
  return { config, sources, ...(fileRead ? { file: fileRead } : {}) };
}

/** The effective configuration as `{ key: { value, source } }`, secrets masked. */
export function describeConfig(loaded: LoadedConfig): Record<string, { value: unknown; source: ConfigSource }> {
  const out: Record<string, { value: unknown; source: ConfigSource }> = {};
  for (const [key, field] of FIELDS) {
    let value = key.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], loaded.config);
    if (field.secret && Array.isArray(value)) value = value.map(() => "********");
    else if (field.secret && typeof value === "string" && value !== "") value = "********";
    else if (field.mask) value = field.mask(value);
    out[key] = { value, source: loaded.sources.get(key) ?? "default" };
  }
  return out;
}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export type { LogLevelName };
