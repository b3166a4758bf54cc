/**
 * The media ciphers' two back ends give the same bytes: libcrypto through bun:ffi (one reused
 * context, caller-owned buffers) and node:crypto (the fallback where libcrypto cannot be loaded).
 */
import { describe, expect, test } from "bun:test";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { AesGcm, AesKeyError, libcryptoAvailable } from "../../src/moonlight/libcrypto-aes.ts";
import { AudioCipher } from "../../src/moonlight/audio/audio-packet.ts";
import { VIDEO_ENCRYPTION_PREFIX_SIZE, VideoCipher } from "../../src/moonlight/video/video-crypto.ts";

const key = Uint8Array.from({ length: 16 }, (_, i) => i * 7 + 3);

describe("AesGcm (libcrypto through bun:ffi)", () => {
  test("this machine has libcrypto (Debian's libssl3): the fast path is the one under test", () => {
    expect(libcryptoAvailable()).toBe(true);
  });

  test("open() reads IV, tag and ciphertext in place and matches node:crypto; a flipped bit or a wrong key fails", () => {
    const iv = Uint8Array.from({ length: 12 }, (_, i) => 200 - i);
    const plain = Uint8Array.from({ length: 1376 }, (_, i) => (i * 31) & 0xff);
    const sealer = createCipheriv("aes-128-gcm", key, iv);
    const body = Buffer.concat([sealer.update(plain), sealer.final()]);
    // A datagram inside a larger buffer, at an odd offset: IV | tag | ciphertext.
    const backing = new Uint8Array(4000);
    const datagram = backing.subarray(13, 13 + 28 + body.length);
    datagram.set(iv, 0);
    datagram.set(sealer.getAuthTag(), 12);
    datagram.set(body, 28);

    const opener = AesGcm.create(key, "decrypt")!;
    const out = new Uint8Array(1500);
    expect(opener.open(datagram, 0, 12, 28, body.length, out)).toBe(true);
    expect(Buffer.from(out.subarray(0, plain.length)).equals(Buffer.from(plain))).toBe(true);
    // The context is reused: a second datagram opens just the same.
    expect(opener.open(datagram, 0, 12, 28, body.length, out)).toBe(true);

    datagram[100] = datagram[100]! ^ 1;
    expect(opener.open(datagram, 0, 12, 28, body.length, out)).toBe(false);
    datagram[100] = datagram[100]! ^ 1;
    expect(AesGcm.create(new Uint8Array(16), "decrypt")!.open(datagram, 0, 12, 28, body.length, out)).toBe(false);
    // Bounds are checked before any native call.
    expect(opener.open(datagram, 0, 12, 28, body.length + 1, out)).toBe(false);
    expect(opener.open(datagram, 0, 12, 28, body.length, new Uint8Array(10))).toBe(false);
    opener.close();
    opener.close(); // idempotent
    expect(opener.open(datagram, 0, 12, 28, body.length, out)).toBe(false);
  });

  test("seal() writes the same ciphertext and tag as node:crypto", () => {
    const iv = new Uint8Array(12).fill(9);
    const plain = Uint8Array.from({ length: 999 }, (_, i) => i & 0xff);
    const out = new Uint8Array(1100);
    const tag = new Uint8Array(20);
    const sealer = AesGcm.create(key, "encrypt")!;
    expect(sealer.seal(iv, plain, plain.length, out, 50, tag, 4)).toBe(true);
    const opener = createDecipheriv("aes-128-gcm", key, iv);
    opener.setAuthTag(tag.subarray(4, 20));
    expect(Buffer.concat([opener.update(out.subarray(50, 50 + plain.length)), opener.final()]).equals(Buffer.from(plain))).toBe(true);
    sealer.close();
  });

  test("a key that is not 16 bytes is refused", () => {
    expect(() => AesGcm.create(new Uint8Array(15), "decrypt")).toThrow(AesKeyError);
  });
});

describe("VideoCipher: ffi and node:crypto back ends agree", () => {
  test("datagrams sealed by one open with the other, in both directions; decryptInto fills a caller buffer", () => {
    const fast = new VideoCipher(key);
    const node = new VideoCipher(key, { libcrypto: false });
    const shard = Uint8Array.from({ length: 1376 }, (_, i) => (i * 13) & 0xff);
    const a = fast.encrypt(shard, 7);
    const b = node.encrypt(shard, 7);
    // Same key, same counter IV: byte-identical datagrams.
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(VideoCipher.frameNumberOf(a)).toBe(7);
    const out = new Uint8Array(1376);
    for (const [opener, datagram] of [[fast, b], [node, a]] as const) {
      out.fill(0);
      expect(opener.decryptInto(datagram, out)).toBe(1376);
      expect(Buffer.from(out).equals(Buffer.from(shard))).toBe(true);
      expect(Buffer.from(opener.decrypt(datagram)!).equals(Buffer.from(shard))).toBe(true);
    }
    // Too small a buffer, too short a datagram, a tampered one: -1, nothing thrown.
    expect(fast.decryptInto(a, new Uint8Array(1375))).toBe(-1);
    expect(fast.decryptInto(a.subarray(0, VIDEO_ENCRYPTION_PREFIX_SIZE), out)).toBe(-1);
    const tampered = Uint8Array.from(a);
    tampered[40] = tampered[40]! ^ 0x80;
    expect(fast.decryptInto(tampered, out)).toBe(-1);
    expect(node.decryptInto(tampered, out)).toBe(-1);
    // After close() the cipher goes on through node:crypto.
    fast.close();
    fast.close();
    expect(fast.decryptInto(a, out)).toBe(1376);
  });
});

describe("AudioCipher: ffi and node:crypto back ends agree", () => {
  test("every Opus length 1…100 round-trips (PKCS#7 removed), bad padding and partial blocks give null", () => {
    const fast = new AudioCipher(key, -7);
    const node = new AudioCipher(key, -7, { libcrypto: false });
    for (let length = 1; length <= 100; length++) {
      const opus = Uint8Array.from({ length }, (_, i) => (i * 17 + length) & 0xff);
      const sealed = node.encrypt(length, opus);
      expect(Buffer.from(fast.decrypt(length, sealed)!).equals(Buffer.from(opus))).toBe(true);
      expect(Buffer.from(node.decrypt(length, sealed)!).equals(Buffer.from(opus))).toBe(true);
    }
    const sealed = node.encrypt(5, new Uint8Array(30));
    // Another sequence number is another IV: the padding no longer checks out (or the bytes differ).
    const wrongIv = fast.decrypt(6, sealed);
    expect(wrongIv === null || !Buffer.from(wrongIv).equals(Buffer.alloc(30))).toBe(true);
    expect(fast.decrypt(5, sealed.subarray(0, 17))).toBeNull();
    expect(fast.decrypt(5, new Uint8Array(0))).toBeNull();
    fast.close();
    fast.close();
    expect(Buffer.from(fast.decrypt(5, sealed)!).equals(Buffer.alloc(30))).toBe(true);
  });
});
