/** The simulated host's side of pairing: it checks the PIN and the phase order the way Sunshine does. */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createClientIdentity, createSelfSignedIdentity } from "../../src/moonlight/http/identity.ts";
import {
  aesEcbDecrypt,
  aesEcbEncrypt,
  certificateSignature,
  derivePairingKey,
  pairingDigest,
  signSha256,
} from "../../src/moonlight/http/pairing-crypto.ts";
import { PairingHost, type PairedClient, type PairReply } from "../../src/sim-host/pairing-host.ts";

const server = createSelfSignedIdentity({ subject: { CN: "Sunshine Gamestream Host" } });
const client = createClientIdentity();

const text = (reply: PairReply, name: string) => reply.children.find((c) => c.name === name)?.text;

/** Run phases 1–4 as a client that typed `clientPin` while the host expects `hostPin`, never giving up. */
function pairStubbornly(hostPin: string, clientPin: string) {
  const paired: PairedClient[] = [];
  const host = new PairingHost({ ...server, hash: "sha256", onPaired: (c) => paired.push(c) });
  const salt = randomBytes(16);
  const key = derivePairingKey("sha256", salt, clientPin);
  const phase1 = host.getServerCert("c1", "roth", salt.toString("hex"), Buffer.from(client.certPem).toString("hex"), hostPin);
  expect(text(phase1, "paired")).toBe(1);
  const cc = randomBytes(16);
  const phase2 = host.continue("c1", new URLSearchParams({ clientchallenge: aesEcbEncrypt(key, cc).toString("hex") }));
  const decrypted = aesEcbDecrypt(key, Buffer.from(String(text(phase2, "challengeresponse")), "hex"));
  const serverChallenge = decrypted.subarray(32, 48);
  const clientSecret = randomBytes(16);
  const clientHash = pairingDigest("sha256", serverChallenge, certificateSignature(client.certPem), clientSecret);
  const phase3 = host.continue("c1", new URLSearchParams({ serverchallengeresp: aesEcbEncrypt(key, clientHash).toString("hex") }));
  expect(text(phase3, "paired")).toBe(1);
  const secret = Buffer.concat([clientSecret, signSha256(client.keyPem, clientSecret)]);
  const phase4 = host.continue("c1", new URLSearchParams({ clientpairingsecret: secret.toString("hex") }));
  return { phase4, paired };
}

describe("PairingHost", () => {
  test("the right PIN pairs the client's certificate at phase 4", () => {
    const { phase4, paired } = pairStubbornly("5678", "5678");
    expect(phase4.statusCode).toBe(200);
    expect(text(phase4, "paired")).toBe(1);
    expect(paired.map((c) => c.uniqueId)).toEqual(["c1"]);
  });

  test("a wrong PIN is caught by the host at phase 4 with paired=0, nothing is paired", () => {
    const { phase4, paired } = pairStubbornly("5678", "8765");
    expect(phase4.statusCode).toBe(200);
    expect(text(phase4, "paired")).toBe(0);
    expect(paired).toHaveLength(0);
  });

  test("phases out of order or from an unknown client get Sunshine's 400 replies", () => {
    const host = new PairingHost({ ...server, hash: "sha256", onPaired: () => {} });
    expect(host.continue("nobody", new URLSearchParams({ clientchallenge: "00" })).statusMessage).toBe("Invalid uniqueid");
    host.getServerCert("c1", "roth", randomBytes(16).toString("hex"), Buffer.from(client.certPem).toString("hex"), "1234");
    const skipped = host.continue("c1", new URLSearchParams({ serverchallengeresp: "00".repeat(32) }));
    expect(skipped.statusCode).toBe(400);
    expect(skipped.statusMessage).toBe("Out of order call to serverchallengeresp");
    // The attempt is gone after the failure.
    expect(host.busyFor("someone-else")).toBe(false);
  });

  test("a short salt or a broken certificate is refused at phase 1", () => {
    const host = new PairingHost({ ...server, hash: "sha256", onPaired: () => {} });
    expect(host.getServerCert("c1", "roth", "abcd", Buffer.from(client.certPem).toString("hex"), "1234").statusMessage).toBe("Salt too short");
    expect(host.getServerCert("c1", "roth", "00".repeat(16), "zz", "1234").statusCode).toBe(400);
  });
});
