/**
 * SimHost: a simulated Sunshine-like GameStream host, control half (reference §1, §9.2).
 *
 * The sim host is a host, not part of the client: this folder imports the protocol layers it
 * shares with the client from src/moonlight/ (packet layouts, packetizers, crypto, ENet), and
 * nothing in src/moonlight/ imports it. `mlstream sim-host` and `serve --demo` run it.
 *
 * Serves /serverinfo and /pair on plain HTTP, and on HTTPS (client certificate required; only
 * paired certificates get past the 401) /serverinfo, /pair (phase 5), /applist, /appasset,
 * /launch, /resume, /cancel; /unpair on both (GFE-style). Launch parameters and session keys land
 * in `state` for the media half (RTSP, ENet, video, audio), which lives in other sim files.
 *
 * PIN: with `pin` set, phase 1 is answered at once (as Sunshine with a PIN on stdin). Without it,
 * phase 1 is held, like a real host waiting for its operator, until `submitPin()` or a Wolf-style
 * `POST /pin/` with `{"pin":"1234"}` on the HTTP port.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { isIPv6 } from "node:net";
import { logger } from "../core/log.ts";
import type { App } from "../moonlight/http/apps.ts";
import { appListNodes } from "../moonlight/http/apps.ts";
import { hostForUrl } from "../moonlight/http/host-address.ts";
import { createSelfSignedIdentity, type CertificateIdentity } from "../moonlight/http/identity.ts";
import { parseMode, sessionKeysFrom } from "../moonlight/http/launch.ts";
import { serializeNvHttpDocument, type XmlNode } from "../moonlight/http/nvhttp-xml.ts";
import { parseAppVersion, protocolFeatures } from "../moonlight/http/app-version.ts";
import { certificateDer } from "../moonlight/http/pairing-crypto.ts";
import { SCM, serverInfoNodes, type DisplayMode } from "../moonlight/http/serverinfo.ts";
import { SimHttpServer, type SimHttpRequest, type SimHttpResponse } from "./http-server.ts";
import { PairingHost, type PairedClient, type PairReply } from "./pairing-host.ts";
import type { SimInputEvent } from "./control-host.ts";
import { SimMediaHost, type SimMediaOptions } from "./media-host.ts";
import { gradientBoxArt } from "./png.ts";
import type { SimHostState, SimLaunchSession } from "./session.ts";

const log = logger("sim-host");

export interface SimApp extends App {
  /** PNG bytes served by /appasset. */
  boxArt: Uint8Array;
}

/**
 * Which real host the simulation follows (docs/hosts.md). Unset: the historical mix the tests grew
 * up with (H.264 only, plain RTSP, Sunshine-style control, periodic loop keyframes).
 * - "sunshine": encrypted RTSP for corever ≥ 1, control V2, mandatory video encryption, ping
 *   payload / connect data, frames from 1, H.264 + HEVC + AV1 (8- and 10-bit) advertised, RFI advertised (answered with
 *   an IDR like a software encoder), HDR-mode message after Start B, keyframes only on request
 *   (one-slot request latch) and — as observed on a real Sunshine — one request in four unanswered.
 * - "wolf": plain RTSP, legacy control IVs, no session ids, frames from 0, H.264 + HEVC Main + AV1,
 *   keyframes only on request, every request answered.
 */
export type SimHostFlavor = "sunshine" | "wolf";

/**
 * What each flavour advertises, within what the sim has loops for (no 4:4:4): Sunshine with an
 * encoder that has them all reports H.264, HEVC Main and Main10, AV1 Main8 and Main10 (nvhttp.cpp
 * get_codec_mode_flags); Wolf reports H.264, HEVC and AV1 Main8 and never a 10-bit bit
 * (moonlight.cpp `serverinfo`, docs/hosts.md).
 */
const SUNSHINE_CODECS = SCM.H264 | SCM.HEVC | SCM.HEVC_MAIN10 | SCM.AV1_MAIN8 | SCM.AV1_MAIN10;
const WOLF_CODECS = SCM.H264 | SCM.HEVC | SCM.AV1_MAIN8;

