/**
 * SO_RCVBUF for a Bun.udpSocket: Bun's native UDP socket has no option for it, so it is set on the
 * socket's descriptor through libc's setsockopt (bun:ffi). Linux caps the request at
 * net.core.rmem_max (and doubles it for bookkeeping), as it does for node:dgram's recvBufferSize.
 */
import { dlopen, FFIType } from "bun:ffi";

// <asm-generic/socket.h>
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

function loadLibc() {
  try {
    return dlopen("libc.so.6", {
      setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    }).symbols;
  } catch {
    return null;
  }
}

let libc: ReturnType<typeof loadLibc> | undefined;

/** The descriptor of a Bun.udpSocket (an undocumented but stable property), or -1. */
export function udpSocketFd(socket: unknown): number {
  const fd = (socket as { fd?: unknown }).fd;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * Asks for a `bytes` receive buffer on `fd`; returns the size the kernel granted, or -1 when it
 * cannot be set here (no libc through ffi, no descriptor).
 */
export function setReceiveBuffer(fd: number, bytes: number): number {
  libc ??= loadLibc();
  if (!libc || fd < 0) return -1;
  const value = new Int32Array([bytes]);
  if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4) !== 0) return -1;
  const length = new Uint32Array([4]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, length) !== 0) return -1;
  return value[0]!;
}
