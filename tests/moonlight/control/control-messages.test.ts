import { describe, expect, test } from "bun:test";
import path from "node:path";
import { readFileSync } from "node:fs";
import { readPcap } from "../../support/pcap.ts";
import { parseDatagram } from "../../../src/moonlight/control/enet/protocol.ts";
import { ControlDecryptError, openControlMessage, sealControlMessage } from "../../../src/moonlight/control/control-crypto.ts";
import {
  ControlChannel,
  ControlMessageFormatError,
  channelForMessage,
  parseControlMessage,
  serializeControlMessage,
  terminationReason,
  type ControlMessage,
} from "../../../src/moonlight/control/control-messages.ts";
import { parseInputPacket, type InputPacket } from "../../../src/moonlight/input/input.ts";
import { fixturePath } from "../../support/fixtures.ts";

const FIXTURE = fixturePath("wolf-h264-clean");
const keys = JSON.parse(readFileSync(path.join(FIXTURE, "keys.json"), "utf8")) as { rikey: string };
const RIKEY = Uint8Array.from(Buffer.from(keys.rikey, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));

describe("control message codecs", () => {
  const roundTrip = (message: ControlMessage, direction: "client-to-host" | "host-to-client") => {
    const { type, payload } = serializeControlMessage(message);
    expect(parseControlMessage(type, payload, direction)).toEqual(message);
    return { type, hex: toHex(payload) };
  };

  test("client→host messages have the reference layouts", () => {
    expect(roundTrip({ kind: "requestIdr" }, "client-to-host")).toEqual({ type: 0x0302, hex: "0000" });
    expect(roundTrip({ kind: "startB" }, "client-to-host")).toEqual({ type: 0x0307, hex: "00" });
    expect(roundTrip({ kind: "periodicPing" }, "client-to-host")).toEqual({ type: 0x0200, hex: "0400000000000000" });
    expect(roundTrip({ kind: "invalidateReferenceFrames", firstFrameIndex: 0x1234, lastFrameIndex: 0x1240 }, "client-to-host")).toEqual({
      type: 0x0301,
      hex: "34120000" + "00000000" + "40120000" + "00000000".repeat(3),
    });
    expect(roundTrip({ kind: "ltrFrameAck", frameIndex: 7 }, "client-to-host")).toEqual({ type: 0x0350, hex: "0700000000000000" });
    expect(roundTrip({ kind: "lossStats", lastGoodFrame: 99 }, "client-to-host")).toEqual({
      type: 0x0201,
      hex: "00000000" + "32000000" + "e8030000" + "6300000000000000" + "00000000" + "00000000" + "14000000",
    });
    const fec: ControlMessage = {
      kind: "fecStatus", frameIndex: 0x01020304, highestReceivedSequenceNumber: 10, nextContiguousSequenceNumber: 5,
      missingPacketsBeforeHighestReceived: 2, totalDataPackets: 8, totalParityPackets: 2, receivedDataPackets: 6,
      receivedParityPackets: 2, fecPercentage: 20, multiFecBlockIndex: 0, multiFecBlockCount: 1,
    };
    expect(roundTrip(fec, "client-to-host")).toEqual({ type: 0x5502, hex: "01020304000a00050002000800020006000214" + "0001" });
  });

  test("host→client messages decode with their reference layouts", () => {
    expect(roundTrip({ kind: "termination", errorCode: 0x80030023, extended: true }, "host-to-client")).toEqual({ type: 0x0109, hex: "80030023" });
    expect(roundTrip({ kind: "termination", errorCode: 0x0100, extended: false }, "host-to-client")).toEqual({ type: 0x0109, hex: "0001" });
    expect(roundTrip({ kind: "rumble", controllerNumber: 1, lowFrequencyMotor: 0x1111, highFrequencyMotor: 0x2222 }, "host-to-client")).toEqual({
      type: 0x010b,
      hex: "eeffc000" + "0100" + "1111" + "2222",
    });
    expect(roundTrip({ kind: "rumbleTriggers", controllerNumber: 2, leftTrigger: 3, rightTrigger: 4 }, "host-to-client").hex).toBe("020003000400");
    expect(roundTrip({ kind: "setMotionEventState", controllerNumber: 0, reportRateHz: 250, motionType: 2 }, "host-to-client").hex).toBe("0000fa0002");
    expect(roundTrip({ kind: "setControllerLed", controllerNumber: 1, red: 255, green: 0, blue: 16 }, "host-to-client")).toEqual({
      type: 0x5502,
      hex: "0100ff0010",
    });
    const triggers: ControlMessage = {
      kind: "adaptiveTriggers", controllerNumber: 0, eventFlags: 0x0c, typeLeft: 1, typeRight: 2,
      left: Uint8Array.from({ length: 10 }, (_, i) => i), right: Uint8Array.from({ length: 10 }, (_, i) => 10 + i),
    };
    expect(roundTrip(triggers, "host-to-client").hex).toBe("00000c0102" + "00010203040506070809" + "0a0b0c0d0e0f10111213");
    const hdr: ControlMessage = {
      kind: "hdrMode",
      enabled: true,
      metadata: {
        displayPrimaries: [{ x: 34000, y: 16000 }, { x: 13250, y: 34500 }, { x: 7500, y: 3000 }],
        whitePoint: { x: 15635, y: 16450 }, maxDisplayLuminance: 1000, minDisplayLuminance: 50,
        maxContentLightLevel: 1000, maxFrameAverageLightLevel: 400, maxFullFrameLuminance: 600,
      },
    };
    expect(roundTrip(hdr, "host-to-client").hex.length).toBe(54);
    expect(roundTrip({ kind: "hdrMode", enabled: false, metadata: undefined }, "host-to-client").hex).toBe("00");
    // A short HDR message zero-fills the missing fields.
    const short = parseControlMessage(0x010e, hex("01e884"), "host-to-client");
    expect(short.kind === "hdrMode" && short.metadata?.displayPrimaries[0]).toEqual({ x: 34024, y: 0 });
  });

  test("0x5502 means FEC status one way and LED colour the other; unknown types pass through", () => {
    expect(parseControlMessage(0x5502, hex("0100ff0010"), "host-to-client").kind).toBe("setControllerLed");
    expect(() => parseControlMessage(0x5502, hex("0100ff0010"), "client-to-host")).toThrow(ControlMessageFormatError);
    expect(parseControlMessage(0x7777, hex("01"), "host-to-client")).toEqual({ kind: "unknown", type: 0x7777, payload: hex("01") });
    expect(() => parseControlMessage(0x010b, hex("0000"), "host-to-client")).toThrow(ControlMessageFormatError);
  });

  test("termination codes map to Moonlight's client error codes", () => {
    expect(terminationReason(0x80030023).code).toBe(0);
    expect(terminationReason(0x800e9302).code).toBe(-103);
    expect(terminationReason(0x800e9403).code).toBe(-104);
    expect(terminationReason(0x80004005).code).toBe(0x80004005 | 0);
    expect(terminationReason(0x0100, false).code).toBe(0);
    expect(terminationReason(0x0200, false).code).toBe(0x0200);
  });

  test("IDR and RFI go on the urgent channel, the rest on the generic one", () => {
    expect(channelForMessage({ kind: "requestIdr" })).toBe(ControlChannel.urgent);
    expect(channelForMessage({ kind: "invalidateReferenceFrames", firstFrameIndex: 1, lastFrameIndex: 2 })).toBe(1);
    expect(channelForMessage({ kind: "periodicPing" })).toBe(ControlChannel.generic);
  });
});

