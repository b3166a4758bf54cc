/**
 * Closes data channels and peer connections that the remote side may already have closed:
 * libdatachannel throws on a second close, and teardown must always run to the end.
 */
export function closeQuietly(closables: Iterable<{ close(): void }>): void {
  for (const closable of closables) {
    try {
      closable.close();
    } catch {
      // already closed by the peer
    }
  }
}
