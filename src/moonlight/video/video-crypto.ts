/**
 * Optional video encryption (Sunshine extension, reference §5.7): every shard — the complete
 * packetSize + 16 byte datagram after FEC and stamping — is sealed on its own with AES-128-GCM
 * (key = rikey, no AAD) and sent behind a 32-byte prefix:
 *
 *   0            12                 16          32
 *   | IV (12 B)  | frameNumber u32le | tag (16 B) | ciphertext (packetSize + 16 B) |
 *
 * Sunshine's IV: u64le packet counter from 0 in bytes 0–7, zeros in 8–10, 'V' in byte 11. The
 * plaintext frame number lets a receiver skip decrypting shards of frames it has finished.
 * When encryption is on, the SDP packetSize is already 32 bytes smaller, so datagrams keep size.
 *
 * The receive side allocates one plaintext buffer per datagram (node:crypto has no in-place GCM);
 * this path only runs for hosts that negotiated video encryption.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

export const VIDEO_ENCRYPTION_PREFIX_SIZE = 32;
const IV_SIZE = 12;
const TAG_SIZE = 16;
const STREAM_TAG_VIDEO = 0x56; // 'V'

export class VideoCipherKeyError extends Error {
  override name = "VideoCipherKeyError";
}

export class VideoCipher {
  readonly #key: Uint8Array;
  readonly #iv = new Uint8Array(IV_SIZE);
  #counter = 0n;

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new VideoCipherKeyError("video encryption needs the 16-byte rikey");
    this.#key = Uint8Array.from(key);
  }

  /** Plaintext frame number of an encrypted datagram (0 if too short). */
  static frameNumberOf(datagram: Uint8Array): number {
    if (datagram.length < VIDEO_ENCRYPTION_PREFIX_SIZE) return 0;
    return (datagram[12]! | (datagram[13]! << 8) | (datagram[14]! << 16) | (datagram[15]! << 24)) >>> 0;
  }

  /**
   * True when the unauthenticated frame number says the datagram belongs to a frame before
   * `currentFrame`: such shards are dropped without spending a decryption. 0 means "not given".
   */
  isStale(datagram: Uint8Array, currentFrame: number): boolean {
    const frame = VideoCipher.frameNumberOf(datagram);
    return frame !== 0 && ((frame - currentFrame) | 0) < 0;
  }

  /** Seals one shard (host side) with the next counter IV. */
  encrypt(shard: Uint8Array, frameNumber: number): Uint8Array {
    const iv = this.#iv;
    let c = this.#counter++;
    for (let i = 0; i < 8; i++) {
      iv[i] = Number(c & 0xffn);
      c >>= 8n;
    }
    iv[8] = iv[9] = iv[10] = 0;
    iv[11] = STREAM_TAG_VIDEO;
    const cipher = createCipheriv("aes-128-gcm", this.#key, iv);
    const body = cipher.update(shard);
    cipher.final();
    const out = new Uint8Array(VIDEO_ENCRYPTION_PREFIX_SIZE + shard.length);
    out.set(iv, 0);
    out[12] = frameNumber & 0xff;
    out[13] = (frameNumber >>> 8) & 0xff;
    out[14] = (frameNumber >>> 16) & 0xff;
    out[15] = (frameNumber >>> 24) & 0xff;
    out.set(cipher.getAuthTag(), IV_SIZE + 4);
    out.set(body, VIDEO_ENCRYPTION_PREFIX_SIZE);
    return out;
  }

  /** Opens one datagram; null if it is too short or fails authentication. */
  decrypt(datagram: Uint8Array): Uint8Array | null {
    if (datagram.length <= VIDEO_ENCRYPTION_PREFIX_SIZE) return null;
    try {
      const decipher = createDecipheriv("aes-128-gcm", this.#key, datagram.subarray(0, IV_SIZE));
      decipher.setAuthTag(datagram.subarray(IV_SIZE + 4, IV_SIZE + 4 + TAG_SIZE));
      const plain = decipher.update(datagram.subarray(VIDEO_ENCRYPTION_PREFIX_SIZE));
      decipher.final();
      return plain;
    } catch {
      return null;
    }
  }
}
