/**
 * The floor of the fan-out benchmark, from JS: floor.c compiled with `cc` (against Debian's
 * libsrtp2: `apt-get install libsrtp2-dev`) into a temporary shared library and loaded with bun:ffi.
 * FloorSender sends a frame's shared RTP packets to every viewer in one call (copy, sequence
 * number, srtp_protect, sendto, all in C); FloorReceivers is the receiving side for the receiver
 * processes (a C thread decrypts, JS drains the packets every few milliseconds).
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export type SrtpSuite = "cm" | "gcm";
/** Key + salt bytes: AES_CM_128_HMAC_SHA1_80 30, AEAD_AES_128_GCM 28. */
export const SRTP_KEY_BYTES: Record<SrtpSuite, number> = { cm: 30, gcm: 28 };

const SOURCE = resolve(import.meta.dir, "floor.c");
const { i32, u32, ptr: pointer, void: none } = FFIType;

function load() {
  const dir = mkdtempSync(join(tmpdir(), "fanout-floor-"));
  const library = join(dir, "libfloor.so");
  const cc = Bun.spawnSync(["cc", "-O2", "-Wno-deprecated-declarations", "-shared", "-fPIC", "-o", library, SOURCE, "-lsrtp2", "-lcrypto", "-lpthread"], { stderr: "pipe" });
  if (cc.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`floor: cc failed (needs cc, libssl-dev and libsrtp2-dev):\n${cc.stderr.toString()}`);
  }
  const lib = dlopen(library, {
    floor_tx_open: { args: [pointer, i32, i32, i32], returns: i32 },
    floor_tx_close: { args: [i32], returns: none },
    floor_tx_send: { args: [pointer, i32, pointer, pointer, i32], returns: i32 },
    floor_tx_send_gso: { args: [pointer, i32, pointer, pointer, i32], returns: i32 },
    floor_rx_open: { args: [pointer, i32], returns: i32 },
    floor_rx_port: { args: [i32], returns: i32 },
    floor_rx_close: { args: [i32], returns: none },
    floor_rx_drain: { args: [pointer, i32], returns: i32 },
    floor_rx_dropped: { args: [], returns: u32 },
    floor_selftest: { args: [i32], returns: i32 },
  });
  rmSync(dir, { recursive: true, force: true }); // mapped already
  for (const gcm of [0, 1]) {
    const status = lib.symbols.floor_selftest(gcm);
    if (status !== 0) throw new FloorError(`floor: SRTP (${gcm ? "GCM" : "CM"}) does not match libsrtp2 (self-test ${status})`);
  }
  return lib.symbols;
}

let symbols: ReturnType<typeof load> | undefined;
const floor = () => (symbols ??= load());

export class FloorError extends Error {
  override name = "FloorError";
}

/**
 * Sends frames to viewer sockets; a viewer is a slot in the C library. `gso`: a viewer's packets of
 * a frame leave in UDP GSO runs (what a batch-send API would allow) instead of one sendto each.
 */
export class FloorSender {
  readonly #suite: SrtpSuite;
  readonly #gso: boolean;
  #slots = new Int32Array(64);
  #offsets = new Uint32Array(512);

  constructor(suite: SrtpSuite, options: { gso?: boolean } = {}) {
    this.#suite = suite;
    this.#gso = options.gso ?? false;
    floor();
  }

  /** Opens a viewer that receives on 127.0.0.1:`port` with `key`; returns its slot. */
  open(key: Uint8Array, port: number): number {
    const slot = floor().floor_tx_open(ptr(key), port, this.#suite === "gcm" ? 1 : 0, Math.floor(Math.random() * 0x10000));
    if (slot < 0) throw new FloorError("floor_tx_open failed");
    return slot;
  }

  close(slot: number): void {
    floor().floor_tx_close(slot);
  }

  /** Sends the packets (views into one buffer, in order) to `slots`; returns packets sent. */
  send(slots: readonly number[], packets: readonly Uint8Array[]): number {
    if (slots.length === 0 || packets.length === 0) return 0;
    if (this.#slots.length < slots.length) this.#slots = new Int32Array(slots.length * 2);
    if (this.#offsets.length < packets.length + 1) this.#offsets = new Uint32Array(packets.length * 2 + 1);
    for (let i = 0; i < slots.length; i++) this.#slots[i] = slots[i]!;
    const base = packets[0]!.byteOffset;
    for (let i = 0; i < packets.length; i++) this.#offsets[i] = packets[i]!.byteOffset - base;
    const last = packets[packets.length - 1]!;
    this.#offsets[packets.length] = last.byteOffset + last.byteLength - base;
    const frame = new Uint8Array(last.buffer, base, this.#offsets[packets.length]);
    const send = this.#gso ? floor().floor_tx_send_gso : floor().floor_tx_send;
    return send(ptr(this.#slots), slots.length, ptr(frame), ptr(this.#offsets), packets.length);
  }
}

/** The receiving sockets of one receiver process; `onPacket(slot, rtp)` per decrypted packet. */
export class FloorReceivers {
  readonly #out = new Uint8Array(8 << 20);
  readonly #view = new DataView(this.#out.buffer);
  readonly #suite: SrtpSuite;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(suite: SrtpSuite, onPacket: (slot: number, rtp: Uint8Array) => void) {
    this.#suite = suite;
    floor();
    this.#timer = setInterval(() => {
      for (;;) {
        const bytes = floor().floor_rx_drain(ptr(this.#out), this.#out.length);
        if (bytes <= 0) return;
        for (let at = 0; at < bytes; ) {
          const slot = this.#view.getUint32(at, true);
          const length = this.#view.getUint32(at + 4, true);
          // A copy, as node-datachannel hands each message over: the depacketizer keeps the parts.
          onPacket(slot, this.#out.slice(at + 8, at + 8 + length));
          at += 8 + length;
        }
        if (bytes < this.#out.length / 2) return;
      }
    }, 2);
  }

  /** Opens a socket for `key`; returns its slot and port. */
  open(key: Uint8Array): { slot: number; port: number } {
    const slot = floor().floor_rx_open(ptr(key), this.#suite === "gcm" ? 1 : 0);
    if (slot < 0) throw new FloorError("floor_rx_open failed");
    return { slot, port: floor().floor_rx_port(slot) };
  }

  close(slot: number): void {
    floor().floor_rx_close(slot);
  }

  get dropped(): number {
    return floor().floor_rx_dropped();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
