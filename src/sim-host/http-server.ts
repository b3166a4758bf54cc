/**
 * A deliberately small HTTP/1.1 server for the simulated host, over node:net (HTTP) or node:tls
 * (HTTPS). Why not Bun.serve / node:https: under Bun neither exposes the client certificate a TLS
 * peer presented, and the host must compare it with its paired certificates. node:tls does
 * (`getPeerCertificate().raw`), so requests are parsed here.
 *
 * Like Sunshine and Wolf: GET (and Wolf's POST /pin/), one request per connection, `Connection:
 * close` after every response.
 */
import net from "node:net";
import tls from "node:tls";
import { logger } from "../core/log.ts";

const log = logger("sim-http");

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 64 * 1024;
const REQUEST_READ_TIMEOUT_MS = 10_000;

export interface SimHttpRequest {
  method: string;
  /** Path and query as received. */
  target: string;
  path: string;
  query: URLSearchParams;
  body: Uint8Array;
  https: boolean;
  /** DER of the certificate the TLS client presented (HTTPS only). */
  peerCertDer?: Buffer;
  /** Our address as the client reached it (for sessionUrl0). */
  localAddress: string;
  remoteAddress: string;
  /** Aborted if the client goes away before we answer (e.g. a held pairing request). */
  closed: AbortSignal;
}

export interface SimHttpResponse {
  status: number;
  contentType?: string;
  body: string | Uint8Array;
}

export type SimHttpHandler = (request: SimHttpRequest) => Promise<SimHttpResponse> | SimHttpResponse;

const REASONS: Record<number, string> = { 200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error" };

export interface SimHttpServerOptions {
  handler: SimHttpHandler;
  /** Present for HTTPS: server identity; a client certificate is required. */
  tls?: { certPem: string; keyPem: string };
}

export class SimHttpServer {
  readonly #server: net.Server;
  readonly #https: boolean;
  readonly #handler: SimHttpHandler;
  readonly #sockets = new Set<net.Socket>();
  #closed = false;

  constructor(options: SimHttpServerOptions) {
    this.#handler = options.handler;
    this.#https = options.tls !== undefined;
    if (options.tls) {
      // requestCert without rejectUnauthorized: every self-signed client cert passes the handshake;
      // whether it is *paired* is decided per request, as Sunshine does.
      this.#server = tls.createServer(
        { cert: options.tls.certPem, key: options.tls.keyPem, requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.2" },
        (socket) => this.#accept(socket),
      );
      this.#server.on("tlsClientError", (error) => log.debug(`TLS handshake failed: ${error.message}`));
    } else {
      this.#server = net.createServer((socket) => this.#accept(socket));
    }
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    const closed = new AbortController();
    socket.on("close", () => {
      this.#sockets.delete(socket);
      closed.abort();
    });
    socket.on("error", (error) => log.debug(`connection error: ${error.message}`));
    let peerCertDer: Buffer | undefined;
    if (socket instanceof tls.TLSSocket) {
      const peer = socket.getPeerCertificate(true) as { raw?: Buffer } | null;
      if (!peer?.raw) {
        // Real hosts refuse the handshake when no client certificate comes.
        socket.destroy();
        return;
      }
      peerCertDer = Buffer.from(peer.raw);
    }
    socket.setTimeout(REQUEST_READ_TIMEOUT_MS, () => socket.destroy());
    let buffered = Buffer.alloc(0);
    let handled = false;
    socket.on("data", (chunk: Buffer) => {
      if (handled) return; // one request per connection; anything further is ignored
      buffered = Buffer.concat([buffered, chunk]);
      const headEnd = buffered.indexOf("\r\n\r\n");
      if (headEnd < 0) {
        if (buffered.length > MAX_HEAD_BYTES) socket.destroy();
        return;
      }
      const head = buffered.subarray(0, headEnd).toString("latin1");
      const lines = head.split("\r\n");
      const [method, target] = (lines[0] ?? "").split(" ");
      const lengthLine = lines.find((l) => /^content-length:/i.test(l));
      const bodyLength = lengthLine ? Number(lengthLine.slice(lengthLine.indexOf(":") + 1).trim()) : 0;
      if (!method || !target || !target.startsWith("/") || !Number.isInteger(bodyLength) || bodyLength > MAX_BODY_BYTES) {
        handled = true;
        this.#write(socket, { status: 400, contentType: "text/plain", body: "bad request" });
        return;
      }
      if (buffered.length < headEnd + 4 + bodyLength) return;
      handled = true;
      socket.setTimeout(0);
      const url = new URL(target, "http://sim.invalid");
      const request: SimHttpRequest = {
        method,
        target,
        path: url.pathname,
        query: url.searchParams,
        body: buffered.subarray(headEnd + 4, headEnd + 4 + bodyLength),
        https: this.#https,
        localAddress: socket.localAddress ?? "127.0.0.1",
        remoteAddress: socket.remoteAddress ?? "",
        closed: closed.signal,
      };
      if (peerCertDer) request.peerCertDer = peerCertDer;
      Promise.resolve()
        .then(() => this.#handler(request))
        .then(
          (response) => this.#write(socket, response),
          (error: unknown) => {
            log.warn(`handler failed for ${request.path}: ${(error as Error).message}`);
            this.#write(socket, { status: 500, contentType: "text/plain", body: "internal error" });
          },
        );
    });
  }

  #write(socket: net.Socket, response: SimHttpResponse): void {
    if (socket.destroyed) return;
    const body = typeof response.body === "string" ? Buffer.from(response.body, "utf8") : Buffer.from(response.body);
    const head =
      `HTTP/1.1 ${response.status} ${REASONS[response.status] ?? "Status"}\r\n` +
      `Content-Type: ${response.contentType ?? "application/xml"}\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    socket.end(Buffer.concat([Buffer.from(head, "latin1"), body]));
  }
}
