/**
 * Cryptographic primitives of GameStream pairing (protocol reference §1.4), shared by the client
 * (pairing.ts) and the simulated host.
 *
 *   K            = H(salt16 ‖ PIN ascii)[0..16]            H = SHA-256 (appversion ≥ 7) or SHA-1
 *   E(x) / D(x)  = AES-128-ECB with K, no padding
 *   sig(cert)    = the certificate's signatureValue bytes (not a fresh signature)
 *   Sign / Verify = RSA PKCS#1 v1.5 with SHA-256
 */
import { createCipheriv, createDecipheriv, createHash, sign, verify, X509Certificate } from "node:crypto";

export type PairingHash = "sha256" | "sha1";

export function hashLength(hash: PairingHash): number {
  return hash === "sha256" ? 32 : 20;
}

export function pairingDigest(hash: PairingHash, ...parts: Uint8Array[]): Buffer {
  const h = createHash(hash);
  for (const part of parts) h.update(part);
  return h.digest();
}

/** The AES key derived from the salt and the PIN's ASCII digits. */
export function derivePairingKey(hash: PairingHash, salt: Uint8Array, pin: string): Buffer {
  return pairingDigest(hash, salt, Buffer.from(pin, "utf8")).subarray(0, 16);
}

/** AES-128-ECB without padding; `data` must be a multiple of 16 bytes. */
export function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-128-ecb", key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

export function aesEcbDecrypt(key: Uint8Array, data: Uint8Array): Buffer {
  const decipher = createDecipheriv("aes-128-ecb", key, null);
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

/** Zero-pad to a multiple of 16 (SHA-1's 20-byte hash is sent padded to 32). */
export function padToBlock(data: Uint8Array): Buffer {
  const padded = Buffer.alloc(Math.ceil(data.length / 16) * 16);
  padded.set(data);
  return padded;
}

export function signSha256(keyPem: string, data: Uint8Array): Buffer {
  return sign("sha256", data, keyPem);
}

export function verifySha256(certPem: string, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify("sha256", data, new X509Certificate(certPem).publicKey, signature);
  } catch {
    return false;
  }
}

export function certificateDer(certPem: string): Buffer {
  return Buffer.from(new X509Certificate(certPem).raw);
}

/** Read one DER TLV header at `offset`: tag, header length, content length. */
function readTlv(der: Uint8Array, offset: number): { tag: number; header: number; length: number } {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error("truncated DER");
  if (first < 0x80) return { tag, header: 2, length: first };
  const count = first & 0x7f;
  if (count === 0 || count > 4) throw new Error("unsupported DER length");
  let length = 0;
  for (let i = 0; i < count; i++) {
    const b = der[offset + 2 + i];
    if (b === undefined) throw new Error("truncated DER");
    length = length * 256 + b;
  }
  return { tag, header: 2 + count, length };
}

/**
 * The certificate's signatureValue bytes: `Certificate ::= SEQUENCE { tbsCertificate,
 * signatureAlgorithm, signatureValue BIT STRING }`, contents after the unused-bits octet.
 * Node's X509Certificate does not expose them, so walk the DER.
 */
export function certificateSignature(certPem: string): Buffer {
  const der = certificateDer(certPem);
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30) throw new Error("certificate is not a DER SEQUENCE");
  let offset = outer.header;
  for (let i = 0; i < 2; i++) {
    const skip = readTlv(der, offset);
    offset += skip.header + skip.length;
  }
  const bits = readTlv(der, offset);
  if (bits.tag !== 0x03) throw new Error("certificate signatureValue is not a BIT STRING");
  const start = offset + bits.header + 1; // skip the unused-bits octet
  return der.subarray(start, offset + bits.header + bits.length);
}

/** Same certificate? Compared as DER, so PEM line endings and case do not matter. */
export function sameCertificate(aPem: string, bPem: string): boolean {
  try {
    return certificateDer(aPem).equals(certificateDer(bPem));
  } catch {
    return false;
  }
}
