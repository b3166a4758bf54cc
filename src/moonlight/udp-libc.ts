/**
 * A UDP socket driven through libc (bun:ffi) rather than Bun's event loop: for a thread that
 * blocks in `poll` and drains the socket with `recvmmsg` into buffers it owns (the media receive
 * thread, issue 22). Bun's own UDP socket calls JavaScript once per datagram with a fresh Buffer
 * from the event loop; here one `recvmmsg` fills up to RECEIVE_BATCH preallocated slots and
 * nothing is allocated per datagram.
 *
 * Linux x86-64 / arm64 layouts (LP64):
 *   struct pollfd   { int fd; short events; short revents; }                          8 B
 *   struct iovec    { void *base; size_t len; }                                       16 B
 *   struct msghdr   { void *name; u32 namelen; (pad 4) iovec *iov; size_t iovlen;
 *                     void *control; size_t controllen; int flags; (pad 4) }          56 B
 *   struct mmsghdr  { msghdr hdr; u32 len; (pad 4) }                                  64 B
 *   sockaddr_in     { u16 family (2); u16be port; u8 addr[4]; u8 zero[8] }            16 B
 *   sockaddr_in6    { u16 family (10); u16be port; u32 flowinfo; u8 addr[16]; u32 scope } 28 B
 */
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";

// <sys/socket.h>, <netinet/in.h>, <poll.h>, <asm-generic/socket.h>
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const EINTR = 4;

const MMSGHDR_SIZE = 64;
const IOVEC_SIZE = 16;
/** Datagrams one `recvmmsg` may return. */
export const RECEIVE_BATCH = 64;

export class UdpLibcError extends Error {
  override name = "UdpLibcError";
}

