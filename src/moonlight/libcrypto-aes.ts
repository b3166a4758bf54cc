/**
 * AES-128-GCM (video) and AES-128-CBC decryption (audio) through the system's OpenSSL libcrypto
 * (bun:ffi), one reused EVP_CIPHER_CTX each, writing into caller-owned buffers: the media hot
 * path's ciphers (issue 22).
 *
 * Why: node:crypto has no way to reuse a GCM context or decrypt into a given buffer, so every
 * datagram paid for a decipher object, a plaintext Buffer and the garbage they leave (measured
 * in Bun 1.4: 6.7 µs per 1.4 KB datagram, against 1.3 µs here with four ffi calls).
 *
 * Where libcrypto cannot be loaded (no libssl3 / libcrypto.so.3, not Linux, ffi refused),
 * `AesGcm.create` returns null and callers keep their node:crypto path; the result is the same
 * bytes either way.
 */
import { dlopen, FFIType, ptr, type Pointer } from "bun:ffi";
import { logger } from "../core/log.ts";

const log = logger("crypto");

// openssl/evp.h
const EVP_CTRL_GCM_SET_IVLEN = 0x9;
const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;
const LIBRARY_NAMES = ["libcrypto.so.3", "libcrypto.so"];

function loadLibcrypto() {
  const symbols = {
    EVP_CIPHER_CTX_new: { args: [], returns: FFIType.ptr },
    EVP_CIPHER_CTX_free: { args: [FFIType.ptr], returns: FFIType.void },
    EVP_aes_128_gcm: { args: [], returns: FFIType.ptr },
    EVP_aes_128_cbc: { args: [], returns: FFIType.ptr },
    EVP_CipherInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    EVP_CIPHER_CTX_ctrl: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    EVP_CipherUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    EVP_CipherFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  } as const;
  for (const name of LIBRARY_NAMES) {
    try {
      return dlopen(name, symbols).symbols;
    } catch {
      // try the next name
    }
  }
  return null;
}

type Libcrypto = NonNullable<ReturnType<typeof loadLibcrypto>>;
let libcrypto: Libcrypto | null | undefined;

function library(): Libcrypto | null {
  if (libcrypto === undefined) {
    try {
      libcrypto = loadLibcrypto();
    } catch {
      libcrypto = null;
    }
    if (!libcrypto) log.debug("libcrypto not loadable through bun:ffi: media ciphers use node:crypto");
  }
  return libcrypto;
}

/** True when the ffi path is in use (for the bench's and the tests' notes). */
export function libcryptoAvailable(): boolean {
  return library() !== null;
}

export class AesKeyError extends Error {
  override name = "AesKeyError";
}

/**
 * One direction of AES-128-GCM with a 12-byte IV and a 16-byte tag, no AAD, key fixed at creation.
 * Inputs are given as (buffer, offset, length) so that no subarray is made per datagram. Not
 * thread-safe; close() frees the context (idempotent; later calls fail closed).
 */
export class AesGcm {
  readonly #lib: Libcrypto;
  #ctx: Pointer | null;
  readonly #encrypt: boolean;
  readonly #outLength = new Int32Array(1);
  readonly #scratch = new Uint8Array(16);

  private constructor(lib: Libcrypto, ctx: Pointer, encrypt: boolean) {
    this.#lib = lib;
    this.#ctx = ctx;
    this.#encrypt = encrypt;
  }

