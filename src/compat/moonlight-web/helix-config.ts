/**
 * Helix's moonlight-web configuration, read where Helix puts it (docs/helix.md §3): `config.json`
 * and `data.json` in /app/server (compose) or /opt/moonlight-web/server (sandbox image), and the
 * env vars MOONLIGHT_CREDENTIALS, MOONLIGHT_INTERNAL_PAIRING_PIN, TURN_PUBLIC_IP, TURN_PASSWORD.
 * The result is folded into our own Config (tokens, allowed hosts, ICE, ports) by `withHelixConfig`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../core/config.ts";
import { ConfigError } from "../../core/errors.ts";

export const HELIX_CONFIG_DIRS = ["/app/server", "/opt/moonlight-web/server"];
/** The names Helix's backend and proxy use for the sidecar. */
export const HELIX_SIDECAR_HOSTS = ["moonlight-web"];

export interface HelixHost {
  address: string;
  httpPort: number;
  name?: string;
}

export interface HelixSettings {
  /** Directory the files were read from, if any. */
  dir: string | undefined;
  credentials: string | undefined;
  /** 4 digits, shared with Wolf; undefined = a random PIN per pairing (a person types it). */
  pairingPin: string | undefined;
  /** What the browser gets in WebRtcConfig, as Helix wrote it. */
  browserIceServers: { urls: string[]; username: string; credential: string }[];
  hosts: HelixHost[];
  bind?: { host: string; port: number };
}

interface RawConfig {
  bind_address?: string;
  credentials?: string | null;
  webrtc_ice_servers?: { urls?: string[]; username?: string; credential?: string }[];
  webrtc_port_range?: { min?: number; max?: number } | null;
  webrtc_nat_1to1?: { ips?: string[] } | null;
}

export function findHelixDir(configured: string): string | undefined {
  if (configured) return configured;
  return HELIX_CONFIG_DIRS.find((dir) => existsSync(join(dir, "config.json")));
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (error) {
    throw new ConfigError(`compat: ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Template placeholders Helix's init script fills from the environment. */
function fill(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\{\{(TURN_PUBLIC_IP|TURN_PASSWORD|MOONLIGHT_CREDENTIALS)\}\}/g, (_, name: string) => env[name] ?? "");
}

export function loadHelixSettings(dir: string | undefined, env: Record<string, string | undefined> = process.env): HelixSettings & { portRange?: { min: number; max: number }; publicIp?: string } {
  const raw = (dir ? readJson<RawConfig>(join(dir, "config.json")) : undefined) ?? {};
  const data = (dir ? readJson<{ hosts?: { address?: string; http_port?: number; cache?: { name?: string } }[] }>(join(dir, "data.json")) : undefined) ?? {};
  const credentialsText = typeof raw.credentials === "string" ? fill(raw.credentials, env) : undefined;
  const credentials = env.MOONLIGHT_CREDENTIALS || credentialsText || undefined;
  const pin = env.MOONLIGHT_INTERNAL_PAIRING_PIN;
  let browserIceServers = (raw.webrtc_ice_servers ?? []).map((s) => ({
    urls: (s.urls ?? []).map((u) => fill(u, env)).filter((u) => !u.includes("{{") && !/^turns?::/.test(u)),
    username: fill(s.username ?? "", env),
    credential: fill(s.credential ?? "", env),
  }));
  if (!browserIceServers.some((s) => s.urls.some((u) => u.startsWith("turn"))) && env.TURN_PUBLIC_IP && env.TURN_PASSWORD) {
    browserIceServers.push({ urls: [`turn:${env.TURN_PUBLIC_IP}:3478?transport=udp`, `turn:${env.TURN_PUBLIC_IP}:3478?transport=tcp`], username: "helix", credential: env.TURN_PASSWORD });
  }
  browserIceServers = browserIceServers.filter((s) => s.urls.length > 0);
  const hosts: HelixHost[] = (data.hosts ?? [])
    .filter((h) => typeof h.address === "string" && h.address.length > 0)
    .map((h) => ({ address: h.address!, httpPort: h.http_port ?? 47989, ...(h.cache?.name ? { name: h.cache.name } : {}) }));
  const bind = raw.bind_address ? parseBind(raw.bind_address) : undefined;
  const range = raw.webrtc_port_range;
  return {
    dir,
    credentials,
    pairingPin: pin && /^\d{4}$/.test(pin) ? pin : undefined,
    browserIceServers,
    hosts,
    ...(bind ? { bind } : {}),
    ...(range?.min && range.max ? { portRange: { min: range.min, max: range.max } } : {}),
    ...(raw.webrtc_nat_1to1?.ips?.[0] ? { publicIp: raw.webrtc_nat_1to1.ips[0] } : {}),
  };
}

function parseBind(text: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text.trim());
  return match ? { host: match[1]!, port: Number(match[2]) } : undefined;
}

/** `{urls, username, credential}` → our `turn:user:password@host:port?transport=` form. */
export function toOurIceUrls(servers: HelixSettings["browserIceServers"]): string[] {
  const urls: string[] = [];
  for (const server of servers) {
    for (const url of server.urls) {
      const match = /^(turns?):(.*)$/.exec(url);
      if (match && server.username) urls.push(`${match[1]}:${encodeURIComponent(server.username)}:${encodeURIComponent(server.credential)}@${match[2]}`);
      else urls.push(url);
    }
  }
  return urls;
}

/**
 * Our Config with Helix's settings folded in: its credentials become an admin token, the sidecar's
 * names join the Host allow-list, its ICE servers and port range are used unless ours are set,
 * and its bind address applies when ours is the default.
 */
export function withHelixConfig(config: Config, helix: ReturnType<typeof loadHelixSettings>): Config {
  const server = { ...config.server, allowed_hosts: [...new Set([...config.server.allowed_hosts, ...HELIX_SIDECAR_HOSTS])] };
  if (helix.bind && config.server.host === "127.0.0.1" && config.server.port === 8080) {
    server.host = helix.bind.host;
    server.port = helix.bind.port;
  }
  const webrtc = { ...config.webrtc };
  if (webrtc.ice_servers.length === 0) webrtc.ice_servers = toOurIceUrls(helix.browserIceServers);
  if (helix.portRange && !webrtc.port_range_begin) {
    webrtc.port_range_begin = helix.portRange.min;
    webrtc.port_range_end = helix.portRange.max;
  }
  if (helix.publicIp && !webrtc.public_ip) webrtc.public_ip = helix.publicIp;
  const auth = { ...config.auth, admin_tokens: helix.credentials ? [...new Set([...config.auth.admin_tokens, helix.credentials])] : config.auth.admin_tokens };
  return { ...config, server, webrtc, auth, compat: { ...config.compat, mode: "moonlight-web" } };
}
