import { describe, expect, test } from "bun:test";
import {
  ControlCipher,
  ControlDecryptError,
  controlIv,
  openControlMessage,
  sealControlMessage,
} from "../../../src/moonlight/control/control-crypto.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const KEY = hex("000102030405060708090a0b0c0d0e0f");

describe("control-stream encryption envelope (reference §4.2 vectors)", () => {
  test("V2 IVs carry seq little-endian, the direction byte and 'C'", () => {
    expect(toHex(controlIv("v2", 0, "client-to-host"))).toBe("000000000000000000004343");
    expect(toHex(controlIv("v2", 0x01020304, "host-to-client"))).toBe("040302010000000000004843");
    expect(toHex(controlIv("legacy", 0x1ff, "client-to-host"))).toBe("ff000000000000000000000000000000");
  });

  test("client Start B with the V2 IV matches the reference bytes", () => {
    const sealed = sealControlMessage(
      { key: KEY, scheme: "v2", direction: "client-to-host" },
      { seq: 0, type: 0x0307, payload: hex("00") },
    );
    expect(toHex(sealed)).toBe("0100190000000000df61e48f3c62cec70539a6ddb1b6f78d59d62af5ca");
  });

  test("client Start B with the legacy 16-byte IV matches the reference bytes", () => {
    const sealed = sealControlMessage(
      { key: KEY, scheme: "legacy", direction: "client-to-host" },
      { seq: 0, type: 0x0307, payload: hex("00") },
    );
    expect(toHex(sealed)).toBe("01001900000000004c4bd1a14edc5733132d930e32b7b48207157af6eb");
  });

  test("host termination with the V2 IV matches the reference bytes and opens on the client", () => {
    const host = new ControlCipher({ key: KEY, scheme: "v2", side: "host" });
    const sealed = host.seal(0x0109, hex("80030023"));
    expect(toHex(sealed)).toBe("01001c0000000000b835a2b8ace857ddcbad385dce166aa9f2dd4edacf3be801");
    const client = new ControlCipher({ key: KEY, scheme: "v2", side: "client" });
    const opened = client.open(sealed);
    expect(opened.seq).toBe(0);
    expect(opened.type).toBe(0x0109);
    expect(toHex(opened.payload)).toBe("80030023");
  });

  test("each side counts its own sequence numbers from 0", () => {
    const client = new ControlCipher({ key: KEY, scheme: "v2", side: "client" });
    const host = new ControlCipher({ key: KEY, scheme: "v2", side: "host" });
    for (let i = 0; i < 3; i++) {
      const opened = host.open(client.seal(0x0200, hex("0400000000000000")));
      expect(opened.seq).toBe(i);
    }
    expect(client.nextSeq).toBe(3);
    expect(host.nextSeq).toBe(0);
  });

  test("tampering, wrong direction, wrong scheme, plaintext and bad lengths are rejected", () => {
    const client = new ControlCipher({ key: KEY, scheme: "v2", side: "client" });
    const sealed = client.seal(0x0302, hex("0000"));
    const tampered = sealed.slice();
    tampered[tampered.length - 1]! ^= 1;
    const asHost = { key: KEY, scheme: "v2" as const, direction: "client-to-host" as const };
    expect(() => openControlMessage(asHost, tampered)).toThrow(ControlDecryptError);
    expect(() => openControlMessage({ ...asHost, direction: "host-to-client" }, sealed)).toThrow(ControlDecryptError);
    expect(() => openControlMessage({ ...asHost, scheme: "legacy" }, sealed)).toThrow(ControlDecryptError);
    expect(() => openControlMessage(asHost, hex("0203000000000000000000000000000000000000000000000000000000"))).toThrow(ControlDecryptError);
    expect(() => openControlMessage(asHost, sealed.subarray(0, sealed.length - 1))).toThrow(ControlDecryptError);
    expect(() => openControlMessage(asHost, hex("0100"))).toThrow(ControlDecryptError);
    expect(openControlMessage(asHost, sealed).type).toBe(0x0302);
  });
});

test("ControlCipher.receive decodes the other side's message and reports what it drops, without throwing", async () => {
  const { ControlCipher } = await import("../../../src/moonlight/control/control-crypto.ts");
  const key = new Uint8Array(16).fill(7);
  const host = new ControlCipher({ key, scheme: "v2", side: "host" });
  const client = new ControlCipher({ key, scheme: "v2", side: "client" });
  const termination = host.seal(0x0109, Uint8Array.of(0x80, 0x03, 0x00, 0x23));
  expect(client.receive(termination)).toMatchObject({ message: { kind: "termination" } });
  const forged = Uint8Array.from(host.seal(0x0109, Uint8Array.of(0x80, 0x03, 0x00, 0x23)));
  forged[forged.length - 1]! ^= 0xff;
  expect(client.receive(forged)).toMatchObject({ dropped: "undecryptable" });
  // Authentic, but a rumble message too short to be one.
  expect(client.receive(host.seal(0x010b, Uint8Array.of(1, 2, 3)))).toMatchObject({ dropped: "malformed" });
});
