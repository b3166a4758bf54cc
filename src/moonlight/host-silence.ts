/**
 * Notices a host that went silent, long before the control stream's ENet timeout (10 s, as
 * Moonlight sets it) gives up on it. A streaming host is never quiet for long: video at the frame
 * rate, audio every few ms, and ENet acknowledges our 100 ms control pings. So `traffic` (a counter
 * of everything received from the host) standing still for `silenceMs` means the host or the path
 * to it is gone; the session reports it at once and keeps waiting, since the host may come back.
 */

/** Well above any healthy gap (acks every 100 ms), well below the 3 s viewers may wait to be told. */
export const HOST_SILENCE_MS = 1500;
const CHECK_INTERVAL_MS = 250;

export interface HostSilenceOptions {
  /** Grows with every datagram or command received from the host. */
  traffic: () => number;
  onChange: (silent: boolean, silentMs: number) => void;
  silenceMs?: number;
}

export class HostSilenceWatch {
  readonly #options: HostSilenceOptions;
  readonly #silenceMs: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #lastTraffic: number;
  #lastChangeAt = performance.now();
  #lastCheckAt = performance.now();
  #silent = false;

  constructor(options: HostSilenceOptions) {
    this.#options = options;
    this.#silenceMs = options.silenceMs ?? HOST_SILENCE_MS;
    this.#lastTraffic = options.traffic();
    this.#timer = setInterval(() => this.#check(), CHECK_INTERVAL_MS);
  }

  get silent(): boolean {
    return this.#silent;
  }

  #check(): void {
    const now = performance.now();
    const traffic = this.#options.traffic();
    // Our own event loop stalled: the host's datagrams wait unread in the socket buffers.
    const stalled = now - this.#lastCheckAt > CHECK_INTERVAL_MS * 4;
    this.#lastCheckAt = now;
    if (traffic !== this.#lastTraffic || stalled) {
      this.#lastTraffic = traffic;
      this.#lastChangeAt = now;
    }
    const silentMs = now - this.#lastChangeAt;
    const silent = silentMs >= this.#silenceMs;
    if (silent === this.#silent) return;
    this.#silent = silent;
    this.#options.onChange(silent, silentMs);
  }

  /** Idempotent. */
  close(): void {
    clearInterval(this.#timer);
  }
}
