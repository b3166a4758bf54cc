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
 * Both directions use one reused libcrypto context (../libcrypto-aes.ts) when it can be loaded:
 * the receive side decrypts into a buffer the caller owns (`decryptInto`), with no allocation per
 * datagram. Without libcrypto, node:crypto does the same work with an object and a buffer per call.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { AesGcm } from "../libcrypto-aes.ts";

export const VIDEO_ENCRYPTION_PREFIX_SIZE = 32;
const IV_SIZE = 12;
const TAG_SIZE = 16;
const STREAM_TAG_VIDEO = 0x56; // 'V'

export class VideoCipherKeyError extends Error {
  override name = "VideoCipherKeyError";
}

export interface VideoCipherOptions {
  /** Use the system libcrypto through bun:ffi when it loads (default true); false = node:crypto only. */
  libcrypto?: boolean;
}

export class VideoCipher {
  readonly #key: Uint8Array;
  readonly #iv = new Uint8Array(IV_SIZE);
  #counter = 0n;
  readonly #useLibcrypto: boolean;
  #opener: AesGcm | null | undefined;
  #sealer: AesGcm | null | undefined;

  constructor(key: Uint8Array, options: VideoCipherOptions = {}) {
    if (key.length !== 16) throw new VideoCipherKeyError("video encryption needs the 16-byte rikey");
    this.#key = Uint8Array.from(key);
    this.#useLibcrypto = options.libcrypto ?? true;
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
    const out = new Uint8Array(VIDEO_ENCRYPTION_PREFIX_SIZE + shard.length);
    out.set(iv, 0);
    out[12] = frameNumber & 0xff;
    out[13] = (frameNumber >>> 8) & 0xff;
    out[14] = (frameNumber >>> 16) & 0xff;
    out[15] = (frameNumber >>> 24) & 0xff;
    if (this.#sealer === undefined) this.#sealer = this.#useLibcrypto ? AesGcm.create(this.#key, "encrypt") : null;
    if (this.#sealer?.seal(iv, shard, shard.length, out, VIDEO_ENCRYPTION_PREFIX_SIZE, out, IV_SIZE + 4)) return out;
    const cipher = createCipheriv("aes-128-gcm", this.#key, iv);
    const body = cipher.update(shard);
    cipher.final();
    out.set(cipher.getAuthTag(), IV_SIZE + 4);
    out.set(body, VIDEO_ENCRYPTION_PREFIX_SIZE);
    return out;
  }

  /** Opens one datagram into a new buffer; null if it is too short or fails authentication. */
  decrypt(datagram: Uint8Array): Uint8Array | null {
    if (datagram.length <= VIDEO_ENCRYPTION_PREFIX_SIZE) return null;
    const opener = this.#openerOrNull();
    if (opener) {
      const out = new Uint8Array(datagram.length - VIDEO_ENCRYPTION_PREFIX_SIZE);
      return opener.open(datagram, 0, IV_SIZE + 4, VIDEO_ENCRYPTION_PREFIX_SIZE, out.length, out) ? out : null;
    }
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

  /**
   * Opens one datagram into `out` (the hot path: nothing allocated with libcrypto). Returns the
   * plaintext length, or -1 if the datagram is too short, does not fit `out`, or fails authentication.
   */
  decryptInto(datagram: Uint8Array, out: Uint8Array): number {
    const length = datagram.length - VIDEO_ENCRYPTION_PREFIX_SIZE;
    if (length <= 0 || length > out.length) return -1;
    const opener = this.#openerOrNull();
    if (opener) return opener.open(datagram, 0, IV_SIZE + 4, VIDEO_ENCRYPTION_PREFIX_SIZE, length, out) ? length : -1;
    const plain = this.decrypt(datagram);
    if (!plain) return -1;
    out.set(plain, 0);
    return plain.length;
  }

  /** Frees the libcrypto contexts (idempotent; the cipher keeps working through node:crypto afterwards). */
  close(): void {
    this.#opener?.close();
    this.#sealer?.close();
    this.#opener = this.#sealer = null;
  }

  #openerOrNull(): AesGcm | null {
    if (this.#opener === undefined) this.#opener = this.#useLibcrypto ? AesGcm.create(this.#key, "decrypt") : null;
    return this.#opener;
  }
}
