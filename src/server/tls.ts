/**
 * TLS for `serve` itself (`server.tls_cert` + `server.tls_key`, PEM files): browsers give
 * WebCodecs, AudioWorklet and the clipboard only to secure origins, so a viewer reached by a name
 * other than localhost needs HTTPS for the WebSocket fallback's best decode path (docs/ws-media.md).
 * The files are read once at start; a missing, unreadable or non-PEM file stops `serve` with a
 * message naming it, rather than a server that fails every handshake.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../core/errors.ts";

export interface TlsFiles {
  cert: string;
  key: string;
}

function readPem(path: string, key: string, marker: RegExp): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`config: ${key} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (expected a readable PEM file)`);
  }
  if (!marker.test(text)) throw new ConfigError(`config: ${key} ${path} is not a PEM file (no "-----BEGIN …" block of the expected kind)`);
  return text;
}

/** The certificate and key to listen with, or undefined for plain HTTP (neither set). */
export function loadTls(certPath: string, keyPath: string): TlsFiles | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) throw new ConfigError(`config: server.tls_cert and server.tls_key go together (only ${certPath ? "tls_cert" : "tls_key"} is set)`);
  return {
    cert: readPem(certPath, "server.tls_cert", /-----BEGIN CERTIFICATE-----/),
    key: readPem(keyPath, "server.tls_key", /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/),
  };
}
