/**
 * SO_RCVBUF for a Bun.udpSocket: Bun's native UDP socket has no option for it, so it is set on the
 * socket's descriptor through libc's setsockopt (bun:ffi, udp-libc.ts). Linux caps the request at
 * net.core.rmem_max (and doubles it for bookkeeping), as it does for node:dgram's recvBufferSize.
 */
import { getSocketOption, libcSockets, setSocketOption, SO_RCVBUF } from "./udp-libc.ts";

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
  const libc = libcSockets();
  if (!libc || fd < 0) return -1;
  if (!setSocketOption(libc, fd, SO_RCVBUF, bytes)) return -1;
  return getSocketOption(libc, fd, SO_RCVBUF);
}
