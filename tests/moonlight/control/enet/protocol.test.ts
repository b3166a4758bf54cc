import { describe, expect, test } from "bun:test";
import path from "node:path";
import { readPcap } from "../../../support/pcap.ts";
import {
  EnetMalformedError,
  parseDatagram,
  serializeDatagram,
  type EnetCommand,
} from "../../../../src/moonlight/control/enet/protocol.ts";
import { fixturePath } from "../../../support/fixtures.ts";

const FIXTURE = fixturePath("wolf-h264-clean");
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

// Reference §3.3 byte-level example.
const CONNECT_EXAMPLE =
  "8fff1234 82ff0001 0000ffff 00000384 00010000 00000030 00000000 00000000 00001388 00000002 00000002 a1b2c3d4 bb40e64d";

describe("ENet datagram codec", () => {
  test("parses the reference CONNECT example field by field", () => {
    const { header, commands } = parseDatagram(hex(CONNECT_EXAMPLE));
    expect(header).toEqual({ peerID: 0xfff, sessionID: 0, compressed: false, sentTime: 0x1234 });
    expect(commands).toHaveLength(1);
    const connect = commands[0]!;
    expect(connect.kind).toBe("connect");
    if (connect.kind !== "connect") return;
    expect(connect.flags).toBe(0x80);
    expect(connect.channelID).toBe(0xff);
    expect(connect.reliableSequenceNumber).toBe(1);
    expect(connect.outgoingPeerID).toBe(0);
    expect(connect.incomingSessionID).toBe(0xff);
    expect(connect.outgoingSessionID).toBe(0xff);
    expect(connect.mtu).toBe(900);
    expect(connect.windowSize).toBe(65536);
    expect(connect.channelCount).toBe(48);
    expect(connect.packetThrottleInterval).toBe(5000);
    expect(connect.packetThrottleAcceleration).toBe(2);
    expect(connect.packetThrottleDeceleration).toBe(2);
    expect(connect.connectID).toBe(0xa1b2c3d4);
    expect(connect.data).toBe(3141592653);
  });

  test("serializes an ACK-only datagram with the 2-byte header", () => {
    const ack: EnetCommand = {
      kind: "acknowledge",
      flags: 0,
      channelID: 0xff,
      reliableSequenceNumber: 1,
      receivedReliableSequenceNumber: 1,
      receivedSentTime: 0x5678,
    };
    const bytes = serializeDatagram({ header: { peerID: 0, sessionID: 0, compressed: false, sentTime: undefined }, commands: [ack] });
    expect(toHex(bytes)).toBe("000001ff000100015678");
  });

  test("round-trips every command kind", () => {
    const data = hex("0102030405");
    const commands: EnetCommand[] = [
      { kind: "acknowledge", flags: 0, channelID: 3, reliableSequenceNumber: 9, receivedReliableSequenceNumber: 9, receivedSentTime: 77 },
      {
        kind: "verifyConnect", flags: 0x80, channelID: 0xff, reliableSequenceNumber: 1, outgoingPeerID: 5, incomingSessionID: 1,
        outgoingSessionID: 2, mtu: 900, windowSize: 4096, channelCount: 48, incomingBandwidth: 1, outgoingBandwidth: 2,
        packetThrottleInterval: 5000, packetThrottleAcceleration: 2, packetThrottleDeceleration: 2, connectID: 0xdeadbeef,
      },
      { kind: "disconnect", flags: 0x40, channelID: 0xff, reliableSequenceNumber: 4, data: 7 },
      { kind: "ping", flags: 0x80, channelID: 0xff, reliableSequenceNumber: 2 },
      { kind: "sendReliable", flags: 0x80, channelID: 0, reliableSequenceNumber: 1, data },
      { kind: "sendUnreliable", flags: 0, channelID: 1, reliableSequenceNumber: 1, unreliableSequenceNumber: 3, data },
      {
        kind: "sendFragment", flags: 0x80, channelID: 2, reliableSequenceNumber: 5, startSequenceNumber: 4, fragmentCount: 2,
        fragmentNumber: 1, totalLength: 10, fragmentOffset: 5, data,
      },
      { kind: "sendUnsequenced", flags: 0x40, channelID: 0, reliableSequenceNumber: 0, unsequencedGroup: 12, data },
      { kind: "bandwidthLimit", flags: 0x80, channelID: 0xff, reliableSequenceNumber: 3, incomingBandwidth: 0, outgoingBandwidth: 0 },
      {
        kind: "throttleConfigure", flags: 0x80, channelID: 0xff, reliableSequenceNumber: 6, packetThrottleInterval: 1,
        packetThrottleAcceleration: 2, packetThrottleDeceleration: 3,
      },
    ];
    const datagram = { header: { peerID: 7, sessionID: 2, compressed: false, sentTime: 0xabcd }, commands };
    const bytes = serializeDatagram(datagram);
    const parsed = parseDatagram(bytes);
    expect(parsed).toEqual(datagram);
    expect(toHex(serializeDatagram(parsed))).toBe(toHex(bytes));
  });

  test("rejects garbage, truncated commands and unknown command numbers", () => {
    expect(() => parseDatagram(hex("80"))).toThrow(EnetMalformedError);
    expect(() => parseDatagram(hex("8000"))).toThrow(EnetMalformedError); // SENT_TIME but no time
    expect(() => parseDatagram(hex("0000"))).toThrow(EnetMalformedError); // no commands
    expect(() => parseDatagram(hex("0000 01ff0001 0001"))).toThrow(EnetMalformedError); // short ACK
    expect(() => parseDatagram(hex("0000 0f000000"))).toThrow(EnetMalformedError); // command 15
    expect(() => parseDatagram(hex("80000000 86000001 0010 0102"))).toThrow(EnetMalformedError); // payload overrun
  });
});

