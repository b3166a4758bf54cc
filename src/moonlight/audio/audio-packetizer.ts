/**
 * Host side of the audio path (simulated host): Opus packets in, datagrams out, as Sunshine
 * sends them (reference §6.2–6.4):
 *
 * - data packet: RTP 0x80 / PT 97, sequence from 0, timestamp in ms (+packetDuration each),
 *   payload = Opus, AES-128-CBC encrypted when the client asked for audio encryption;
 * - after every 4th data packet (sequence ≡ 3 mod 4) two FEC packets (PT 127, sequence = last data
 *   sequence + 1 + shard index, timestamp 0) carrying RS(4+2) parity over the four encrypted
 *   payloads with the fixed audio matrix. Parity needs four equal-length payloads (CBR Opus); a
 *   block whose payloads differ in length is sent without FEC (a client would disable FEC anyway).
 */
import {
  AUDIO_DATA_SHARDS,
  AUDIO_FEC_SHARDS,
  AUDIO_PAYLOAD_TYPE,
  type AudioCipher,
  serializeAudioFecPacket,
  serializeAudioPacket,
} from "./audio-packet.ts";
import { ReedSolomon } from "../fec/reed-solomon.ts";

export interface AudioPacketizerOptions {
  /** Milliseconds of audio per packet (`x-nv-aqos.packetDuration`). */
  packetDurationMs: number;
  /** Encrypts payloads when set. */
  cipher?: AudioCipher;
  /** Send RS(4+2) parity packets. Default true. */
  fec?: boolean;
}

export class AudioPacketizer {
  readonly #duration: number;
  readonly #cipher: AudioCipher | undefined;
  readonly #fec: boolean;
  #sequence = 0;
  #timestamp = 0;
  #blockTimestamp = 0;
  readonly #blockPayloads: Uint8Array[] = [];

  constructor(options: AudioPacketizerOptions) {
    this.#duration = options.packetDurationMs;
    this.#cipher = options.cipher;
    this.#fec = options.fec ?? true;
  }

  /** Sequence number the next data packet will carry. */
  get nextSequenceNumber(): number {
    return this.#sequence;
  }

  /** One Opus packet → its data datagram, followed by the block's two FEC datagrams when it closes a block. */
  packetize(opus: Uint8Array): Uint8Array[] {
    const seq = this.#sequence;
    const timestamp = this.#timestamp;
    const payload = this.#cipher ? this.#cipher.encrypt(seq, opus) : opus;
    const out = [serializeAudioPacket(seq, timestamp, payload)];

    if (seq % AUDIO_DATA_SHARDS === 0) {
      this.#blockPayloads.length = 0;
      this.#blockTimestamp = timestamp;
    }
    this.#blockPayloads.push(payload);
    if (this.#fec && seq % AUDIO_DATA_SHARDS === AUDIO_DATA_SHARDS - 1 && this.#blockPayloads.length === AUDIO_DATA_SHARDS) {
      const size = payload.length;
      if (this.#blockPayloads.every((p) => p.length === size)) {
        const parity = [new Uint8Array(size), new Uint8Array(size)];
        ReedSolomon.forAudio().encode(this.#blockPayloads, parity, size);
        const base = (seq - (AUDIO_DATA_SHARDS - 1)) & 0xffff;
        for (let x = 0; x < AUDIO_FEC_SHARDS; x++) {
          const header = { shardIndex: x, payloadType: AUDIO_PAYLOAD_TYPE, baseSequenceNumber: base, baseTimestamp: this.#blockTimestamp, ssrc: 0 };
          out.push(serializeAudioFecPacket((seq + 1 + x) & 0xffff, header, parity[x]!));
        }
      }
    }

    this.#sequence = (seq + 1) & 0xffff;
    this.#timestamp = (timestamp + this.#duration) >>> 0;
    return out;
  }
}
