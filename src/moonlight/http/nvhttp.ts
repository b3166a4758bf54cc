/**
 * Plane: HTTP (this folder). Owns TCP 47989 (plain HTTP) and 47984 (HTTPS with our client
 * certificate): who the host is (serverinfo.ts, app-version.ts, host-address.ts), its apps
 * (apps.ts), starting, resuming and ending a session (launch.ts), pairing and its crypto
 * (pairing.ts, pairing-crypto.ts) and our client identity (identity.ts), over a replaceable
 * exchange (nvhttp-transport.ts) of XML replies (nvhttp-xml.ts). This file is the client on top.
 *
 * NvHttpClient: the GameStream control plane as seen by a client (reference §1).
 *
 * Plain HTTP (default port 47989) for /serverinfo and pairing phases 1–4; HTTPS (`HttpsPort`,
 * default 47984) with our client certificate and the host certificate pinned at pairing for
 * everything else. Every reply is `<root status_code=…>`; a code other than 200 becomes a
 * HostHttpError (401 → NotPairedError). A request that dies at the connection level is sent once
 * more on a fresh connection, as libcurl does (Wolf resets reused connections).
 */
import { randomUUID } from "node:crypto";
import { logger } from "../../core/log.ts";
import { findApp, parseAppList, type App, type AppAsset } from "./apps.ts";
import {
  AppNotFoundError,
  ConnectionLostError,
  HostHttpError,
  MalformedResponseError,
  NotPairedError,
} from "../errors.ts";
import type { ClientIdentity } from "./identity.ts";
import { DEFAULT_HTTP_PORT } from "./host-address.ts";
import { launchQuery, parseLaunchResponse, type LaunchOptions, type LaunchResult } from "./launch.ts";
import { fetchTransport, type NvHttpRequest, type NvHttpResponse, type NvHttpTransport, type QueryParams, type RequestOptions } from "./nvhttp-transport.ts";
import { parseNvHttpDocument, type NvHttpDocument } from "./nvhttp-xml.ts";
import { pair as runPairing, type PairOptions, type PairResult } from "./pairing.ts";
import { parseServerInfo, type ServerInfo } from "./serverinfo.ts";

const log = logger("nvhttp");

/** moonlight-qt's limits. */
export const TIMEOUTS = {
  request: 5_000,
  launch: 120_000,
  resume: 30_000,
  cancel: 30_000,
} as const;

export interface NvHttpClientOptions {
  /** Host name or IP literal (IPv6 without brackets). */
  address: string;
  /** Plain-HTTP port; default 47989. */
  httpPort?: number;
  /** HTTPS port if already known (else learned from /serverinfo). */
  httpsPort?: number;
  identity: ClientIdentity;
  /** The host certificate pinned at pairing (PEM). Required for HTTPS. */
  serverCertPem?: string;
  /** Limit for ordinary requests; default 5000 ms. */
  timeoutMs?: number;
  /** Replaceable exchange function (tests); default Bun fetch. */
  transport?: NvHttpTransport;
  /** Per-request cache-buster `uuid`; default a dashed random UUID (moonlight-embedded style). */
  newRequestId?: () => string;
}


export class NvHttpClient {
  readonly address: string;
  readonly httpPort: number;
  readonly identity: ClientIdentity;
  readonly #transport: NvHttpTransport;
  readonly #timeoutMs: number;
  readonly #newRequestId: () => string;
  #httpsPort: number | undefined;
  #serverCertPem: string | undefined;
  #lastServerInfo: ServerInfo | undefined;

  constructor(options: NvHttpClientOptions) {
    this.address = options.address;
    this.httpPort = options.httpPort ?? DEFAULT_HTTP_PORT;
    this.identity = options.identity;
    this.#httpsPort = options.httpsPort;
    this.#serverCertPem = options.serverCertPem;
    this.#timeoutMs = options.timeoutMs ?? TIMEOUTS.request;
    this.#transport = options.transport ?? fetchTransport;
    this.#newRequestId = options.newRequestId ?? randomUUID;
  }

  /** The pinned host certificate (set by a successful pairing). */
  get serverCertPem(): string | undefined {
    return this.#serverCertPem;
  }
  set serverCertPem(pem: string | undefined) {
    this.#serverCertPem = pem;
  }

  get httpsPort(): number | undefined {
    return this.#httpsPort;
  }

  /** The most recent /serverinfo answer, if any. */
  get lastServerInfo(): ServerInfo | undefined {
    return this.#lastServerInfo;
  }

