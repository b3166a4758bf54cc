/**
 * Long-lived identities: the client's key + self-signed certificate (used as TLS client certificate
 * and inside pairing) and, for the simulated host, the server's.
 *
 * Made the way Moonlight clients make theirs: RSA-2048, X.509 v3, serial 0, subject = issuer =
 * `CN=NVIDIA GameStream Client`, sha256WithRSAEncryption, no extensions, 20 years' validity.
 * Hosts compare the presented certificate byte for byte with the one they paired, so an identity
 * must be persisted and reused unchanged (the lead's store does that; here they are plain values).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

export interface ClientIdentity {
  /** The `uniqueid` query parameter sent with every request (16 hex digits). */
  uniqueId: string;
  /** Self-signed certificate, PEM. */
  certPem: string;
  /** Its RSA private key, PKCS#8 PEM. */
  keyPem: string;
}

export interface CertificateIdentity {
  certPem: string;
  keyPem: string;
}

export interface SelfSignedOptions {
  /** Subject (= issuer) attributes, e.g. `{ CN: "NVIDIA GameStream Client" }`. */
  subject: Record<string, string>;
  /** Serial number as hex digits; Moonlight uses "00". */
  serialHex?: string;
  validityYears?: number;
  /** Start of validity; defaults to now. */
  notBefore?: Date;
}

export const CLIENT_CERT_COMMON_NAME = "NVIDIA GameStream Client";

/** An RSA-2048 key (native, fast) and a self-signed sha256WithRSA certificate over it (forge). */
export function createSelfSignedIdentity(options: SelfSignedOptions): CertificateIdentity {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 0x10001 });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.rsa.setPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = options.serialHex ?? "00";
  const notBefore = options.notBefore ?? new Date();
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (options.validityYears ?? 20));
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const attrs = Object.entries(options.subject).map(([shortName, value]) => ({ shortName, value }));
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert).replace(/\r\n/g, "\n"), keyPem };
}

/** A random client id: 16 upper-case hex digits (the shape of moonlight-embedded's `uniqueid.dat`). */
export function createUniqueId(): string {
  return randomBytes(8).toString("hex").toUpperCase();
}

/** A fresh client identity, as a real Moonlight client creates on first start. */
export function createClientIdentity(): ClientIdentity {
  const { certPem, keyPem } = createSelfSignedIdentity({
    subject: { CN: CLIENT_CERT_COMMON_NAME },
    serialHex: "00",
    validityYears: 20,
  });
  return { uniqueId: createUniqueId(), certPem, keyPem };
}