describe("ENet replay of the wolf-h264-clean capture", () => {
  const capture = readPcap(path.join(FIXTURE, "capture.pcap"));
  const enet = capture.udp.filter((d) => d.srcPort === 47999 || d.dstPort === 47999);

  test("every datagram in both directions parses and re-serializes to the captured bytes", () => {
    expect(enet.length).toBe(242);
    const counts = new Map<string, number>();
    for (const d of enet) {
      const parsed = parseDatagram(d.payload);
      const dir = d.dstPort === 47999 ? "c2h" : "h2c";
      for (const c of parsed.commands) counts.set(`${dir} ${c.kind}`, (counts.get(`${dir} ${c.kind}`) ?? 0) + 1);
      expect(toHex(serializeDatagram(parsed))).toBe(toHex(d.payload));
    }
    // The command census of verification.txt.
    expect(Object.fromEntries(counts)).toEqual({
      "c2h acknowledge": 20,
      "c2h bandwidthLimit": 1,
      "c2h connect": 1,
      "c2h disconnect": 1,
      "c2h ping": 1,
      "c2h sendReliable": 100,
      "h2c acknowledge": 103,
      "h2c bandwidthLimit": 1,
      "h2c ping": 18,
      "h2c verifyConnect": 1,
    });
  });

  test("the handshake carries Moonlight's connect parameters and the host copies them back", () => {
    const connect = parseDatagram(enet[0]!.payload).commands[0]!;
    const verify = parseDatagram(enet[1]!.payload).commands[0]!;
    expect(connect.kind).toBe("connect");
    expect(verify.kind).toBe("verifyConnect");
    if (connect.kind !== "connect" || verify.kind !== "verifyConnect") return;
    expect([connect.mtu, connect.windowSize, connect.channelCount, connect.data]).toEqual([900, 65536, 48, 0]);
    expect([connect.incomingSessionID, connect.outgoingSessionID]).toEqual([0xff, 0xff]);
    expect(verify.connectID).toBe(connect.connectID);
    expect([verify.packetThrottleInterval, verify.packetThrottleAcceleration, verify.packetThrottleDeceleration]).toEqual([5000, 2, 2]);
    expect([verify.outgoingPeerID, verify.incomingSessionID, verify.outgoingSessionID]).toEqual([0, 0, 0]);
  });
});