describe("replay of the 100 encrypted client→host control messages of wolf-h264-clean", () => {
  const capture = readPcap(path.join(FIXTURE, "capture.pcap"));
  const messages: { channel: number; enetSeq: number; bytes: Uint8Array }[] = [];
  for (const d of capture.udp) {
    if (d.dstPort !== 47999) continue;
    for (const c of parseDatagram(d.payload).commands) {
      if (c.kind === "sendReliable") messages.push({ channel: c.channelID, enetSeq: c.reliableSequenceNumber, bytes: c.data });
    }
  }
  const legacy = { key: RIKEY, scheme: "legacy" as const, direction: "client-to-host" as const };

  test("all 100 decrypt with the legacy IV and none with the V2 IV", () => {
    expect(messages).toHaveLength(100);
    for (const m of messages) {
      expect(() => openControlMessage({ ...legacy, scheme: "v2" }, m.bytes)).toThrow(ControlDecryptError);
      expect(() => openControlMessage(legacy, m.bytes)).not.toThrow();
    }
    // Sequence numbers run 0…99 in send order.
    expect(messages.map((m) => openControlMessage(legacy, m.bytes).seq)).toEqual([...Array(100).keys()]);
  });

  test("they decode to Start A, Start B, pings, input and one IDR request on channel 1", () => {
    const census = new Map<string, number>();
    const inputs: InputPacket[] = [];
    const decoded = messages.map((m) => {
      const { type, payload } = openControlMessage(legacy, m.bytes);
      const message = parseControlMessage(type, payload, "client-to-host");
      census.set(`${message.kind}@${m.channel}`, (census.get(`${message.kind}@${m.channel}`) ?? 0) + 1);
      if (message.kind === "input") inputs.push(parseInputPacket(message.packet));
      return { message, channel: m.channel };
    });
    expect(decoded[0]).toEqual({ message: { kind: "requestIdr" }, channel: 0 }); // Start A
    expect(decoded[1]).toEqual({ message: { kind: "startB" }, channel: 0 });
    expect(decoded[2]).toEqual({ message: { kind: "periodicPing" }, channel: 0 });
    expect(Object.fromEntries(census)).toEqual({
      "requestIdr@0": 1,
      "requestIdr@1": 1,
      "startB@0": 1,
      "periodicPing@0": 94,
      "input@0": 1,
      "input@3": 2,
    });
    expect(inputs).toEqual([
      { kind: "enableHaptics" },
      { kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 },
      { kind: "mouseMoveRelative", deltaX: -1, deltaY: -1 },
    ]);
  });

  test("re-serializing and re-encrypting each parsed message reproduces the captured bytes", () => {
    for (const m of messages) {
      const { seq, type, payload } = openControlMessage(legacy, m.bytes);
      const message = parseControlMessage(type, payload, "client-to-host");
      const again = serializeControlMessage(message);
      expect(again.type).toBe(type);
      expect(toHex(sealControlMessage(legacy, { seq, type: again.type, payload: again.payload }))).toBe(toHex(m.bytes));
    }
  });
});
