/**
 * The pings a client sends to each of the host's media ports for the whole session, so that the
 * host learns (and keeps) where to send (reference §5.1, §6.1): the 16 ASCII characters of
 * `X-SS-Ping-Payload` followed by a u32be sequence (1, 2, …), or the legacy 4 bytes `PING` when
 * the host sent no payload. One every 500 ms, the first on the next turn of the event loop.
 */
export const PING_INTERVAL_MS = 500;
const LEGACY_PING = new TextEncoder().encode("PING");

export class MediaPing {
  readonly #ping: Uint8Array;
  readonly #send: (ping: Uint8Array) => void;
  #sequence = 0;
  #timer: ReturnType<typeof setInterval> | ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(pingPayload: string | undefined, send: (ping: Uint8Array) => void) {
    this.#send = send;
    this.#ping = pingPayload && pingPayload.length === 16 ? new Uint8Array(20) : LEGACY_PING;
    if (this.#ping.length === 20) this.#ping.set(new TextEncoder().encode(pingPayload));
  }

  /**
   * The first ping starts the host's video: going out a turn later (as node:dgram's send did) lets
   * the control stream's Start A (an IDR request, flushed in a microtask) reach the host first, so
   * that the host's first frame answers it instead of a second IDR right after.
   */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#sendNext();
      this.#timer = setInterval(() => this.#sendNext(), PING_INTERVAL_MS);
    }, 0);
  }

  #sendNext(): void {
    if (this.#ping.length === 20) new DataView(this.#ping.buffer).setUint32(16, ++this.#sequence, false);
    this.#send(this.#ping);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer); // clears an interval too
  }
}
