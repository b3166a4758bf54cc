/**
 * Host side of the five pairing phases (reference §1.4), keyed by the client's `uniqueid`.
 *
 * One attempt at a time: a second client that starts while another attempt is open gets
 * `paired=1` without `plaincert`, the reply real clients read as "already pairing". Out-of-order
 * phases get Sunshine's `400 Out of order call to …` and drop the attempt. A wrong PIN is found where
 * the real host finds it, at phase 4 (`paired=0`); the client normally notices first, after phase 3.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import type { PairingHash } from "../moonlight/http/pairing-crypto.ts";
import {
  aesEcbDecrypt,
  aesEcbEncrypt,
  certificateSignature,
  derivePairingKey,
  hashLength,
  pairingDigest,
  signSha256,
  verifySha256,
} from "../moonlight/http/pairing-crypto.ts";
import type { XmlNode } from "../moonlight/http/nvhttp-xml.ts";

/** An abandoned attempt stops blocking others after this long. */
const ATTEMPT_IDLE_MS = 60_000;

type Phase = "getservercert" | "clientchallenge" | "serverchallengeresp";

interface Attempt {
  uniqueId: string;
  deviceName: string;
  clientCertPem: string;
  key: Buffer;
  phase: Phase;
  serverSecret?: Buffer;
  serverChallenge?: Buffer;
  clientHash?: Buffer;
  touchedAt: number;
}

/** The reply to one /pair request: `<root status_code>` attributes and children. */
export interface PairReply {
  statusCode: number;
  statusMessage?: string;
  children: XmlNode[];
}

export interface PairedClient {
  uniqueId: string;
  deviceName: string;
  certPem: string;
  certDer: Buffer;
}

const ok = (children: XmlNode[]): PairReply => ({ statusCode: 200, children });
const fail = (statusCode: number, statusMessage: string): PairReply => ({ statusCode, statusMessage, children: [{ name: "paired", text: 0 }] });

export class PairingHost {
  readonly #serverCertPem: string;
  readonly #serverKeyPem: string;
  readonly #serverCertSignature: Buffer;
  readonly #hash: PairingHash;
  #attempt: Attempt | undefined;
  readonly #onPaired: (client: PairedClient) => void;

  constructor(options: { certPem: string; keyPem: string; hash: PairingHash; onPaired: (client: PairedClient) => void }) {
    this.#serverCertPem = options.certPem;
    this.#serverKeyPem = options.keyPem;
    this.#serverCertSignature = certificateSignature(options.certPem);
    this.#hash = options.hash;
    this.#onPaired = options.onPaired;
  }

  /** Someone else's attempt is open (and not abandoned). */
  busyFor(uniqueId: string): boolean {
    const attempt = this.#attempt;
    if (!attempt) return false;
    if (Date.now() - attempt.touchedAt > ATTEMPT_IDLE_MS) {
      this.#attempt = undefined;
      return false;
    }
    return attempt.uniqueId !== uniqueId;
  }