  /** A context keyed with `key` (16 bytes), or null when libcrypto is not usable here. */
  static create(key: Uint8Array, direction: "encrypt" | "decrypt"): AesGcm | null {
    if (key.length !== 16) throw new AesKeyError("AES-128 needs a 16-byte key");
    const lib = library();
    if (!lib) return null;
    const ctx = lib.EVP_CIPHER_CTX_new() as Pointer | null;
    if (!ctx) return null;
    const enc = direction === "encrypt" ? 1 : 0;
    if (!lib.EVP_CipherInit_ex(ctx, lib.EVP_aes_128_gcm(), null, null, null, enc) || !lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, null) || !lib.EVP_CipherInit_ex(ctx, null, null, key, null, enc)) {
      lib.EVP_CIPHER_CTX_free(ctx);
      return null;
    }
    return new AesGcm(lib, ctx, direction === "encrypt");
  }

  /**
   * Decrypts `length` bytes of `input` at `inputOffset` into `output` at 0, checking the tag at
   * `tagOffset` and taking the IV from `ivOffset` (both in `input`). False on a bad tag.
   */
  open(input: Uint8Array, ivOffset: number, tagOffset: number, inputOffset: number, length: number, output: Uint8Array): boolean {
    const ctx = this.#ctx;
    if (!ctx || this.#encrypt || length < 0 || inputOffset + length > input.length || length > output.length) return false;
    const lib = this.#lib;
    const base = ptr(input);
    const out = ptr(output);
    return (
      lib.EVP_CipherInit_ex(ctx, null, null, null, (base + ivOffset) as Pointer, -1) === 1 &&
      lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (base + tagOffset) as Pointer) === 1 &&
      lib.EVP_CipherUpdate(ctx, out, this.#outLength, (base + inputOffset) as Pointer, length) === 1 &&
      lib.EVP_CipherFinal_ex(ctx, out, this.#outLength) === 1
    );
  }

  /** Encrypts `length` bytes of `input` into `output` at `outputOffset`, with `iv` (12 bytes); the tag goes to `tag` at `tagOffset`. */
  seal(iv: Uint8Array, input: Uint8Array, length: number, output: Uint8Array, outputOffset: number, tag: Uint8Array, tagOffset: number): boolean {
    const ctx = this.#ctx;
    if (!ctx || !this.#encrypt || length > input.length || outputOffset + length > output.length || tagOffset + 16 > tag.length) return false;
    const lib = this.#lib;
    const out = (ptr(output) + outputOffset) as Pointer;
    if (
      lib.EVP_CipherInit_ex(ctx, null, null, null, iv, -1) !== 1 ||
      lib.EVP_CipherUpdate(ctx, out, this.#outLength, input, length) !== 1 ||
      lib.EVP_CipherFinal_ex(ctx, this.#scratch, this.#outLength) !== 1 ||
      lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, (ptr(tag) + tagOffset) as Pointer) !== 1
    ) {
      return false;
    }
    return true;
  }

  close(): void {
    if (!this.#ctx) return;
    this.#lib.EVP_CIPHER_CTX_free(this.#ctx);
    this.#ctx = null;
  }
}

/**
 * AES-128-CBC decryption with PKCS#7 padding removed (GameStream audio, §6.3), key fixed at
 * creation, IV per call. Not thread-safe; close() is idempotent and later calls fail closed.
 */
export class AesCbcDecryptor {
  readonly #lib: Libcrypto;
  #ctx: Pointer | null;
  readonly #outLength = new Int32Array(1);

  private constructor(lib: Libcrypto, ctx: Pointer) {
    this.#lib = lib;
    this.#ctx = ctx;
  }

  /** A context keyed with `key` (16 bytes), or null when libcrypto is not usable here. */
  static create(key: Uint8Array): AesCbcDecryptor | null {
    if (key.length !== 16) throw new AesKeyError("AES-128 needs a 16-byte key");
    const lib = library();
    if (!lib) return null;
    const ctx = lib.EVP_CIPHER_CTX_new() as Pointer | null;
    if (!ctx) return null;
    if (!lib.EVP_CipherInit_ex(ctx, lib.EVP_aes_128_cbc(), null, key, null, 0)) {
      lib.EVP_CIPHER_CTX_free(ctx);
      return null;
    }
    return new AesCbcDecryptor(lib, ctx);
  }

  /**
   * Decrypts `length` bytes (a multiple of 16) of `input` at `inputOffset` into `output` at 0 with
   * `iv` (16 bytes). Returns the plaintext length, or -1 on bad padding or bounds.
   */
  decrypt(iv: Uint8Array, input: Uint8Array, inputOffset: number, length: number, output: Uint8Array): number {
    const ctx = this.#ctx;
    if (!ctx || length <= 0 || length % 16 !== 0 || inputOffset + length > input.length || length > output.length) return -1;
    const lib = this.#lib;
    const out = ptr(output);
    if (lib.EVP_CipherInit_ex(ctx, null, null, null, iv, -1) !== 1) return -1;
    if (lib.EVP_CipherUpdate(ctx, out, this.#outLength, (ptr(input) + inputOffset) as Pointer, length) !== 1) return -1;
    const written = this.#outLength[0]!;
    if (lib.EVP_CipherFinal_ex(ctx, (out + written) as Pointer, this.#outLength) !== 1) return -1;
    return written + this.#outLength[0]!;
  }

  close(): void {
    if (!this.#ctx) return;
    this.#lib.EVP_CIPHER_CTX_free(this.#ctx);
    this.#ctx = null;
  }
}