/** The options a flavour implies; explicit options win. */
export function flavorDefaults(flavor: SimHostFlavor): Pick<SimHostOptions, "codecModeSupport" | "encryptedRtsp" | "appVersion"> & { media: NonNullable<Exclude<SimHostOptions["media"], false>> } {
  if (flavor === "wolf") {
    return { appVersion: "7.1.431.-1", codecModeSupport: WOLF_CODECS, encryptedRtsp: false, media: { flavor: "wolf", keyframes: "on-request" } };
  }
  let requests = 0;
  return {
    appVersion: "7.1.431.-1",
    codecModeSupport: SUNSHINE_CODECS,
    encryptedRtsp: true,
    media: {
      flavor: "sunshine",
      keyframes: "on-request",
      videoEncryption: "required",
      referenceFrameInvalidation: true,
      hdrModeMessage: true,
      // Deterministic: the 2nd, 6th, 10th… request goes unanswered.
      ignoreIdrRequest: () => ++requests % 4 === 2,
    },
  };
}

export interface SimHostOptions {
  /** Follow a real host's behaviour (see SimHostFlavor); other options override its defaults. */
  flavor?: SimHostFlavor;
  /** Plain-HTTP port; 0 (default) = any free port. */
  httpPort?: number;
  /** HTTPS port; 0 (default) = any free port. */
  httpsPort?: number;
  /** Loopback only: 127.0.0.1 (default) or ::1. */
  bindAddress?: "127.0.0.1" | "::1";
  /** Fixed PIN (4 digits). Without one, phase 1 waits for submitPin() / POST /pin/. */
  pin?: string;
  hostname?: string;
  /** Server certificate + key; a fresh Sunshine-like one is generated otherwise. */
  identity?: CertificateIdentity;
  /** Host uniqueid (a UUID by default). */
  uniqueId?: string;
  apps?: SimApp[];
  /** Default 7.1.431.-1 (Sunshine/Wolf). */
  appVersion?: string;
  gfeVersion?: string;
  /** Default H.264 only. */
  codecModeSupport?: number;
  maxLumaPixelsHevc?: number;
  /** MAC shown to paired clients over HTTPS. */
  mac?: string;
  displayModes?: DisplayMode[];
  /**
   * RTSP port put in sessionUrl0. Default: HTTP port + 21 when httpPort is fixed (48010 for
   * 47989), else 0 — meaning the media half fills `state.rtspPort` (48010 is announced until then).
   */
  rtspPort?: number;
  /** Answer `rtspenc://` to clients that send corever ≥ 1 (Sunshine). Default false: `rtsp://`, like Wolf. */
  encryptedRtsp?: boolean;
  /**
   * The media half (RTSP, control, video, audio; see media-host.ts), or false for a host without
   * it. Its ports default to the real offsets from a fixed HTTP port (+9 video, +10 control, +11
   * audio), else any free port; RTSP uses `rtspPort`.
   */
  media?: Omit<SimMediaOptions, "bindAddress" | "rtspPort" | "hevc" | "hevcMain10" | "av1" | "av1Main10"> | false;
  /** Clients paired beforehand (e.g. restored from disk). */
  pairedClients?: { uniqueId: string; certPem: string; deviceName?: string }[];
}

export interface SimHostEvents {
  /** Phase 1 arrived and no fixed PIN is set: waiting for submitPin(). */
  pinRequested: [{ uniqueId: string; deviceName: string }];
  paired: [PairedClient];
  unpaired: [{ uniqueId: string }];
  launch: [SimLaunchSession];
  resume: [SimLaunchSession];
  cancel: [];
  /** An input packet arrived through the control stream (also appended to `inputLog`). */
  input: [SimInputEvent];
}

/** Two apps with generated box art. */
export function defaultSimApps(): SimApp[] {
  return [
    { id: 881448767, title: "Desktop", hdrSupported: false, boxArt: gradientBoxArt([32, 64, 160], [8, 16, 48]) },
    { id: 1093255277, title: "Test Pattern", hdrSupported: false, boxArt: gradientBoxArt([200, 60, 40], [250, 200, 40]) },
  ];
}

