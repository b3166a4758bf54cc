import { describe, expect, test } from "bun:test";
import { createPrivateKey, sign, verify, X509Certificate } from "node:crypto";
import { createClientIdentity } from "../../../src/moonlight/http/identity.ts";
import { certificateSignature } from "../../../src/moonlight/http/pairing-crypto.ts";

describe("client identity", () => {
  test("is a self-signed RSA-2048 'NVIDIA GameStream Client' certificate with serial 0 and long validity", () => {
    const identity = createClientIdentity();
    const cert = new X509Certificate(identity.certPem);
    expect(cert.subject).toBe("CN=NVIDIA GameStream Client");
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.serialNumber.replace(/^0+/, "")).toBe("");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(19);
    expect(cert.checkPrivateKey(createPrivateKey(identity.keyPem))).toBe(true);
    expect(certificateSignature(identity.certPem)).toHaveLength(256);
    const signature = sign("sha256", Buffer.from("x"), identity.keyPem);
    expect(verify("sha256", Buffer.from("x"), cert.publicKey, signature)).toBe(true);
  });

  test("each identity has its own key and a 16-hex-digit unique id", () => {
    const a = createClientIdentity();
    const b = createClientIdentity();
    expect(a.uniqueId).toMatch(/^[0-9A-F]{16}$/);
    expect(a.uniqueId).not.toBe(b.uniqueId);
    expect(a.keyPem).not.toBe(b.keyPem);
  });
});
