/**
 * Host addresses as users type them: `name`, `name:port`, `1.2.3.4:47989`, `::1`, `[::1]:47989`.
 * The port, when given, is the host's plain-HTTP nvhttp port (default 47989); every other port is
 * derived from what the host advertises.
 */
import { isIPv6 } from "node:net";
import { InvalidHostAddressError } from "../errors.ts";

export const DEFAULT_HTTP_PORT = 47989;

export interface HostAddress {
  /** Hostname or IP literal, IPv6 without brackets. */
  host: string;
  /** HTTP port if the text named one. */
  port?: number;
}

function parsePort(text: string, input: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new InvalidHostAddressError(`invalid port in "${input}"`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new InvalidHostAddressError(`port out of range in "${input}"`);
  return port;
}

/** Parse `address[:port]`; IPv6 literals with a port must be bracketed (`[::1]:47989`). */
export function parseHostAddress(input: string): HostAddress {
  const text = input.trim();
  if (text === "") throw new InvalidHostAddressError("empty host address");
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw new InvalidHostAddressError(`unclosed "[" in "${input}"`);
    const host = text.slice(1, close);
    if (!isIPv6(host)) throw new InvalidHostAddressError(`"${host}" is not an IPv6 address`);
    const rest = text.slice(close + 1);
    if (rest === "") return { host };
    if (!rest.startsWith(":")) throw new InvalidHostAddressError(`unexpected text after "]" in "${input}"`);
    return { host, port: parsePort(rest.slice(1), input) };
  }
  // More than one colon and no brackets: a bare IPv6 literal, which cannot carry a port.
  if (text.indexOf(":") !== text.lastIndexOf(":")) {
    if (!isIPv6(text)) throw new InvalidHostAddressError(`"${input}" is not a valid address`);
    return { host: text };
  }
  const colon = text.indexOf(":");
  const host = colon < 0 ? text : text.slice(0, colon);
  if (host === "" || /[\s/?#@[\]]/.test(host)) throw new InvalidHostAddressError(`"${input}" is not a valid address`);
  if (colon < 0) return { host };
  return { host, port: parsePort(text.slice(colon + 1), input) };
}

/** The host part of a URL: IPv6 literals in brackets. */
export function hostForUrl(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/** `host:port` with IPv6 bracketed, e.g. for display or URLs. */
export function formatHostAddress(address: { host: string; port?: number }): string {
  const host = hostForUrl(address.host);
  return address.port === undefined ? host : `${host}:${address.port}`;
}