const xml = (statusCode: number, children: XmlNode[] = [], statusMessage?: string, query?: string): SimHttpResponse => {
  const attrs: Parameters<typeof serializeNvHttpDocument>[0] = { statusCode };
  if (statusMessage !== undefined) attrs.statusMessage = statusMessage;
  if (query !== undefined) attrs.query = query;
  return { status: 200, contentType: "application/xml", body: serializeNvHttpDocument(attrs, children) };
};

export class SimHost extends EventEmitter<SimHostEvents> {
  /** Read by the media half. */
  readonly state: SimHostState = { runningApp: undefined, session: undefined, rtspPort: 0 };
  readonly identity: CertificateIdentity;
  readonly uniqueId: string;
  readonly hostname: string;
  readonly #options: SimHostOptions;
  readonly #apps: SimApp[];
  readonly #pairing: PairingHost;
  readonly #paired: (PairedClient & { deviceName: string })[] = [];
  #pendingPin: { resolve: (pin: string) => void; uniqueId: string } | undefined;
  #http: SimHttpServer | undefined;
  #https: SimHttpServer | undefined;
  #media: SimMediaHost | undefined;
  #ports: { httpPort: number; httpsPort: number } | undefined;
  #sessionCounter = 0;
  #closed = false;

  constructor(given: SimHostOptions = {}) {
    super();
    const preset = given.flavor ? flavorDefaults(given.flavor) : undefined;
    const options: SimHostOptions = preset
      ? { ...preset, ...given, media: given.media === false ? false : { ...preset.media, ...(given.media ?? {}) } }
      : given;
    if (options.pin !== undefined && !/^\d{4}$/.test(options.pin)) throw new RangeError("the PIN must be exactly four digits");
    this.#options = options;
    this.identity = options.identity ?? createSelfSignedIdentity({ subject: { CN: "Sunshine Gamestream Host" }, serialHex: "00" });
    this.uniqueId = options.uniqueId ?? randomUUID();
    this.hostname = options.hostname ?? "mlstream-sim";
    this.#apps = options.apps ?? defaultSimApps();
    const appVersion = parseAppVersion(options.appVersion ?? "7.1.431.-1");
    this.#pairing = new PairingHost({
      certPem: this.identity.certPem,
      keyPem: this.identity.keyPem,
      hash: protocolFeatures(appVersion).pairingHash,
      onPaired: (client) => this.#addPaired(client),
    });
    for (const client of options.pairedClients ?? []) {
      this.#addPaired({ uniqueId: client.uniqueId, deviceName: client.deviceName ?? "", certPem: client.certPem, certDer: certificateDer(client.certPem) });
    }
  }

  get apps(): readonly App[] {
    return this.#apps.map(({ boxArt: _boxArt, ...app }) => app);
  }

  /** Clients whose certificates are paired. */
  get pairedClients(): readonly { uniqueId: string; deviceName: string; certPem: string }[] {
    return this.#paired.map(({ uniqueId, deviceName, certPem }) => ({ uniqueId, deviceName, certPem }));
  }

  get ports(): { httpPort: number; httpsPort: number } | undefined {
    return this.#ports;
  }

  async start(): Promise<{ httpPort: number; httpsPort: number }> {
    if (this.#ports) return this.#ports;
    if (this.#closed) throw new Error("SimHost is closed");
    const bind = this.#options.bindAddress ?? "127.0.0.1";
    this.#http = new SimHttpServer({ handler: (r) => this.#handle(r) });
    this.#https = new SimHttpServer({ handler: (r) => this.#handle(r), tls: this.identity });
    try {
      const httpPort = await this.#http.listen(this.#options.httpPort ?? 0, bind);
      const httpsPort = await this.#https.listen(this.#options.httpsPort ?? 0, bind);
      this.#ports = { httpPort, httpsPort };
    } catch (error) {
      await this.close();
      throw error;
    }
    const fixedHttp = this.#options.httpPort !== undefined && this.#options.httpPort !== 0;
    this.state.rtspPort = this.#options.rtspPort ?? (fixedHttp ? this.#ports.httpPort + 21 : 0);
    if (this.#options.media !== false) {
      const base = fixedHttp ? this.#ports.httpPort : undefined;
      const media = this.#options.media ?? {};
      try {
        this.#media = await SimMediaHost.start(this.state, {
          ...(base !== undefined ? { videoPort: base + 9, controlPort: base + 10, audioPort: base + 11 } : {}),
          ...media,
          bindAddress: bind,
          rtspPort: this.state.rtspPort,
          hevc: ((this.#options.codecModeSupport ?? SCM.H264) & SCM.HEVC) !== 0,
          hevcMain10: ((this.#options.codecModeSupport ?? SCM.H264) & SCM.HEVC_MAIN10) !== 0,
          av1: ((this.#options.codecModeSupport ?? SCM.H264) & SCM.AV1_MAIN8) !== 0,
          av1Main10: ((this.#options.codecModeSupport ?? SCM.H264) & SCM.AV1_MAIN10) !== 0,
        });
      } catch (error) {
        await this.close();
        throw error;
      }
      this.#media.on("input", (event) => this.emit("input", event));
      this.state.rtspPort = this.#media.ports.rtsp;
    }
    log.debug(`listening: HTTP ${this.#ports.httpPort}, HTTPS ${this.#ports.httpsPort}`);
    return this.#ports;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pendingPin = undefined;
    await Promise.all([this.#http?.close(), this.#https?.close(), this.#media?.close()]);
  }

  /** The media half (undefined before start() or with `media: false`). */
  get media(): SimMediaHost | undefined {
    return this.#media;
  }

  /** Input packets the client sent through the control stream, oldest first. */
  get inputLog(): readonly SimInputEvent[] {
    return this.#media?.inputLog ?? [];
  }

  /** Ends the current stream with a termination message (default 0x80030023) and an ENet disconnect. */
  endSession(code?: number): boolean {
    return this.#media?.endSession(code) ?? false;
  }

  /** The operator types the PIN shown by the client (releases a held phase 1). */
  submitPin(pin: string): boolean {
    if (!/^\d{4}$/.test(pin) || !this.#pendingPin) return false;
    const pending = this.#pendingPin;
    this.#pendingPin = undefined;
    pending.resolve(pin);
    return true;
  }

  /** Forget a paired client (as if removed in the host's UI). */
  unpairClient(uniqueId: string): void {
    this.#removePaired((c) => c.uniqueId === uniqueId);
  }

  #addPaired(client: PairedClient): void {
    this.#removePaired((c) => c.certDer.equals(client.certDer));
    this.#paired.push({ ...client });
    this.emit("paired", client);
  }

  #removePaired(match: (client: PairedClient) => boolean): void {
    for (let i = this.#paired.length - 1; i >= 0; i--) {
      const client = this.#paired[i] as PairedClient;
      if (match(client)) {
        this.#paired.splice(i, 1);
        this.emit("unpaired", { uniqueId: client.uniqueId });
      }
    }
  }

  async #handle(request: SimHttpRequest): Promise<SimHttpResponse> {
    if (request.https) {
      const der = request.peerCertDer;
      if (!der || !this.#paired.some((c) => c.certDer.equals(der))) {
        // Wolf's answer (HTTP 401); Sunshine sends the same XML with HTTP 200.
        const reply = xml(401, [], "The client is not authorized. Certificate verification failed.", request.path);
        return { ...reply, status: 401 };
      }
    }
    if (request.method === "POST" && request.path === "/pin/" && !request.https) return this.#pinEndpoint(request);
    if (request.method !== "GET") return { ...xml(404), status: 404 };
    const uniqueId = request.query.get("uniqueid");
    switch (request.path) {
      case "/serverinfo":
        return this.#serverInfo(request);
      case "/pair":
        if (uniqueId === null) return xml(400, [], "Missing uniqueid parameter");
        return this.#pair(request, uniqueId);
      case "/unpair":
        if (uniqueId !== null) {
          this.#pairing.drop(uniqueId);
          if (this.#pendingPin?.uniqueId === uniqueId) this.#pendingPin = undefined;
          this.#removePaired((c) => c.uniqueId === uniqueId);
        }
        return xml(200);
    }
    if (!request.https) return { ...xml(404), status: 404 };
    switch (request.path) {
      case "/applist":
        return xml(200, appListNodes(this.apps));
      case "/appasset": {
        const app = this.#apps.find((a) => String(a.id) === request.query.get("appid"));
        if (!app) return { ...xml(404, [], "Invalid app id"), status: 404 };
        return { status: 200, contentType: "image/png", body: app.boxArt };
      }
      case "/launch":
        return this.#launch(request, false);
      case "/resume":
        return this.#launch(request, true);
      case "/cancel":
        if (this.state.runningApp) log.info(`cancel: ${this.state.runningApp.title} stopped`);
        this.#media?.endSession();
        this.state.runningApp = undefined;
        this.state.session = undefined;
        this.emit("cancel");
        return xml(200, [{ name: "cancel", text: 1 }]);
    }
    return { ...xml(404), status: 404 };
  }

  #serverInfo(request: SimHttpRequest): SimHttpResponse {
    const ports = this.#ports as { httpPort: number; httpsPort: number };
    const local = request.localAddress.replace(/^::ffff:/, "");
    return xml(
      200,
      serverInfoNodes({
        hostname: this.hostname,
        appVersion: this.#options.appVersion ?? "7.1.431.-1",
        gfeVersion: this.#options.gfeVersion ?? "3.23.0.74",
        uniqueId: this.uniqueId,
        httpsPort: ports.httpsPort,
        externalPort: ports.httpPort,
        maxLumaPixelsHevc: this.#options.maxLumaPixelsHevc ?? 0,
        // Sunshine hides the MAC from unpaired (plain HTTP) requests.
        mac: request.https ? (this.#options.mac ?? "02:00:00:00:00:01") : "00:00:00:00:00:00",
        // Like Sunshine: LocalIP is meant to be IPv4, so an IPv6 request gets 127.0.0.1.
        localIp: isIPv6(local) ? "127.0.0.1" : local,
        codecModeSupport: this.#options.codecModeSupport ?? SCM.H264,
        paired: request.https && request.query.has("uniqueid"),
        currentGame: this.state.runningApp?.id ?? 0,
        busy: this.state.runningApp !== undefined,
        displayModes: this.#options.displayModes ?? [],
      }),
    );
  }

  async #pair(request: SimHttpRequest, uniqueId: string): Promise<SimHttpResponse> {
    const q = request.query;
    const reply = (r: PairReply) => xml(r.statusCode, r.children, r.statusMessage);
    const phrase = q.get("phrase");
    if (phrase === "pairchallenge") {
      // Only reachable over HTTPS past the paired-certificate check.
      return request.https ? xml(200, [{ name: "paired", text: 1 }]) : xml(400, [{ name: "paired", text: 0 }], "pairchallenge requires HTTPS");
    }
    if (phrase === "getservercert") {
      if (this.#pairing.busyFor(uniqueId) || (this.#pendingPin && this.#pendingPin.uniqueId !== uniqueId)) {
        return reply(PairingHost.inProgressReply());
      }
      const deviceName = q.get("devicename") ?? "";
      const pin = this.#options.pin ?? (await this.#waitForPin(uniqueId, deviceName, request.closed));
      if (pin === undefined) return xml(400, [{ name: "paired", text: 0 }], "Pairing abandoned");
      return reply(this.#pairing.getServerCert(uniqueId, deviceName, q.get("salt") ?? "", q.get("clientcert") ?? "", pin));
    }
    if (phrase !== null) return xml(404, [], "Invalid pairing request");
    return reply(this.#pairing.continue(uniqueId, q));
  }

  #waitForPin(uniqueId: string, deviceName: string, closed: AbortSignal): Promise<string | undefined> {
    return new Promise((resolve) => {
      const pending = { uniqueId, resolve: (pin: string) => resolve(pin) };
      this.#pendingPin = pending;
      closed.addEventListener("abort", () => {
        if (this.#pendingPin === pending) this.#pendingPin = undefined;
        resolve(undefined);
      });
      log.info(`pairing request from "${deviceName || uniqueId}": waiting for the PIN`);
      this.emit("pinRequested", { uniqueId, deviceName });
    });
  }

  #pinEndpoint(request: SimHttpRequest): SimHttpResponse {
    let pin: unknown;
    try {
      pin = (JSON.parse(new TextDecoder().decode(request.body)) as { pin?: unknown }).pin;
    } catch {
      pin = undefined;
    }
    const accepted = typeof pin === "string" && this.submitPin(pin);
    return { status: accepted ? 200 : 400, contentType: "text/plain", body: accepted ? "OK" : "no pairing waiting for a PIN" };
  }

  #launch(request: SimHttpRequest, resume: boolean): SimHttpResponse {
    const q = request.query;
    const verdict = resume ? "resume" : "gamesession";
    const failure = (code: number, message: string) => xml(code, [{ name: verdict, text: 0 }], message);
    if (resume && !this.state.runningApp) return failure(503, "No running app to resume");
    const required = resume ? ["rikey", "rikeyid"] : ["rikey", "rikeyid", "localAudioPlayMode", "appid"];
    if (required.some((name) => !q.has(name))) return failure(400, `Missing a required ${resume ? "resume" : "launch"} parameter`);
    const rikeyHex = q.get("rikey") ?? "";
    const rikeyId = Number(q.get("rikeyid"));
    if (!/^[0-9a-fA-F]{32}$/.test(rikeyHex) || !Number.isInteger(rikeyId) || rikeyId < -0x80000000 || rikeyId > 0xffffffff) {
      return failure(400, "Invalid rikey or rikeyid");
    }
    let app = this.state.runningApp;
    if (!resume) {
      if (app) return failure(400, "An app is already running on this host");
      app = this.#apps.find((a) => String(a.id) === q.get("appid"));
      if (!app) return failure(404, "Failed to start the specified application");
    }
    const ivPrefix = Buffer.alloc(4);
    ivPrefix.writeInt32BE(rikeyId | 0);
    const keys = sessionKeysFrom(Buffer.from(rikeyHex, "hex"), ivPrefix);
    const coreVersion = Number(q.get("corever") ?? "0") || 0;
    const scheme = this.#options.encryptedRtsp && coreVersion >= 1 ? "rtspenc://" : "rtsp://";
    const local = request.localAddress.replace(/^::ffff:/, "");
    const sessionUrl = `${scheme}${hostForUrl(local)}:${this.state.rtspPort || 48010}`;
    const mode = parseMode(q.get("mode") ?? undefined);
    const previous = this.state.session;
    const flag = (name: string, fallback: boolean) => (q.has(name) ? q.get(name) === "1" : fallback);
    const session: SimLaunchSession = {
      id: ++this.#sessionCounter,
      appId: (app as App).id,
      ...mode,
      rikey: keys.rikey,
      rikeyId: keys.rikeyId,
      rikeyIv: keys.rikeyIv,
      surroundAudioInfo: Number(q.get("surroundAudioInfo") ?? "196610") || 196610,
      surroundParams: q.get("surroundParams") ?? "",
      localAudioPlayMode: flag("localAudioPlayMode", previous?.localAudioPlayMode ?? false),
      sops: flag("sops", false),
      gamepadMask: Number(q.get("gcmap") ?? "0") || 0,
      hdr: flag("hdrMode", false),
      continuousAudio: flag("continuousAudio", false),
      coreVersion,
      sessionUrl,
      avPingPayload: randomBytes(8).toString("hex").toUpperCase(),
      controlConnectData: randomBytes(4).readUInt32BE(0),
      clientUniqueId: q.get("uniqueid") ?? "",
      resumed: resume,
      createdAt: Date.now(),
    };
    this.state.runningApp = app;
    this.state.session = session;
    log.info(`${resume ? "resume" : "launch"}: ${(app as App).title} ${mode.width}x${mode.height}@${mode.fps}`);
    this.emit(resume ? "resume" : "launch", session);
    return xml(200, [
      { name: "sessionUrl0", text: sessionUrl },
      { name: verdict, text: 1 },
    ]);
  }
}
