import { describe, expect, test } from "bun:test";
import {
  RtspDecryptError,
  RtspParseError,
  completeRequestLength,
  decryptRtspMessage,
  encryptRtspMessage,
  encryptedFrameLength,
  getHeader,
  getHeaderIgnoreCase,
  parseRtspMessage,
  serializeRtspMessage,
} from "../../../src/moonlight/rtsp/rtsp.ts";
import { keys, rtspExchanges } from "./rtsp-fixture.ts";

const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1");

describe("RTSP message codec", () => {
  test("every request and reply of the capture parses and re-serializes byte for byte", () => {
    expect(rtspExchanges).toHaveLength(7);
    const methods = rtspExchanges.map(({ request, response }) => {
      const req = parseRtspMessage(request);
      const res = parseRtspMessage(response);
      expect(req.kind).toBe("request");
      expect(res.kind).toBe("response");
      expect(latin1(serializeRtspMessage(req))).toBe(latin1(request));
      expect(latin1(serializeRtspMessage(res))).toBe(latin1(response));
      expect(res.kind === "response" && res.statusCode).toBe(200);
      expect(getHeader(res, "CSeq")).toBe(getHeader(req, "CSeq"));
      return req.kind === "request" ? `${req.method} ${req.target}` : "";
    });
    expect(methods).toEqual([
      "OPTIONS rtsp://0.0.0.0:48010",
      "DESCRIBE rtsp://0.0.0.0:48010",
      "SETUP streamid=audio/0/0",
      "SETUP streamid=video/0/0",
      "SETUP streamid=control/13/0",
      "ANNOUNCE streamid=control/13/0",
      "PLAY /",
    ]);
  });

  test("host replies expose session, ports and the DESCRIBE body", () => {
    const describe = parseRtspMessage(rtspExchanges[1]!.response);
    expect(describe.body).toBe(keys.rtsp.describe_response_sdp);
    const setupAudio = parseRtspMessage(rtspExchanges[2]!.response);
    expect(getHeader(setupAudio, "Session")).toBe("DEADBEEFCAFE;timeout = 90");
    expect(getHeader(setupAudio, "Transport")).toBe("server_port=48200");
    const announce = parseRtspMessage(rtspExchanges[5]!.request);
    expect(getHeaderIgnoreCase(announce, "content-length")).toBe(String(announce.body.length));
  });

  test("the parser enforces the Moonlight constraints", () => {
    expect(() => parseRtspMessage("RTSP/1.0 200 OK\r\n\r\n")).toThrow(RtspParseError); // no header
    expect(() => parseRtspMessage("RTSP/1.0 200 OK\r\nCSeq: 1\r\n")).toThrow(RtspParseError); // no blank line
    expect(() => parseRtspMessage("OPTIONS / RTSP/2.0\r\nCSeq: 1\r\n\r\n")).toThrow(RtspParseError);
    expect(() => parseRtspMessage("RTSP/1.0 200 OK\r\nBad Name: 1\r\n\r\n")).toThrow(RtspParseError);
    // One character after the colon is skipped, whatever it is: "Name:value" loses its first char.
    expect(getHeader(parseRtspMessage("RTSP/1.0 200 OK\r\nCSeq:12\r\n\r\n"), "CSeq")).toBe("2");
    // Reasons may contain spaces; header lookup is case-sensitive.
    const notFound = parseRtspMessage("RTSP/1.0 404 NOT FOUND\r\ncseq: 3\r\n\r\n");
    expect(notFound.kind === "response" && notFound.reasonPhrase).toBe("NOT FOUND");
    expect(getHeader(notFound, "CSeq")).toBeUndefined();
    expect(getHeaderIgnoreCase(notFound, "CSeq")).toBe("3");
  });

  test("a host can find where a request with a body ends", () => {
    const announce = rtspExchanges[5]!.request;
    expect(completeRequestLength(announce.subarray(0, 100))).toBeUndefined();
    expect(completeRequestLength(announce.subarray(0, announce.length - 1))).toBeUndefined();
    expect(completeRequestLength(announce)).toBe(announce.length);
    const options = rtspExchanges[0]!.request;
    expect(completeRequestLength(Buffer.concat([options, Buffer.from("OPTI")]))).toBe(options.length);
  });

  test("encrypted framing round-trips in both directions and rejects tampering", () => {
    const key = Uint8Array.from(Buffer.from(keys.rikey, "hex"));
    const plaintext = rtspExchanges[0]!.request;
    const frame = encryptRtspMessage(key, 1, "client", plaintext);
    expect(frame.length).toBe(24 + plaintext.length);
    expect(Buffer.from(frame.subarray(0, 8)).toString("hex")).toBe(((0x80000000 | plaintext.length) >>> 0).toString(16) + "00000001");
    expect(encryptedFrameLength(frame.subarray(0, 10))).toBeUndefined();
    expect(encryptedFrameLength(frame)).toBe(frame.length);
    expect(latin1(decryptRtspMessage(key, frame, "client").plaintext)).toBe(latin1(plaintext));
    expect(() => decryptRtspMessage(key, frame, "host")).toThrow(RtspDecryptError); // wrong direction byte
    const bad = frame.slice();
    bad[30]! ^= 1;
    expect(() => decryptRtspMessage(key, bad, "client")).toThrow(RtspDecryptError);
    expect(() => decryptRtspMessage(key, frame.subarray(0, frame.length - 1), "client")).toThrow(RtspDecryptError);
    expect(() => decryptRtspMessage(key, plaintext, "client")).toThrow(RtspDecryptError); // MSB clear
  });
});
