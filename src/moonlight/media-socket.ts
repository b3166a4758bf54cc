/**
 * One UDP media socket of a session (video or audio): bound to an ephemeral port, it pings the
 * host every 500 ms for the whole session so that the host learns (and keeps) where to send, and
 * hands every datagram it receives to `onDatagram`, synchronously (reference §5.1, §6.1).
 *
 * Ping: the 16 ASCII characters of `X-SS-Ping-Payload` followed by a u32be sequence (1, 2, …), or
 * the legacy 4 bytes `PING` when the host sent no payload.
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";

/** Large enough to absorb an IDR burst at high bitrates (runtime notes: 8 MB lost nothing). */
export const MEDIA_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;
export const PING_INTERVAL_MS = 500;
const LEGACY_PING = new TextEncoder().encode("PING");

export interface MediaSocketOptions {
  host: string;
  port: number;
  /** `X-SS-Ping-Payload` from the SETUP reply (16 characters), if any. */
  pingPayload?: string;
  onDatagram: (datagram: Buffer) => void;
  /** Datagrams from addresses other than the host's are counted and dropped. */
  filterSource?: boolean;
}

export class MediaSocket {
  readonly #socket: Socket;
  readonly #options: MediaSocketOptions;
  readonly #ping: Uint8Array;
  #pingSequence = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** Datagrams dropped because they came from elsewhere. */
  foreignDatagrams = 0;
  datagrams = 0;
  bytes = 0;

  private constructor(socket: Socket, options: MediaSocketOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#ping = options.pingPayload && options.pingPayload.length === 16 ? new Uint8Array(20) : LEGACY_PING;
    if (this.#ping.length === 20) this.#ping.set(new TextEncoder().encode(options.pingPayload));
    socket.on("message", (message, remote) => {
      if (options.filterSource && remote.address !== options.host) {
        this.foreignDatagrams++;
        return;
      }
      this.datagrams++;
      this.bytes += message.byteLength;
      options.onDatagram(message);
    });
    // A UDP error (e.g. ICMP port unreachable surfacing as ECONNREFUSED) must not end the session.
    socket.on("error", () => {});
  }

  static async open(options: MediaSocketOptions): Promise<MediaSocket> {
    const socket = createSocket({ type: isIPv6(options.host) ? "udp6" : "udp4", recvBufferSize: MEDIA_RECEIVE_BUFFER_BYTES });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new MediaSocket(socket, options);
  }

  get localPort(): number {
    return this.#socket.address().port;
  }

  /** Sends the first ping now and then every 500 ms until closed. */
  startPings(): void {
    if (this.#timer || this.#closed) return;
    this.#sendPing();
    this.#timer = setInterval(() => this.#sendPing(), PING_INTERVAL_MS);
  }

  #sendPing(): void {
    if (this.#ping.length === 20) new DataView(this.#ping.buffer).setUint32(16, ++this.#pingSequence, false);
    this.#socket.send(this.#ping, this.#options.port, this.#options.host);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#socket.close();
  }
}
