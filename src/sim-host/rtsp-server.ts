/**
 * The simulated host's RTSP server (§2, §9.2.3): TCP, one request per connection, like Sunshine —
 * read one request (headers to the empty line, then `Content-length` body bytes), write one
 * response, close.
 *
 * Requests are only served while a launch session is pending (after /launch or /resume, until its
 * control stream connects); otherwise the answer is `503 Service Unavailable` (Sunshine simply
 * drops such connections). For `rtspenc://` launch sessions every request must arrive in the
 * encrypted framing and every response leaves in it (host counter from 1); a plaintext request is
 * refused by closing, as Sunshine does.
 *
 * Replies: OPTIONS and PLAY `CSeq` only; DESCRIBE the host's feature/encryption/codec/surround
 * lines; SETUP `Session`, `Transport: server_port=N` and (Sunshine) `X-SS-Ping-Payload` /
 * `X-SS-Connect-Data`; ANNOUNCE hands the SDP to the backend, which may reject it (400).
 * Unknown methods and stream types get 404, unparsable requests 400. Nothing a client sends can
 * throw out of here: it is counted in `stats` and answered or dropped.
 */
import net from "node:net";
import { logger } from "../core/log.ts";
import {
  completeRequestLength,
  decryptRtspMessage,
  encryptRtspMessage,
  encryptedFrameLength,
  getHeader,
  getHeaderIgnoreCase,
  parseRtspMessage,
  serializeRtspMessage,
  type RtspHeader,
  type RtspRequest,
  type RtspResponse,
} from "../moonlight/rtsp/rtsp.ts";
import type { SimLaunchSession } from "./session.ts";
import { AnnounceRejectedError } from "./stream-config.ts";
import { normalizeAddress } from "./udp-port.ts";

const log = logger("sim-rtsp");

/** Sunshine's receive buffer is 2 KiB; be generous, but bounded. */
const MAX_REQUEST_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
/** Sunshine's fixed session token. */
export const SIM_RTSP_SESSION_ID = "DEADBEEFCAFE";

export interface SimRtspBackend {
  /** The pending launch session, or undefined when RTSP is not open (no launch, or already streaming). */
  pendingLaunch(): SimLaunchSession | undefined;
  /** DESCRIBE body for this launch. */
  describeBody(launch: SimLaunchSession): string;
  /** Ports for the SETUP replies. */
  ports(): { audio: number; video: number; control: number };
  /** Whether SETUP replies carry X-SS-Ping-Payload / X-SS-Connect-Data (Sunshine yes, Wolf 2024 no). */
  sessionIdHeaders: boolean;
  /** Creates the streaming session; throws AnnounceRejectedError to refuse. */
  announce(launch: SimLaunchSession, sdp: string, clientAddress: string): void;
}

export interface SimRtspStats {
  connections: number;
  requests: number;
  /** Requests answered with a non-200 status. */
  errors: number;
  /** Connections closed without an answer: garbage, oversize, timeout, wrong framing. */
  dropped: number;
}

export class SimRtspServer {
  readonly stats: SimRtspStats = { connections: 0, requests: 0, errors: 0, dropped: 0 };
  readonly #server: net.Server;
  readonly #backend: SimRtspBackend;
  readonly #sockets = new Set<net.Socket>();
  /** Host-side sequence counter of encrypted replies, per launch session. */
  #encryptSeq = { launchId: -1, seq: 0 };
  #closing: Promise<void> | undefined;