  /** Forget the open attempt of this client (on /unpair, or when its held request goes away). */
  drop(uniqueId: string): void {
    if (this.#attempt?.uniqueId === uniqueId) this.#attempt = undefined;
  }

  /**
   * Phase 1 once the PIN is known. The caller has checked `busyFor` and holds the request until
   * the operator's PIN arrives.
   */
  getServerCert(uniqueId: string, deviceName: string, saltHex: string, clientCertHex: string, pin: string): PairReply {
    if (!/^[0-9a-fA-F]{32,}$/.test(saltHex)) return fail(400, "Salt too short");
    let clientCertPem: string;
    try {
      clientCertPem = Buffer.from(clientCertHex, "hex").toString("utf8");
      new X509Certificate(clientCertPem);
    } catch {
      return fail(400, "Invalid client certificate");
    }
    const salt = Buffer.from(saltHex.slice(0, 32), "hex");
    this.#attempt = {
      uniqueId,
      deviceName,
      clientCertPem,
      key: derivePairingKey(this.#hash, salt, pin),
      phase: "getservercert",
      touchedAt: Date.now(),
    };
    return ok([
      { name: "paired", text: 1 },
      { name: "plaincert", text: Buffer.from(this.#serverCertPem, "utf8").toString("hex").toUpperCase() },
    ]);
  }

  /** The reply for a second client while another pairs. */
  static inProgressReply(): PairReply {
    return ok([{ name: "paired", text: 1 }]);
  }

  /** Phases 2–4 over HTTP. */
  continue(uniqueId: string, query: URLSearchParams): PairReply {
    const attempt = this.#attempt;
    if (!attempt || attempt.uniqueId !== uniqueId) return fail(400, "Invalid uniqueid");
    attempt.touchedAt = Date.now();
    const hex = (name: string) => {
      const value = query.get(name);
      return value !== null && /^([0-9a-fA-F]{2})*$/.test(value) ? Buffer.from(value, "hex") : undefined;
    };
    if (query.has("clientchallenge")) return this.#clientChallenge(attempt, hex("clientchallenge"));
    if (query.has("serverchallengeresp")) return this.#serverChallengeResp(attempt, hex("serverchallengeresp"));
    if (query.has("clientpairingsecret")) return this.#clientPairingSecret(attempt, hex("clientpairingsecret"));
    return { statusCode: 404, statusMessage: "Invalid pairing request", children: [] };
  }

  #outOfOrder(call: string): PairReply {
    this.#attempt = undefined;
    return fail(400, `Out of order call to ${call}`);
  }

  #clientChallenge(attempt: Attempt, encrypted: Buffer | undefined): PairReply {
    if (attempt.phase !== "getservercert") return this.#outOfOrder("clientchallenge");
    if (!encrypted || encrypted.length === 0 || encrypted.length % 16 !== 0) return this.#outOfOrder("clientchallenge");
    const challenge = aesEcbDecrypt(attempt.key, encrypted);
    const serverSecret = randomBytes(16);
    const serverChallenge = randomBytes(16);
    const hash = pairingDigest(this.#hash, challenge, this.#serverCertSignature, serverSecret);
    // SHA-1 (20 bytes) + 16 is not a block multiple: zero-pad like the client does in phase 3.
    const plain = Buffer.alloc(Math.ceil((hashLength(this.#hash) + 16) / 16) * 16);
    plain.set(hash);
    plain.set(serverChallenge, hash.length);
    attempt.serverSecret = serverSecret;
    attempt.serverChallenge = serverChallenge;
    attempt.phase = "clientchallenge";
    return ok([
      { name: "paired", text: 1 },
      { name: "challengeresponse", text: aesEcbEncrypt(attempt.key, plain).toString("hex").toUpperCase() },
    ]);
  }

  #serverChallengeResp(attempt: Attempt, encrypted: Buffer | undefined): PairReply {
    if (attempt.phase !== "clientchallenge" || !attempt.serverSecret) return this.#outOfOrder("serverchallengeresp");
    if (!encrypted || encrypted.length === 0 || encrypted.length % 16 !== 0) return this.#outOfOrder("serverchallengeresp");
    attempt.clientHash = aesEcbDecrypt(attempt.key, encrypted);
    attempt.phase = "serverchallengeresp";
    const signature = signSha256(this.#serverKeyPem, attempt.serverSecret);
    return ok([
      { name: "pairingsecret", text: Buffer.concat([attempt.serverSecret, signature]).toString("hex").toUpperCase() },
      { name: "paired", text: 1 },
    ]);
  }

  #clientPairingSecret(attempt: Attempt, secret: Buffer | undefined): PairReply {
    if (attempt.phase !== "serverchallengeresp" || !attempt.serverChallenge || !attempt.clientHash) {
      return this.#outOfOrder("clientpairingsecret");
    }
    this.#attempt = undefined; // the attempt ends here, whatever the verdict
    if (!secret || secret.length <= 16) return fail(400, "Client pairing secret too short");
    const clientSecret = secret.subarray(0, 16);
    const expected = pairingDigest(this.#hash, attempt.serverChallenge, certificateSignature(attempt.clientCertPem), clientSecret);
    const received = attempt.clientHash.subarray(0, expected.length);
    const sameHash = received.equals(expected);
    const signed = verifySha256(attempt.clientCertPem, clientSecret, secret.subarray(16));
    if (!sameHash || !signed) return ok([{ name: "paired", text: 0 }]);
    this.#onPaired({
      uniqueId: attempt.uniqueId,
      deviceName: attempt.deviceName,
      certPem: attempt.clientCertPem,
      certDer: Buffer.from(new X509Certificate(attempt.clientCertPem).raw),
    });
    return ok([{ name: "paired", text: 1 }]);
  }
}