  /** `/path?uniqueid=…&uuid=…&<params>` — the two identifying parameters always come first. */
  buildTarget(path: string, params: QueryParams = []): string {
    const all: (readonly [string, string])[] = [["uniqueid", this.identity.uniqueId], ["uuid", this.#newRequestId()], ...params];
    return `${path}?${all.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`;
  }

  /** One exchange, retried once on a connection-level failure. */
  async request(path: string, params: QueryParams = [], options: RequestOptions = {}): Promise<NvHttpResponse> {
    const https = options.https ?? false;
    const port = https ? await this.#ensureHttpsPort(options.signal) : this.httpPort;
    const request: NvHttpRequest = {
      scheme: https ? "https" : "http",
      host: this.address,
      port,
      target: this.buildTarget(path, params),
      timeoutMs: options.timeoutMs === null ? undefined : (options.timeoutMs ?? this.#timeoutMs),
    };
    if (options.signal) request.signal = options.signal;
    if (https) {
      request.tls = { certPem: this.identity.certPem, keyPem: this.identity.keyPem };
      if (this.#serverCertPem !== undefined) request.tls.pinnedServerCertPem = this.#serverCertPem;
    }
    log.debug(`${request.scheme.toUpperCase()} GET ${path}`);
    try {
      return await this.#transport(request);
    } catch (error) {
      if (!(error instanceof ConnectionLostError)) throw error;
      log.debug(`${path}: ${error.message}; retrying once on a new connection`);
      return await this.#transport(request);
    }
  }

  /** An exchange whose reply must be a `<root status_code="200">` document. */
  async requestXml(path: string, params: QueryParams = [], options: RequestOptions = {}): Promise<NvHttpDocument> {
    const response = await this.request(path, params, options);
    return checkedDocument(path, response);
  }

  /**
   * /serverinfo. With a pinned certificate it asks over HTTPS first (real PairStatus, MAC) and
   * falls back to HTTP when the host no longer accepts our certificate, like moonlight-qt.
   * `https: false` forces plain HTTP.
   */
  async serverInfo(options: { https?: boolean; signal?: AbortSignal } = {}): Promise<ServerInfo> {
    const wantHttps = options.https ?? this.#serverCertPem !== undefined;
    const base: RequestOptions = options.signal ? { signal: options.signal } : {};
    let doc: NvHttpDocument | undefined;
    if (wantHttps && this.#serverCertPem !== undefined) {
      try {
        doc = await this.requestXml("/serverinfo", [], { ...base, https: true });
      } catch (error) {
        if (!(error instanceof NotPairedError) || options.https === true) throw error;
        log.debug("HTTPS serverinfo refused (not paired any more?); asking over HTTP");
      }
    }
    doc ??= await this.requestXml("/serverinfo", [], base);
    const info = parseServerInfo(doc);
    this.#httpsPort = info.httpsPort;
    this.#lastServerInfo = info;
    return info;
  }

  /** The host's apps (HTTPS). */
  async appList(options: { signal?: AbortSignal } = {}): Promise<App[]> {
    return parseAppList(await this.requestXml("/applist", [], { https: true, ...options }));
  }

  /**
   * Find an app by id or title. Wolf's list can lag right after an app is created, so a miss is
   * retried `attempts` times (default 3) before AppNotFoundError.
   */
  async findApp(idOrTitle: number | string, options: { attempts?: number; delayMs?: number; signal?: AbortSignal } = {}): Promise<App> {
    const attempts = Math.max(1, options.attempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      const apps = await this.appList(options.signal ? { signal: options.signal } : {});
      const app = findApp(apps, idOrTitle);
      if (app) return app;
      if (attempt >= attempts) {
        const listed = apps.length === 0 ? "it lists none" : `it lists ${apps.map((a) => `"${a.title}" (${a.id})`).join(", ")}`;
        throw new AppNotFoundError(`no app "${idOrTitle}" on the host: ${listed}`);
      }
      await Bun.sleep(options.delayMs ?? 1000);
      options.signal?.throwIfAborted();
    }
  }

  /** Box art of an app (`AssetType=2&AssetIdx=0`): raw image bytes. */
  async appAsset(appId: number, options: { signal?: AbortSignal } = {}): Promise<AppAsset> {
    const path = "/appasset";
    const response = await this.request(
      path,
      [["appid", String(appId)], ["AssetType", "2"], ["AssetIdx", "0"]],
      { https: true, ...options },
    );
    const contentType = response.contentType ?? "application/octet-stream";
    const looksXml = contentType.includes("xml") || startsWithXml(response.body);
    if (response.status !== 200 || looksXml) {
      // Errors come back as XML documents; a non-200 reply without one is still an error.
      if (looksXml) checkedDocument(path, response);
      throw new HostHttpError(`${path}: HTTP ${response.status}`, response.status);
    }
    if (response.body.length === 0) throw new MalformedResponseError(`${path}: empty image`);
    return { bytes: response.body, contentType };
  }

  /** Start an app; returns the RTSP session URL. `gfe` hosts get their FPS quirk applied. */
  async launch(options: LaunchOptions, signal?: AbortSignal): Promise<LaunchResult> {
    const gfe = this.#lastServerInfo?.gfe ?? false;
    const doc = await this.requestXml("/launch", launchQuery(options, { gfe }), {
      https: true,
      timeoutMs: TIMEOUTS.launch,
      ...(signal ? { signal } : {}),
    });
    return parseLaunchResponse(doc, "gamesession", this.address);
  }

  /** Rejoin the running app with fresh session keys (same query as /launch, as moonlight-qt sends). */
  async resume(options: LaunchOptions, signal?: AbortSignal): Promise<LaunchResult> {
    const gfe = this.#lastServerInfo?.gfe ?? false;
    const doc = await this.requestXml("/resume", launchQuery(options, { gfe }), {
      https: true,
      timeoutMs: TIMEOUTS.resume,
      ...(signal ? { signal } : {}),
    });
    return parseLaunchResponse(doc, "resume", this.address);
  }

  /** Quit the running app and end every stream on the host. */
  async cancel(signal?: AbortSignal): Promise<void> {
    const doc = await this.requestXml("/cancel", [], { https: true, timeoutMs: TIMEOUTS.cancel, ...(signal ? { signal } : {}) });
    if (doc.text("cancel")?.trim() === "0") throw new HostHttpError("/cancel: host answered cancel=0", 200, 200);
  }

  /**
   * Ask the host to forget this client (GFE-style `/unpair` over HTTP). Sunshine and Wolf do not
   * implement it (404): returns false then, and the pairing must be removed on the host's UI.
   */
  async unpair(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    try {
      await this.requestXml("/unpair", [], options);
      return true;
    } catch (error) {
      if (error instanceof HostHttpError && (error.statusCode === 404 || error.httpStatus === 404)) return false;
      throw error;
    }
  }

  /** Pair with the host (five phases); on success the returned certificate is pinned on this client. */
  async pair(options: PairOptions = {}): Promise<PairResult> {
    return runPairing(this, options);
  }

  async #ensureHttpsPort(signal?: AbortSignal): Promise<number> {
    if (this.#httpsPort === undefined) await this.serverInfo({ https: false, ...(signal ? { signal } : {}) });
    return this.#httpsPort as number;
  }
}

function startsWithXml(body: Uint8Array): boolean {
  const head = Buffer.from(body.subarray(0, 64)).toString("latin1").trimStart();
  return head.startsWith("<?xml") || head.startsWith("<root");
}

/** Parse a reply and turn any error status into a typed error. */
export function checkedDocument(path: string, response: NvHttpResponse): NvHttpDocument {
  const text = new TextDecoder().decode(response.body);
  let doc: NvHttpDocument;
  try {
    doc = parseNvHttpDocument(text);
  } catch (error) {
    if (response.status === 401) throw new NotPairedError(`${path}: HTTP 401 (client not paired)`, 401);
    if (response.status !== 200) throw new HostHttpError(`${path}: HTTP ${response.status}`, response.status);
    throw new MalformedResponseError(`${path}: ${(error as Error).message}`);
  }
  if (doc.statusCode === 401 || response.status === 401) {
    throw new NotPairedError(
      `${path}: ${doc.statusMessage ?? "the client is not authorized"}`,
      response.status,
      doc.statusCode,
      doc.statusMessage,
    );
  }
  if (doc.statusCode !== 200) {
    throw new HostHttpError(
      `${path}: host status ${doc.statusCode}${doc.statusMessage ? ` (${doc.statusMessage})` : ""}`,
      response.status,
      doc.statusCode,
      doc.statusMessage,
    );
  }
  if (response.status !== 200) throw new HostHttpError(`${path}: HTTP ${response.status}`, response.status, doc.statusCode);
  return doc;
}