function loadLibc() {
  const i32 = FFIType.i32;
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    bind: { args: [i32, FFIType.ptr, FFIType.u32], returns: i32 },
    getsockname: { args: [i32, FFIType.ptr, FFIType.ptr], returns: i32 },
    setsockopt: { args: [i32, i32, i32, FFIType.ptr, FFIType.u32], returns: i32 },
    getsockopt: { args: [i32, i32, i32, FFIType.ptr, FFIType.ptr], returns: i32 },
    sendto: { args: [i32, FFIType.ptr, FFIType.u64, i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    poll: { args: [FFIType.ptr, FFIType.u64, i32], returns: i32 },
    recvmmsg: { args: [i32, FFIType.ptr, FFIType.u32, i32, FFIType.ptr], returns: i32 },
    close: { args: [i32], returns: i32 },
    inet_pton: { args: [i32, FFIType.cstring, FFIType.ptr], returns: i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

export type Libc = ReturnType<typeof loadLibc>;
let libc: Libc | null | undefined;

function requireLibc(): Libc {
  const lib = libcSockets();
  if (!lib) throw new UdpLibcError("libc sockets are not available here");
  return lib;
}

/** libc through bun:ffi, or null where it cannot be loaded (not glibc Linux, ffi refused). */
export function libcSockets(): Libc | null {
  if (libc === undefined) {
    try {
      libc = process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64") ? loadLibc() : null;
    } catch {
      libc = null;
    }
  }
  return libc;
}

/** A socket address for `sendto`, built once (ip must be a numeric IPv4 or IPv6 address). */
export function socketAddress(ip: string, port: number): Uint8Array {
  const lib = requireLibc();
  const v6 = ip.includes(":");
  const address = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(address.buffer);
  view.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  view.setUint16(2, port, false);
  const raw = address.subarray(v6 ? 8 : 4, v6 ? 24 : 8);
  if (lib.inet_pton(v6 ? AF_INET6 : AF_INET, Buffer.from(`${ip}\0`), raw) !== 1) throw new UdpLibcError(`not a numeric IP address: ${ip}`);
  return address;
}

/** A bound UDP socket: its descriptor, port and `sendto`. Receiving is DatagramBatchReceiver's. */
export class LibcUdpSocket {
  readonly #lib: Libc;
  readonly fd: number;
  readonly localPort: number;
  #closed = false;

  private constructor(lib: Libc, fd: number, localPort: number) {
    this.#lib = lib;
    this.fd = fd;
    this.localPort = localPort;
  }

  /**
   * Binds a UDP socket to the wildcard address of `family`, port 0, asking for a
   * `receiveBufferBytes` kernel buffer. Throws UdpLibcError when it cannot.
   */
  static open(family: 4 | 6, receiveBufferBytes: number): LibcUdpSocket {
    const lib = requireLibc();
    const fd = lib.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new UdpLibcError(`socket() failed (errno ${errno(lib)})`);
    try {
      setSocketOption(lib, fd, SO_RCVBUF, receiveBufferBytes);
      const any = new Uint8Array(family === 6 ? 28 : 16);
      new DataView(any.buffer).setUint16(0, family === 6 ? AF_INET6 : AF_INET, true);
      if (lib.bind(fd, any, any.length) !== 0) throw new UdpLibcError(`bind() failed (errno ${errno(lib)})`);
      const length = new Uint32Array([any.length]);
      if (lib.getsockname(fd, any, length) !== 0) throw new UdpLibcError(`getsockname() failed (errno ${errno(lib)})`);
      return new LibcUdpSocket(lib, fd, new DataView(any.buffer).getUint16(2, false));
    } catch (error) {
      lib.close(fd);
      throw error;
    }
  }

  sendTo(data: Uint8Array, address: Uint8Array): boolean {
    if (this.#closed) return false;
    return Number(this.#lib.sendto(this.fd, data, data.length, MSG_DONTWAIT, address, address.length)) === data.length;
  }

  /** Closes the descriptor. Idempotent; sendTo() is refused after it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.close(this.fd);
  }
}

/**
 * Receives from a UDP descriptor into RECEIVE_BATCH slots of `slotSize` bytes: `datagram(i)` is
 * the i-th datagram of the last `receive()`, a view valid until the next `receive()`. It never
 * closes the descriptor: whoever opened it does, once this receiver is no longer used (closing
 * under a thread that may still poll it could hand the number to another file).
 */
export class DatagramBatchReceiver {
  readonly #lib: Libc;
  readonly #fd: number;
  readonly #slotSize: number;
  readonly #slots: Uint8Array;
  /** Whole-slot views, and a view per slot of the most common length (no subarray per datagram). */
  readonly #slotViews: Uint8Array[] = [];
  readonly #sizedViews: Uint8Array[] = [];
  #sizedLength = -1;
  readonly #headers: Uint8Array;
  readonly #words32: Uint32Array;

  constructor(fd: number, slotSize: number) {
    const lib = requireLibc();
    this.#lib = lib;
    this.#fd = fd;
    this.#slotSize = slotSize;
    // One allocation for all slots, one for all headers: large ArrayBuffers never move, so the
    // addresses written into the headers stay valid for the receiver's life.
    this.#slots = new Uint8Array(slotSize * RECEIVE_BATCH);
    this.#headers = new Uint8Array(RECEIVE_BATCH * (MMSGHDR_SIZE + IOVEC_SIZE));
    const words = new BigUint64Array(this.#headers.buffer);
    const slotsAddress = ptr(this.#slots);
    const iovAddress = ptr(this.#headers) + RECEIVE_BATCH * MMSGHDR_SIZE;
    for (let i = 0; i < RECEIVE_BATCH; i++) {
      const h = (i * MMSGHDR_SIZE) / 8;
      words[h + 2] = BigInt(iovAddress + i * IOVEC_SIZE); // msg_iov
      words[h + 3] = 1n; // msg_iovlen
      const v = (RECEIVE_BATCH * MMSGHDR_SIZE + i * IOVEC_SIZE) / 8;
      words[v] = BigInt(slotsAddress + i * slotSize); // iov_base
      words[v + 1] = BigInt(slotSize); // iov_len
      this.#slotViews.push(this.#slots.subarray(i * slotSize, (i + 1) * slotSize));
    }
    this.#words32 = new Uint32Array(this.#headers.buffer);
  }

  /** Receives what is waiting, up to RECEIVE_BATCH datagrams, without blocking; returns how many. */
  receive(): number {
    const n = this.#lib.recvmmsg(this.#fd, this.#headers, RECEIVE_BATCH, MSG_DONTWAIT, null);
    return n > 0 ? n : 0;
  }

  /**
   * The i-th datagram of the last receive(). One longer than a slot comes cut to the slot size,
   * which callers (slots one byte above the largest valid datagram) see as oversize.
   */
  datagram(i: number): Uint8Array {
    const words = this.#words32;
    const length = words[(i * MMSGHDR_SIZE + 56) / 4]!; // msg_len
    if (length === this.#slotSize) return this.#slotViews[i]!;
    if (length !== this.#sizedLength) {
      // Most datagrams of a stream have one length (full shards): keep views of that length.
      this.#sizedLength = length;
      this.#sizedViews.length = 0;
    }
    return (this.#sizedViews[i] ??= this.#slotViews[i]!.subarray(0, length));
  }
}

/** `poll` over a fixed set of descriptors, for reading. */
export class ReadablePoll {
  readonly #lib: Libc;
  /** struct pollfd[]: fd i32, events i16, revents i16. */
  readonly #fds: Int32Array;
  readonly #events: Int16Array;

  constructor(fds: number[]) {
    const lib = requireLibc();
    this.#lib = lib;
    this.#fds = new Int32Array(fds.length * 2);
    this.#events = new Int16Array(this.#fds.buffer);
    fds.forEach((fd, i) => {
      this.#fds[2 * i] = fd;
      this.#events[4 * i + 2] = POLLIN;
    });
  }

  /** Waits up to `timeoutMs` for any descriptor to be readable; returns how many are (0 on timeout). */
  wait(timeoutMs: number): number {
    const n = this.#lib.poll(this.#fds, this.#fds.length / 2, timeoutMs);
    if (n < 0 && errno(this.#lib) !== EINTR) throw new UdpLibcError(`poll() failed (errno ${errno(this.#lib)})`);
    return n > 0 ? n : 0;
  }

  /** Whether descriptor i had anything (data, or an error to collect) at the last wait. */
  ready(i: number): boolean {
    return this.#events[4 * i + 3] !== 0;
  }
}

function errno(lib: Libc): number {
  const location = lib.__errno_location();
  return location ? new Int32Array(toArrayBuffer(location, 4))[0]! : -1;
}

export function setSocketOption(lib: Libc, fd: number, option: number, value: number): boolean {
  return lib.setsockopt(fd, SOL_SOCKET, option, new Int32Array([value]), 4) === 0;
}

export function getSocketOption(lib: Libc, fd: number, option: number): number {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  return lib.getsockopt(fd, SOL_SOCKET, option, value, length) === 0 ? value[0]! : -1;
}
