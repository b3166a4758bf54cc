/**
 * Replays the real moonlight-embedded ⇄ Wolf pairing (tests/fixtures/wolf-pairing): with the
 * fixture's identity and random values our client must send byte-identical request targets and
 * accept Wolf's real replies, including Wolf's connection resets.
 */
import { describe, expect, test } from "bun:test";
import path from "node:path";
import { ConnectionLostError, WrongPinError } from "../../../src/moonlight/errors.ts";
import { NvHttpClient } from "../../../src/moonlight/http/nvhttp.ts";
import type { NvHttpRequest, NvHttpResponse } from "../../../src/moonlight/http/nvhttp-transport.ts";
import { sameCertificate } from "../../../src/moonlight/http/pairing-crypto.ts";
import { fixturePath } from "../../support/fixtures.ts";

const FIXTURE = path.join(fixturePath("wolf-pairing"), "pair-exchange.json");

interface Exchange {
  seq: number;
  transport: "http" | "https";
  request: { target: string; query: Record<string, string> };
  response: { status_line: string; body: string } | null;
}
interface Fixture {
  pin: string;
  client_uniqueid: string;
  client_devicename: string;
  client_cert_pem: string;
  client_key_pem: string;
  server_cert_pem: string;
  exchanges: Exchange[];
  derived: { salt: string; clientChallenge: string; clientSecret: string };
}

const fixture = (await Bun.file(FIXTURE).json()) as Fixture;
const bySeq = (seq: number): Exchange => {
  const exchange = fixture.exchanges.find((e) => e.seq === seq);
  if (!exchange) throw new Error(`fixture has no exchange ${seq}`);
  return exchange;
};

/** What our client does: serverinfo over HTTP, then the five phases (2–4 reset once each, as recorded). */
const SCRIPT = [0, 3, 5, 6, 7, 8, 9, 10, 11];

/** `strict`: every target must equal the recording; otherwise replies are served by position. */
function replay(pin: string, strict: boolean) {
  const sent: NvHttpRequest[] = [];
  let next = 0;
  const transport = async (request: NvHttpRequest): Promise<NvHttpResponse> => {
    sent.push(request);
    if (request.target.startsWith("/unpair?")) {
      // Not in the recording: answer as Wolf/Sunshine do for an unknown path.
      return { status: 404, contentType: undefined, body: new TextEncoder().encode('<root status_code="404"/>') };
    }
    const exchange = bySeq(SCRIPT[next++] ?? -1);
    expect(request.scheme).toBe(exchange.transport);
    if (strict) expect(request.target).toBe(exchange.request.target);
    else expect(request.target.split("&").slice(0, 4)).toEqual(exchange.request.target.split("&").slice(0, 4));
    if (exchange.response === null) throw new ConnectionLostError("ECONNRESET (recorded)");
    const status = Number(exchange.response.status_line.split(" ")[1]);
    return { status, contentType: undefined, body: new TextEncoder().encode(exchange.response.body) };
  };
  // One uuid per logical request; a retried request reuses its target, so no uuid for 5, 7, 9.
  const uuids = [0, 3, 6, 8, 10, 11].map((seq) => bySeq(seq).request.query["uuid"] as string);
  const client = new NvHttpClient({
    address: "127.0.0.1",
    identity: { uniqueId: fixture.client_uniqueid, certPem: fixture.client_cert_pem, keyPem: fixture.client_key_pem },
    transport,
    newRequestId: () => uuids.shift() ?? "exhausted",
  });
  const run = client.pair({
    pin,
    deviceName: fixture.client_devicename,
    random: {
      salt: Buffer.from(fixture.derived.salt, "hex"),
      clientChallenge: Buffer.from(fixture.derived.clientChallenge, "hex"),
      clientSecret: Buffer.from(fixture.derived.clientSecret, "hex"),
    },
  });
  return { client, run, sent };
}

describe("replaying the recorded Wolf pairing", () => {
  test("our client sends the recorded request targets byte for byte and ends paired with Wolf's certificate", async () => {
    const { client, run, sent } = replay(fixture.pin, true);
    const result = await run;
    expect(sent.map((r) => r.target)).toEqual(SCRIPT.map((seq) => bySeq(seq).request.target));
    expect(sameCertificate(result.serverCertPem, fixture.server_cert_pem)).toBe(true);
    expect(client.serverCertPem).toBe(result.serverCertPem);
    expect(result.serverInfo.hostname).toBe("Wolf");
    // Phase 5 went over HTTPS with our certificate and Wolf's pinned.
    const last = sent.at(-1);
    expect(last?.scheme).toBe("https");
    expect(last?.tls?.certPem).toBe(fixture.client_cert_pem);
    expect(sameCertificate(last?.tls?.pinnedServerCertPem ?? "", fixture.server_cert_pem)).toBe(true);
  });

  test("with another PIN the same replies are recognised as a wrong PIN after phase 3", async () => {
    const { client, run, sent } = replay("0000", false);
    await expect(run).rejects.toBeInstanceOf(WrongPinError);
    // Phase 4 is never sent; the half-done attempt is dropped with /unpair, and nothing stays pinned.
    expect(sent.map((r) => r.target.split("?")[0])).toEqual(["/serverinfo", "/pair", "/pair", "/pair", "/pair", "/pair", "/unpair"]);
    expect(sent.some((r) => r.target.includes("clientpairingsecret="))).toBe(false);
    expect(client.serverCertPem).toBeUndefined();
  });
});
