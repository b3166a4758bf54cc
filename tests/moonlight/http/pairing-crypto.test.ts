import { describe, expect, test } from "bun:test";
import path from "node:path";
import { certificateSignature, derivePairingKey, sameCertificate } from "../../../src/moonlight/http/pairing-crypto.ts";
import { fixturePath } from "../../support/fixtures.ts";

const FIXTURE = path.join(fixturePath("wolf-pairing"), "pair-exchange.json");
const fixture = (await Bun.file(FIXTURE).json()) as {
  pin: string;
  client_cert_pem: string;
  server_cert_pem: string;
  derived: { salt: string; aes_key_K: string; clientCertSignature: string; serverCertSignature: string };
};

describe("pairing crypto", () => {
  test("the reference key-derivation vector holds", () => {
    const salt = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
    expect(derivePairingKey("sha256", salt, "1234").toString("hex")).toBe("bad0b4f7cae08eb7c1b5acc763a8ed25");
  });

  test("the key Wolf derived from the fixture's salt and PIN is reproduced", () => {
    expect(derivePairingKey("sha256", Buffer.from(fixture.derived.salt, "hex"), fixture.pin).toString("hex")).toBe(fixture.derived.aes_key_K);
  });

  test("certificate signature bytes match the fixture for a serial-0 client cert and Wolf's cert", () => {
    expect(certificateSignature(fixture.client_cert_pem).toString("hex")).toBe(fixture.derived.clientCertSignature);
    expect(certificateSignature(fixture.server_cert_pem).toString("hex")).toBe(fixture.derived.serverCertSignature);
  });

  test("certificates compare by DER, not by PEM text", () => {
    expect(sameCertificate(fixture.server_cert_pem.replace(/\n/g, "\r\n"), fixture.server_cert_pem)).toBe(true);
    expect(sameCertificate(fixture.client_cert_pem, fixture.server_cert_pem)).toBe(false);
  });
});
