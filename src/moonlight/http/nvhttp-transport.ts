/**
 * One nvhttp request/response exchange, as a replaceable function. Production uses Bun's fetch
 * (one connection per request: Wolf resets reused keep-alive connections); tests substitute a
 * function that replays recorded replies.
 *
 * A transport throws only the typed errors of errors.ts: HostUnreachableError, RequestTimeoutError,
 * RequestAbortedError, ConnectionLostError (retryable once), CertificateMismatchError.
 */
import { X509Certificate } from "node:crypto";
import {
  CertificateMismatchError,
  ConnectionLostError,
  HostUnreachableError,
  RequestAbortedError,
  RequestTimeoutError,
} from "../errors.ts";
import { hostForUrl } from "./host-address.ts";

export interface NvHttpRequest {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** Path and query exactly as sent, e.g. `/serverinfo?uniqueid=…&uuid=…`. */
  target: string;
  /** For HTTPS: our client certificate, and the pinned server certificate. */
  tls?: { certPem: string; keyPem: string; pinnedServerCertPem?: string };
  /** Whole-exchange limit (connect, headers and body); undefined = none. */
  timeoutMs: number | undefined;
  signal?: AbortSignal;
}

export interface NvHttpResponse {
  status: number;
  contentType: string | undefined;
  body: Uint8Array;
}

export type NvHttpTransport = (request: NvHttpRequest) => Promise<NvHttpResponse>;

/** What a caller of the nvhttp client asks of one request. */
export interface RequestOptions {
  https?: boolean;
  /** Overrides the client's limit; `null` = no limit. */
  timeoutMs?: number | null;
  signal?: AbortSignal;
}

/** Query parameters in the order they are sent (hosts compare some request lines verbatim). */
export type QueryParams = ReadonlyArray<readonly [string, string]>;

/** TLS verification failures that mean "not the certificate we pinned". */
const CERT_ERROR_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ConnectionRefused",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "FailedToOpenSocket",
  "EADDRNOTAVAIL",
]);

function describe(request: NvHttpRequest): string {
  return `${request.scheme}://${hostForUrl(request.host)}:${request.port}${request.target.split("?")[0]}`;
}

/** The pinning TLS options: trust only the pinned certificate and compare it byte for byte. */
function tlsOptions(tls: NonNullable<NvHttpRequest["tls"]>): Record<string, unknown> {
  if (tls.pinnedServerCertPem === undefined) {
    return { cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: false };
  }
  const pinnedDer = Buffer.from(new X509Certificate(tls.pinnedServerCertPem).raw);
  return {
    cert: tls.certPem,
    key: tls.keyPem,
    ca: tls.pinnedServerCertPem,
    // Hosts' certificates name no address, so the hostname check is replaced by the pin check.
    checkServerIdentity: (_host: string, peer: { raw?: Uint8Array }) =>
      peer.raw !== undefined && pinnedDer.equals(Buffer.from(peer.raw))
        ? undefined
        : new CertificateMismatchError("host certificate differs from the one pinned at pairing"),
  };
}

/** The production transport: Bun fetch, no connection reuse. */
export const fetchTransport: NvHttpTransport = async (request) => {
  const url = `${request.scheme}://${hostForUrl(request.host)}:${request.port}${request.target}`;
  const timeout = request.timeoutMs === undefined ? undefined : AbortSignal.timeout(request.timeoutMs);
  const signals = [request.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0 ? undefined : AbortSignal.any(signals);
  try {
    const init: RequestInit & { tls?: Record<string, unknown> } = {
      method: "GET",
      keepalive: false,
      redirect: "manual",
      headers: { Connection: "close" },
    };
    if (signal) init.signal = signal;
    if (request.tls) init.tls = tlsOptions(request.tls);
    const response = await fetch(url, init);
    const body = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, contentType: response.headers.get("content-type") ?? undefined, body };
  } catch (error) {
    if (request.signal?.aborted) throw new RequestAbortedError(`${describe(request)} aborted`);
    if (timeout?.aborted) throw new RequestTimeoutError(`${describe(request)}: no answer within ${request.timeoutMs} ms`);
    if (error instanceof CertificateMismatchError) throw error;
    const code = (error as { code?: unknown }).code;
    const message = (error as Error).message ?? String(error);
    if (typeof code === "string" && CERT_ERROR_CODES.has(code)) {
      throw new CertificateMismatchError(`${describe(request)}: host certificate not the pinned one (${code})`);
    }
    if (typeof code === "string" && UNREACHABLE_CODES.has(code)) {
      throw new HostUnreachableError(`${describe(request)}: ${code}`);
    }
    throw new ConnectionLostError(`${describe(request)}: ${typeof code === "string" ? code : message}`);
  }
};
