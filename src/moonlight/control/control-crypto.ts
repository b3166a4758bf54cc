/**
 * The encrypted control-message envelope of Sunshine-gen sessions (reference §4.2), both
 * directions, both IV schemes. Key = rikey, AES-128-GCM, no AAD, 16-byte tag.
 *
 *   u16le 0x0001        marker: "encrypted message"
 *   u16le length        = 4 (seq) + 16 (tag) + 4 + payloadLength
 *   u32le seq           per-direction counter from 0
 *   tag[16]
 *   ciphertext          of the V2 plaintext: u16le type ‖ u16le payloadLength ‖ payload
 *
 * IV, "v2" scheme (host advertised encryptionSupported bit 0x01, i.e. Sunshine):
 *   u32le seq ‖ 0×6 ‖ direction ('C' 0x43 client→host, 'H' 0x48 host→client) ‖ 'C' (0x43)
 * IV, "legacy" scheme (GFE, Wolf 2024): 16 bytes, byte 0 = seq & 0xFF, the rest zero.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { ControlMessageFormatError, parseControlMessage, type ControlMessage } from "./control-messages.ts";

export type ControlIvScheme = "v2" | "legacy";
export type ControlDirection = "client-to-host" | "host-to-client";

export const ENCRYPTED_CONTROL_MARKER = 0x0001;
/** Bytes before the ciphertext: marker, length, seq, tag. */
export const CONTROL_ENVELOPE_OVERHEAD = 2 + 2 + 4 + 16;
const GCM_TAG_LENGTH = 16;

export class ControlDecryptError extends Error {
  override name = "ControlDecryptError";
}

export function controlIv(scheme: ControlIvScheme, seq: number, direction: ControlDirection): Uint8Array {
  if (scheme === "legacy") {
    const iv = new Uint8Array(16);
    iv[0] = seq & 0xff;
    return iv;
  }
  const iv = new Uint8Array(12);
  new DataView(iv.buffer).setUint32(0, seq >>> 0, true);
  iv[10] = direction === "client-to-host" ? 0x43 : 0x48;
  iv[11] = 0x43;
  return iv;
}

/** AES-128-GCM without AAD; GameStream framings put the tag before the ciphertext. */
export function aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): { tag: Uint8Array; ciphertext: Uint8Array } {
  const cipher = createCipheriv("aes-128-gcm", key, iv, { authTagLength: GCM_TAG_LENGTH });
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const ciphertext = tail.byteLength === 0 ? new Uint8Array(head) : new Uint8Array(Buffer.concat([head, tail]));
  return { tag: new Uint8Array(cipher.getAuthTag()), ciphertext };
}

/** Throws ControlDecryptError when the tag does not authenticate. */
export function aesGcmDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array {
  try {
    const decipher = createDecipheriv("aes-128-gcm", key, iv, { authTagLength: GCM_TAG_LENGTH });
    decipher.setAuthTag(tag);
    const head = decipher.update(ciphertext);
    const tail = decipher.final();
    return tail.byteLength === 0 ? new Uint8Array(head) : new Uint8Array(Buffer.concat([head, tail]));
  } catch {
    throw new ControlDecryptError("control message failed authentication");
  }
}

export interface ControlEnvelopeParams {
  key: Uint8Array;
  scheme: ControlIvScheme;
  /** Direction of the message (selects the IV's direction byte in the v2 scheme). */
  direction: ControlDirection;
}

export interface ControlPlainMessage {
  seq: number;
  type: number;
  payload: Uint8Array;
}

/** Encrypts one control message into the envelope above. */
export function sealControlMessage(params: ControlEnvelopeParams, message: ControlPlainMessage): Uint8Array {
  const plaintext = new Uint8Array(4 + message.payload.byteLength);
  const pv = new DataView(plaintext.buffer);
  pv.setUint16(0, message.type, true);
  pv.setUint16(2, message.payload.byteLength, true);
  plaintext.set(message.payload, 4);
  const { tag, ciphertext } = aesGcmEncrypt(params.key, controlIv(params.scheme, message.seq, params.direction), plaintext);
  const out = new Uint8Array(CONTROL_ENVELOPE_OVERHEAD + ciphertext.byteLength);
  const ov = new DataView(out.buffer);
  ov.setUint16(0, ENCRYPTED_CONTROL_MARKER, true);
  ov.setUint16(2, 4 + GCM_TAG_LENGTH + ciphertext.byteLength, true);
  ov.setUint32(4, message.seq >>> 0, true);
  out.set(tag, 8);
  out.set(ciphertext, CONTROL_ENVELOPE_OVERHEAD);
  return out;
}

