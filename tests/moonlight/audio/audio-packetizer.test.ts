import { expect, test } from "bun:test";
import { AudioCipher, createAudioFecHeader, parseAudioFecHeader } from "../../../src/moonlight/audio/audio-packet.ts";
import { AudioPacketizer } from "../../../src/moonlight/audio/audio-packetizer.ts";
import { hex, loadMediaFixture, unhex } from "../video/media-fixtures.ts";

test("with the fixture's keys, AudioPacketizer re-creates Wolf's data and parity payloads byte for byte", () => {
  const fx = loadMediaFixture("wolf-h264-clean");
  const key = unhex(fx.keys.rikey);
  const decrypt = new AudioCipher(key, fx.keys.rikeyid);
  const packetizer = new AudioPacketizer({ packetDurationMs: 5, cipher: new AudioCipher(key, fx.keys.rikeyid) });
  const captured = fx.audio.map((d) => d.payload);
  const data = captured.filter((d) => d[1] === 97);
  const parity = new Map(captured.filter((d) => d[1] === 127).map((d) => [`${(d[14]! << 8) | d[15]!}/${d[12]}`, d]));
  let parityCompared = 0;
  for (const packet of data.slice(0, 400)) {
    const seq = (packet[2]! << 8) | packet[3]!;
    const opus = decrypt.decrypt(seq, packet.subarray(12))!;
    const [ours, ...fec] = packetizer.packetize(opus);
    expect(hex(ours!)).toBe(hex(packet)); // RTP header (0x80, 97, seq, 5·seq ms, ssrc 0) and ciphertext
    const h = createAudioFecHeader();
    for (const f of fec) {
      expect(parseAudioFecHeader(f, h)).toBe(true);
      const wolf = parity.get(`${h.baseSequenceNumber}/${h.shardIndex}`)!;
      expect(hex(f.subarray(12))).toBe(hex(wolf.subarray(12))); // FEC header and parity (RTP seq differs: Wolf numbers them differently)
      parityCompared++;
    }
  }
  expect(parityCompared).toBe(200);
});
