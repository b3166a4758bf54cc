import { expect, test } from "bun:test";
import { AudioCipher, audioIv, createAudioRtpHeader, parseAudioRtpHeader, serializeAudioPacket } from "../../../src/moonlight/audio/audio-packet.ts";
import { hex, loadMediaFixture, unhex } from "../video/media-fixtures.ts";

test("the audio IV is u32be(rikeyid + seq) followed by zeros (reference vector)", () => {
  expect(hex(audioIv(0x12345678, 5))).toBe("1234567d000000000000000000000000");
  expect(hex(audioIv(-1, 2))).toBe("00000001000000000000000000000000"); // 32-bit wrap, signed rikeyid
});

test("the first captured audio packet decrypts to a 60-byte CELT packet and re-encrypts identically", () => {
  const fx = loadMediaFixture("wolf-hevc-clean");
  const cipher = new AudioCipher(unhex(fx.keys.rikey), fx.keys.rikeyid); // negative rikeyid in this fixture
  const packet = fx.audio.find((d) => d.payload[1] === 97)!.payload;
  const h = createAudioRtpHeader();
  expect(parseAudioRtpHeader(packet, h)).toBe(true);
  const opus = cipher.decrypt(h.sequenceNumber, packet.subarray(12))!;
  expect(opus.length).toBe(60);
  expect(opus[0]).toBe(0xe8);
  expect(hex(serializeAudioPacket(h.sequenceNumber, h.timestamp, cipher.encrypt(h.sequenceNumber, opus)))).toBe(hex(packet));
  expect(cipher.decrypt(h.sequenceNumber, packet.subarray(12, 20))).toBeNull();
});
