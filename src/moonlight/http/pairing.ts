/**
 * Client side of GameStream pairing, all five phases (reference §1.4).
 *
 *   1 HTTP  phrase=getservercert&salt=hex(salt)&clientcert=hex(PEM)   → plaincert   (waits for the PIN)
 *   2 HTTP  clientchallenge=hex(E(cc))                                 → E(H(cc‖sig(S)‖ss) ‖ sc)
 *   3 HTTP  serverchallengeresp=hex(E(pad(H(sc‖sig(C)‖cs))))           → ss ‖ Sign_S(ss)
 *   4 HTTP  clientpairingsecret=hex(cs ‖ Sign_C(cs))                   → paired=1
 *   5 HTTPS phrase=pairchallenge                                       → paired=1
 *
 * Every /pair request starts `uniqueid=…&uuid=…&devicename=roth&updateState=1`. A wrong PIN shows
 * after phase 3 (the host's hash over our challenge does not match). After a failure or
 * cancellation past phase 1, `/unpair` makes a GFE host drop the half-done attempt (Sunshine drops
 * it by itself); but /unpair drops the whole client, so it is sent only when the host says this
 * client is not paired: a failed re-pairing must never break a pairing that works.
 */
import { randomBytes, randomInt, X509Certificate } from "node:crypto";
import { logger } from "../../core/log.ts";
import {
  MalformedResponseError,
  NotPairedError,
  PairingCancelledError,
  PairingFailedError,
  PairingInProgressError,
  RequestAbortedError,
  WrongPinError,
} from "../errors.ts";
import type { ClientIdentity } from "./identity.ts";
import type { QueryParams, RequestOptions } from "./nvhttp-transport.ts";
import type { NvHttpDocument } from "./nvhttp-xml.ts";
import {
  aesEcbDecrypt,
  aesEcbEncrypt,
  certificateSignature,
  derivePairingKey,
  hashLength,
  padToBlock,
  pairingDigest,
  signSha256,
  verifySha256,
  type PairingHash,
} from "./pairing-crypto.ts";
import type { ServerInfo } from "./serverinfo.ts";

const log = logger("pairing");

/**
 * What pairing needs of the nvhttp client (nvhttp.ts's NvHttpClient has it), named here so that
 * the client, which offers `pair()`, and pairing do not import each other.
 */
export interface PairingClient {
  readonly identity: ClientIdentity;
  /** The pinned host certificate: set when the host sends it, restored if pairing fails. */
  serverCertPem: string | undefined;
  serverInfo(options?: { https?: boolean; signal?: AbortSignal }): Promise<ServerInfo>;
  requestXml(path: string, params?: QueryParams, options?: RequestOptions): Promise<NvHttpDocument>;
  unpair(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<boolean>;
}

export type PairingPhase = "getservercert" | "clientchallenge" | "serverchallengeresp" | "clientpairingsecret" | "pairchallenge";

export interface PairOptions {
  /** Four digits; generated when absent (hand it to the user through `onPin`). */
  pin?: string;
  /** Called with the PIN before phase 1, which waits until it is typed on the host. */
  onPin?: (pin: string) => void;
  /** Called as each phase starts (for a spinner). */
  onProgress?: (phase: PairingPhase, index: number) => void;
  signal?: AbortSignal;
  /** A /serverinfo answer already at hand (its appversion picks the hash); fetched over HTTP otherwise. */
  serverInfo?: ServerInfo;
  /** `devicename` parameter; real clients send "roth". */
  deviceName?: string;
  /** How long phase 1 may wait for the PIN on the host; default 120 s, null = no limit. */
  pinTimeoutMs?: number | null;
  /** Fixed random values (tests, fixture replay); fresh random bytes otherwise. */
  random?: { salt?: Uint8Array; clientChallenge?: Uint8Array; clientSecret?: Uint8Array };
}

export interface PairResult {
  /** The host certificate to pin for HTTPS (PEM, as the host sent it). */
  serverCertPem: string;
  serverInfo: ServerInfo;
}

/** A random four-digit PIN. */
export function generatePin(): string {
  return String(randomInt(0, 10_000)).padStart(4, "0");
}

function fromHex(doc: NvHttpDocument, name: string): Buffer | undefined {
  const text = doc.text(name)?.trim();
  if (text === undefined || text === "") return undefined;
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) throw new MalformedResponseError(`<${name}> is not hex`);
  return Buffer.from(text, "hex");
}

