/**
 * GameStream audio datagrams (reference §6.2–6.4).
 *
 * Data packet (RTP payload type 97), 12-byte RTP header, no extension:
 *
 *   0      1      2             4                  8            12
 *   | 0x80 | 97   | seq u16be   | timestamp u32be  | ssrc u32be | Opus packet, or its AES-CBC ciphertext |
 *
 * The timestamp counts milliseconds (+packetDuration per packet).
 *
 * FEC packet (payload type 127), RS(4+2) parity over the 4 (encrypted) payloads of a block:
 *
 *   0                 12      13      14               16                   20           24
 *   | RTP header (PT 127) | shard | PT 97 | baseSeq u16be | baseTimestamp u32be | ssrc u32be | parity (L) |
 *
 * Encryption (§6.3): AES-128-CBC with PKCS#7, key = rikey, a fresh IV per packet:
 * u32be(rikeyid + sequence) ‖ 12 zero bytes.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { AesCbcDecryptor } from "../libcrypto-aes.ts";

export const AUDIO_RTP_HEADER_SIZE = 12;
export const AUDIO_FEC_HEADER_SIZE = 12;
export const AUDIO_PAYLOAD_TYPE = 97;
export const AUDIO_FEC_PAYLOAD_TYPE = 127;
export const AUDIO_DATA_SHARDS = 4;
export const AUDIO_FEC_SHARDS = 2;
/** Largest audio datagram the reference client accepts. */
export const AUDIO_MAX_DATAGRAM = 1400;

export interface AudioRtpHeader {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
}

export interface AudioFecHeader {
  shardIndex: number;
  /** Payload type of the protected packets (97). */
  payloadType: number;
  baseSequenceNumber: number;
  baseTimestamp: number;
  ssrc: number;
}

export function createAudioRtpHeader(): AudioRtpHeader {
  return { payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0 };
}

export function createAudioFecHeader(): AudioFecHeader {
  return { shardIndex: 0, payloadType: 0, baseSequenceNumber: 0, baseTimestamp: 0, ssrc: 0 };
}

/** Reads the RTP header into `out`; false if the datagram is too short. */
export function parseAudioRtpHeader(datagram: Uint8Array, out: AudioRtpHeader): boolean {
  if (datagram.length < AUDIO_RTP_HEADER_SIZE) return false;
  out.payloadType = datagram[1]! & 0x7f;
  out.sequenceNumber = (datagram[2]! << 8) | datagram[3]!;
  out.timestamp = readU32be(datagram, 4);
  out.ssrc = readU32be(datagram, 8);
  return true;
}

/** Reads the FEC header (after the RTP header) into `out`; false if the datagram is too short. */
export function parseAudioFecHeader(datagram: Uint8Array, out: AudioFecHeader): boolean {
  if (datagram.length < AUDIO_RTP_HEADER_SIZE + AUDIO_FEC_HEADER_SIZE) return false;
  const o = AUDIO_RTP_HEADER_SIZE;
  out.shardIndex = datagram[o]!;
  out.payloadType = datagram[o + 1]!;
  out.baseSequenceNumber = (datagram[o + 2]! << 8) | datagram[o + 3]!;
  out.baseTimestamp = readU32be(datagram, o + 4);
  out.ssrc = readU32be(datagram, o + 8);
  return true;
}

/** Serializes a data packet: RTP header (0x80, PT 97) ‖ payload. */
export function serializeAudioPacket(sequenceNumber: number, timestamp: number, payload: Uint8Array, ssrc = 0): Uint8Array {
  const out = new Uint8Array(AUDIO_RTP_HEADER_SIZE + payload.length);
  writeAudioRtpHeader(out, AUDIO_PAYLOAD_TYPE, sequenceNumber, timestamp, ssrc);
  out.set(payload, AUDIO_RTP_HEADER_SIZE);
  return out;
}