/**
 * Checks and decrypts one envelope (marker, exact length, tag) and strips the V2 header.
 * Throws ControlDecryptError on anything else: plaintext messages, bad lengths, bad tags.
 */
export function openControlMessage(params: ControlEnvelopeParams, envelope: Uint8Array): ControlPlainMessage {
  if (envelope.byteLength < CONTROL_ENVELOPE_OVERHEAD + 4) {
    throw new ControlDecryptError(`control envelope of ${envelope.byteLength} bytes`);
  }
  const view = new DataView(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (view.getUint16(0, true) !== ENCRYPTED_CONTROL_MARKER) throw new ControlDecryptError("not an encrypted control message");
  const length = view.getUint16(2, true);
  if (length + 4 !== envelope.byteLength) throw new ControlDecryptError(`envelope length ${length} ≠ ${envelope.byteLength - 4}`);
  const seq = view.getUint32(4, true);
  const tag = envelope.subarray(8, 8 + GCM_TAG_LENGTH);
  const plaintext = aesGcmDecrypt(params.key, controlIv(params.scheme, seq, params.direction), envelope.subarray(CONTROL_ENVELOPE_OVERHEAD), tag);
  const pv = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const type = pv.getUint16(0, true);
  const payloadLength = pv.getUint16(2, true);
  if (payloadLength > plaintext.byteLength - 4) throw new ControlDecryptError(`inner length ${payloadLength} overruns message`);
  return { seq, type, payload: plaintext.subarray(4, 4 + payloadLength) };
}

/**
 * One side of an encrypted control stream: seals outgoing messages with its own counter (from 0)
 * and opens the other side's messages.
 */
export class ControlCipher {
  #key: Uint8Array;
  #scheme: ControlIvScheme;
  #local: ControlDirection;
  #remote: ControlDirection;
  #nextSeq = 0;

  constructor(options: { key: Uint8Array; scheme: ControlIvScheme; side: "client" | "host" }) {
    if (options.key.byteLength !== 16) throw new RangeError("control key must be 16 bytes (rikey)");
    this.#key = Uint8Array.from(options.key);
    this.#scheme = options.scheme;
    this.#local = options.side === "client" ? "client-to-host" : "host-to-client";
    this.#remote = options.side === "client" ? "host-to-client" : "client-to-host";
  }

  get scheme(): ControlIvScheme {
    return this.#scheme;
  }

  /** Sequence number the next sealed message will carry. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  seal(type: number, payload: Uint8Array): Uint8Array {
    const seq = this.#nextSeq;
    this.#nextSeq = (this.#nextSeq + 1) >>> 0;
    return sealControlMessage({ key: this.#key, scheme: this.#scheme, direction: this.#local }, { seq, type, payload });
  }

  open(envelope: Uint8Array): ControlPlainMessage {
    return openControlMessage({ key: this.#key, scheme: this.#scheme, direction: this.#remote }, envelope);
  }

  /**
   * Opens and decodes one message from the other side. Network input never throws out of here:
   * what fails authentication or does not decode comes back as a reason to count and drop.
   */
  receive(envelope: Uint8Array): { message: ControlMessage } | { dropped: "undecryptable" | "malformed"; detail: string } {
    let plain: ControlPlainMessage;
    try {
      plain = this.open(envelope);
    } catch (error) {
      if (!(error instanceof ControlDecryptError)) throw error;
      return { dropped: "undecryptable", detail: error.message };
    }
    try {
      return { message: parseControlMessage(plain.type, plain.payload, this.#remote) };
    } catch (error) {
      if (!(error instanceof ControlMessageFormatError)) throw error;
      return { dropped: "malformed", detail: error.message };
    }
  }
}