function requirePaired(doc: NvHttpDocument, phase: PairingPhase): void {
  if (doc.text("paired")?.trim() !== "1") throw new PairingFailedError(`the host refused pairing at ${phase} (paired=0)`);
}

function sized(bytes: Uint8Array | undefined, length: number, what: string): Buffer {
  const value = bytes ? Buffer.from(bytes) : randomBytes(length);
  if (value.length !== length) throw new RangeError(`${what} must be ${length} bytes`);
  return value;
}

export async function pair(client: PairingClient, options: PairOptions = {}): Promise<PairResult> {
  const signal = options.signal;
  const pin = options.pin ?? generatePin();
  if (!/^\d{4}$/.test(pin)) throw new RangeError("the PIN must be exactly four digits");
  const salt = sized(options.random?.salt, 16, "salt");
  const clientChallenge = sized(options.random?.clientChallenge, 16, "client challenge");
  const clientSecret = sized(options.random?.clientSecret, 16, "client secret");
  const pairParams: QueryParams = [
    ["devicename", options.deviceName ?? "roth"],
    ["updateState", "1"],
  ];

  if (signal?.aborted) throw new PairingCancelledError("pairing cancelled before it started");
  const serverInfo = options.serverInfo ?? (await withCancel(() => client.serverInfo({ https: false, ...(signal ? { signal } : {}) })));
  const hash: PairingHash = serverInfo.features.pairingHash;
  const key = derivePairingKey(hash, salt, pin);
  let started = false;
  // A failed re-pairing must not lose the certificate pinned by an earlier success.
  const previouslyPinned = client.serverCertPem;

  const phase = async (name: PairingPhase, index: number, params: QueryParams, https = false, timeoutMs?: number | null) => {
    if (signal?.aborted) throw new RequestAbortedError("cancelled");
    options.onProgress?.(name, index);
    const requestOptions: Parameters<PairingClient["requestXml"]>[2] = { https };
    if (signal) requestOptions.signal = signal;
    if (timeoutMs !== undefined) requestOptions.timeoutMs = timeoutMs;
    return client.requestXml("/pair", [...pairParams, ...params], requestOptions);
  };

  try {
    options.onPin?.(pin);
    // Phase 1: the host holds this reply until its operator types the PIN.
    started = true;
    const phase1 = await phase(
      "getservercert",
      1,
      [["phrase", "getservercert"], ["salt", salt.toString("hex")], ["clientcert", Buffer.from(client.identity.certPem, "utf8").toString("hex")]],
      false,
      options.pinTimeoutMs === undefined ? 120_000 : options.pinTimeoutMs,
    );
    requirePaired(phase1, "getservercert");
    const serverCertBytes = fromHex(phase1, "plaincert");
    if (serverCertBytes === undefined) throw new PairingInProgressError("the host is already pairing with another client");
    const serverCertPem = serverCertBytes.toString("utf8");
    try {
      new X509Certificate(serverCertPem);
    } catch {
      throw new MalformedResponseError("plaincert is not a certificate");
    }

    // Pinned from here on: phase 5 already goes over HTTPS.
    client.serverCertPem = serverCertPem;

    // Phase 2: our challenge; the host answers with its hash over it and its own challenge.
    const phase2 = await phase("clientchallenge", 2, [["clientchallenge", aesEcbEncrypt(key, clientChallenge).toString("hex")]]);
    requirePaired(phase2, "clientchallenge");
    const encryptedResponse = fromHex(phase2, "challengeresponse");
    const hlen = hashLength(hash);
    if (encryptedResponse === undefined || encryptedResponse.length % 16 !== 0 || encryptedResponse.length < hlen + 16) {
      throw new MalformedResponseError("challengeresponse missing or of the wrong size");
    }
    const challengeResponse = aesEcbDecrypt(key, encryptedResponse);
    const serverResponse = challengeResponse.subarray(0, hlen);
    const serverChallenge = challengeResponse.subarray(hlen, hlen + 16);

    // Phase 3: prove we know the PIN; receive the host's secret and its signature.
    const clientHash = pairingDigest(hash, serverChallenge, certificateSignature(client.identity.certPem), clientSecret);
    const phase3 = await phase("serverchallengeresp", 3, [["serverchallengeresp", aesEcbEncrypt(key, padToBlock(clientHash)).toString("hex")]]);
    requirePaired(phase3, "serverchallengeresp");
    const pairingSecret = fromHex(phase3, "pairingsecret");
    if (pairingSecret === undefined || pairingSecret.length <= 16) throw new MalformedResponseError("pairingsecret missing or too short");
    const serverSecret = pairingSecret.subarray(0, 16);
    if (!verifySha256(serverCertPem, serverSecret, pairingSecret.subarray(16))) {
      throw new PairingFailedError("the host's pairing secret is not signed by its certificate (man in the middle?)");
    }
    const expected = pairingDigest(hash, clientChallenge, certificateSignature(serverCertPem), serverSecret);
    if (!expected.equals(serverResponse)) throw new WrongPinError("the PIN entered on the host does not match");

    // Phase 4: our secret, signed, lets the host check phase 3.
    const signedSecret = Buffer.concat([clientSecret, signSha256(client.identity.keyPem, clientSecret)]);
    const phase4 = await phase("clientpairingsecret", 4, [["clientpairingsecret", signedSecret.toString("hex")]]);
    requirePaired(phase4, "clientpairingsecret");

    // Phase 5: over TLS with our certificate, the host's pinned.
    const phase5 = await phase("pairchallenge", 5, [["phrase", "pairchallenge"]], true);
    requirePaired(phase5, "pairchallenge");
    log.debug(`paired with ${serverInfo.hostname}`);
    return { serverCertPem, serverInfo };
  } catch (error) {
    if (started) {
      if (previouslyPinned === undefined || !(await stillPaired(client, previouslyPinned))) await sendUnpair(client);
      client.serverCertPem = previouslyPinned;
    }
    if (error instanceof RequestAbortedError || signal?.aborted) throw new PairingCancelledError("pairing cancelled");
    throw error;
  }

  async function withCancel<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof RequestAbortedError || signal?.aborted) throw new PairingCancelledError("pairing cancelled");
      throw error;
    }
  }
}

/**
 * Whether the host still accepts this client (HTTPS /serverinfo with `certPem` pinned). Only a
 * "not paired" answer counts as no; a host that cannot be asked counts as yes, so that a pairing
 * is never put at risk.
 */
async function stillPaired(client: PairingClient, certPem: string): Promise<boolean> {
  client.serverCertPem = certPem;
  try {
    await client.requestXml("/serverinfo", [], { https: true, timeoutMs: 2_000 });
    return true;
  } catch (error) {
    if (!(error instanceof NotPairedError)) log.debug(`could not ask whether we are still paired: ${(error as Error).message}`);
    return !(error instanceof NotPairedError);
  }
}

/** Best effort: tell the host to drop our half-done attempt; never throws. */
async function sendUnpair(client: PairingClient): Promise<void> {
  try {
    await client.unpair({ timeoutMs: 2_000 });
  } catch (error) {
    log.debug(`unpair after a failed pairing: ${(error as Error).message}`);
  }
}