/** Serializes an FEC packet: RTP header (0x80, PT 127) ‖ FEC header ‖ parity. */
export function serializeAudioFecPacket(sequenceNumber: number, fec: AudioFecHeader, parity: Uint8Array): Uint8Array {
  const out = new Uint8Array(AUDIO_RTP_HEADER_SIZE + AUDIO_FEC_HEADER_SIZE + parity.length);
  writeAudioRtpHeader(out, AUDIO_FEC_PAYLOAD_TYPE, sequenceNumber, 0, 0);
  const o = AUDIO_RTP_HEADER_SIZE;
  out[o] = fec.shardIndex;
  out[o + 1] = fec.payloadType;
  out[o + 2] = (fec.baseSequenceNumber >> 8) & 0xff;
  out[o + 3] = fec.baseSequenceNumber & 0xff;
  writeU32be(out, o + 4, fec.baseTimestamp);
  writeU32be(out, o + 8, fec.ssrc);
  out.set(parity, o + AUDIO_FEC_HEADER_SIZE);
  return out;
}

export function writeAudioRtpHeader(out: Uint8Array, payloadType: number, sequenceNumber: number, timestamp: number, ssrc: number): void {
  out[0] = 0x80;
  out[1] = payloadType & 0x7f;
  out[2] = (sequenceNumber >> 8) & 0xff;
  out[3] = sequenceNumber & 0xff;
  writeU32be(out, 4, timestamp);
  writeU32be(out, 8, ssrc);
}

// ---------------------------------------------------------------------------------------------
// Encryption
// ---------------------------------------------------------------------------------------------

export class AudioKeyError extends Error {
  override name = "AudioKeyError";
}

/** The CBC IV of one packet: u32be(rikeyid + sequence) ‖ 0¹². `rikeyid` as signed or unsigned 32-bit. */
export function audioIv(rikeyid: number, sequenceNumber: number, out = new Uint8Array(16)): Uint8Array {
  out.fill(0);
  writeU32be(out, 0, (rikeyid + sequenceNumber) >>> 0);
  return out;
}

/** AES-128-CBC/PKCS#7 for audio payloads, keyed by rikey and rikeyid from /launch. */
export class AudioCipher {
  readonly #key: Uint8Array;
  readonly #keyId: number;
  readonly #iv = new Uint8Array(16);
  readonly #useLibcrypto: boolean;
  #decryptor: AesCbcDecryptor | null | undefined;

  /** `options.libcrypto` false: node:crypto only (otherwise the system libcrypto when it loads, see ../libcrypto-aes.ts). */
  constructor(rikey: Uint8Array, rikeyid: number, options: { libcrypto?: boolean } = {}) {
    if (rikey.length !== 16) throw new AudioKeyError("audio encryption needs the 16-byte rikey");
    this.#key = Uint8Array.from(rikey);
    this.#keyId = rikeyid >>> 0;
    this.#useLibcrypto = options.libcrypto ?? true;
  }

  encrypt(sequenceNumber: number, opus: Uint8Array): Uint8Array {
    const cipher = createCipheriv("aes-128-cbc", this.#key, audioIv(this.#keyId, sequenceNumber, this.#iv));
    return concat(cipher.update(opus), cipher.final());
  }

  /** Null when the ciphertext is not a whole number of blocks or the padding is invalid. */
  decrypt(sequenceNumber: number, ciphertext: Uint8Array): Uint8Array | null {
    if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) return null;
    if (this.#decryptor === undefined) this.#decryptor = this.#useLibcrypto ? AesCbcDecryptor.create(this.#key) : null;
    if (this.#decryptor) {
      // One buffer per packet: it is the Opus packet handed on (no decipher object, no concat).
      const out = new Uint8Array(ciphertext.length);
      const length = this.#decryptor.decrypt(audioIv(this.#keyId, sequenceNumber, this.#iv), ciphertext, 0, ciphertext.length, out);
      return length < 0 ? null : out.subarray(0, length);
    }
    try {
      const decipher = createDecipheriv("aes-128-cbc", this.#key, audioIv(this.#keyId, sequenceNumber, this.#iv));
      return concat(decipher.update(ciphertext), decipher.final());
    } catch {
      return null;
    }
  }

  /** Frees the libcrypto context (idempotent; decryption goes on through node:crypto). */
  close(): void {
    this.#decryptor?.close();
    this.#decryptor = null;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function readU32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function writeU32be(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