  private constructor(backend: SimRtspBackend) {
    this.#backend = backend;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  static async listen(backend: SimRtspBackend, address: string, port: number): Promise<SimRtspServer> {
    const server = new SimRtspServer(backend);
    await new Promise<void>((resolve, reject) => {
      server.#server.once("error", reject);
      server.#server.listen(port, address, () => {
        server.#server.off("error", reject);
        resolve();
      });
    });
    return server;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      for (const socket of this.#sockets) socket.destroy();
      this.#server.close(() => resolve());
    });
    return this.#closing;
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    this.#sockets.add(socket);
    let buffered = Buffer.alloc(0);
    let done = false;
    const drop = (why: string) => {
      if (done) return;
      done = true;
      this.stats.dropped++;
      log.debug(`rtsp: dropped a connection (${why})`);
      socket.destroy();
    };
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => drop("timeout"));
    socket.on("error", () => drop("socket error"));
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("data", (chunk: Buffer) => {
      if (done) return;
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_REQUEST_BYTES) return drop("request too large");
      let reply: Uint8Array | undefined;
      try {
        const outcome = this.#tryHandle(new Uint8Array(buffered), normalizeAddress(socket.remoteAddress ?? ""));
        if (outcome === "incomplete") return;
        if (outcome === "drop") return drop("unacceptable request");
        reply = outcome;
      } catch (error) {
        log.error("rtsp: request handling failed", error);
        return drop("internal error");
      }
      done = true;
      socket.end(reply);
    });
  }

  /** One request → "incomplete" (need more bytes), "drop" (close silently), or the reply bytes. */
  #tryHandle(bytes: Uint8Array, clientAddress: string): Uint8Array | "incomplete" | "drop" {
    const launch = this.#backend.pendingLaunch();
    const encrypted = launch !== undefined && launch.sessionUrl.startsWith("rtspenc://");
    let plaintext: Uint8Array;
    if (encrypted) {
      if ((bytes[0]! & 0x80) === 0) return "drop"; // Sunshine: "Rejecting unencrypted RTSP message"
      let length: number | undefined;
      try {
        length = encryptedFrameLength(bytes);
      } catch {
        return "drop";
      }
      if (length === undefined) return "incomplete";
      try {
        plaintext = decryptRtspMessage(launch.rikey, bytes.subarray(0, length), "client").plaintext;
      } catch {
        return "drop";
      }
    } else {
      const length = completeRequestLength(bytes);
      if (length === undefined) return "incomplete";
      plaintext = bytes.subarray(0, length);
    }
    this.stats.requests++;
    const response = this.#respond(plaintext, launch, clientAddress);
    if (response.statusCode !== 200) this.stats.errors++;
    const out = serializeRtspMessage(response);
    if (!encrypted || launch === undefined) return out;
    if (this.#encryptSeq.launchId !== launch.id) this.#encryptSeq = { launchId: launch.id, seq: 0 };
    return encryptRtspMessage(launch.rikey, ++this.#encryptSeq.seq, "host", out);
  }

  #respond(plaintext: Uint8Array, launch: SimLaunchSession | undefined, clientAddress: string): RtspResponse {
    let request: RtspRequest;
    try {
      const message = parseRtspMessage(plaintext);
      if (message.kind !== "request") return reply(400, "BAD REQUEST", "0");
      request = message;
    } catch {
      return reply(400, "BAD REQUEST", "0");
    }
    const cseq = getHeader(request, "CSeq") ?? "0";
    if (launch === undefined) {
      log.debug(`rtsp: ${request.method} refused, no launch session pending`);
      return reply(503, "Service Unavailable", cseq);
    }
    switch (request.method) {
      case "OPTIONS":
      case "PLAY":
        return reply(200, "OK", cseq);
      case "DESCRIBE":
        return reply(200, "OK", cseq, [], this.#backend.describeBody(launch));
      case "SETUP":
        return this.#setup(request, launch, cseq);
      case "ANNOUNCE": {
        // The body must be complete: a Content-length larger than what arrived would still be
        // "incomplete" above, so what we have here is the whole SDP.
        const length = Number(getHeaderIgnoreCase(request, "Content-length") ?? request.body.length);
        const sdp = request.body.slice(0, Number.isFinite(length) ? length : undefined);
        try {
          this.#backend.announce(launch, sdp, clientAddress);
        } catch (error) {
          if (!(error instanceof AnnounceRejectedError)) throw error;
          log.info(`rtsp: ANNOUNCE rejected: ${error.message}`);
          return reply(error.statusCode, error.statusCode === 400 ? "BAD REQUEST" : "ERROR", cseq);
        }
        return reply(200, "OK", cseq);
      }
      default:
        return reply(404, "NOT FOUND", cseq);
    }
  }

  #setup(request: RtspRequest, launch: SimLaunchSession, cseq: string): RtspResponse {
    // Targets: streamid=audio/0/0, streamid=video/0/0, streamid=control/13/0 (older: streamid=audio).
    const match = /streamid=(\w+)/.exec(request.target);
    const kind = match?.[1];
    const ports = this.#backend.ports();
    const port = kind === "audio" ? ports.audio : kind === "video" ? ports.video : kind === "control" ? ports.control : undefined;
    if (port === undefined) return reply(404, "NOT FOUND", cseq);
    const headers: RtspHeader[] = [
      ["Session", `${SIM_RTSP_SESSION_ID};timeout = 90`],
      ["Transport", `server_port=${port}`],
    ];
    if (this.#backend.sessionIdHeaders) {
      if (kind === "control") headers.push(["X-SS-Connect-Data", String(launch.controlConnectData >>> 0)]);
      else headers.push(["X-SS-Ping-Payload", launch.avPingPayload]);
    }
    return reply(200, "OK", cseq, headers);
  }
}

function reply(statusCode: number, reasonPhrase: string, cseq: string, headers: RtspHeader[] = [], body = ""): RtspResponse {
  return { kind: "response", statusCode, reasonPhrase, headers: [["CSeq", cseq], ...headers], body };
}
