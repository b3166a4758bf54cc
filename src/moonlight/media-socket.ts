/**
 * One UDP media socket of a session (video or audio): bound to an ephemeral port, it pings the
 * host every 500 ms for the whole session so that the host learns (and keeps) where to send, and
 * hands every datagram it receives to `onDatagram`, synchronously (reference §5.1, §6.1).
 *
 * Ping: the 16 ASCII characters of `X-SS-Ping-Payload` followed by a u32be sequence (1, 2, …), or
 * the legacy 4 bytes `PING` when the host sent no payload.
 *
 * Receive path (issue 22): Bun's native UDP socket (batched recvmmsg, one callback per datagram
 * with a fresh Buffer, no EventEmitter and no remote-info object as node:dgram makes), with the
 * large receive buffer set through its descriptor (udp-receive-buffer.ts).
 */
import { isIPv6 } from "node:net";
import { logger } from "../core/log.ts";
import { setReceiveBuffer, udpSocketFd } from "./udp-receive-buffer.ts";

const log = logger("media-socket");

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

type UdpSocket = import("bun").udp.Socket<"buffer">;

export class MediaSocket {
  readonly #socket: UdpSocket;
  readonly #options: MediaSocketOptions;
  readonly #ping: Uint8Array;
  #pingSequence = 0;
  #timer: ReturnType<typeof setInterval> | ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Datagrams dropped because they came from elsewhere. */
  foreignDatagrams = 0;
  datagrams = 0;
  bytes = 0;

  private constructor(socket: UdpSocket, options: MediaSocketOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#ping = options.pingPayload && options.pingPayload.length === 16 ? new Uint8Array(20) : LEGACY_PING;
    if (this.#ping.length === 20) this.#ping.set(new TextEncoder().encode(options.pingPayload));
  }

  static async open(options: MediaSocketOptions): Promise<MediaSocket> {
    let media: MediaSocket | undefined;
    const { host, filterSource, onDatagram } = options;
    const socket = await Bun.udpSocket({
      hostname: isIPv6(host) ? "::" : "0.0.0.0",
      port: 0,
      socket: {
        data(_socket, message, _port, address) {
          if (!media || media.#closed) return;
          if (filterSource && address !== host) {
            media.foreignDatagrams++;
            return;
          }
          media.datagrams++;
          media.bytes += message.byteLength;
          onDatagram(message);
        },
        // A UDP error (e.g. ICMP port unreachable surfacing as ECONNREFUSED) must not end the session.
        error() {},
      },
    });
    const granted = setReceiveBuffer(udpSocketFd(socket), MEDIA_RECEIVE_BUFFER_BYTES);
    if (granted < 0) log.warn("could not enlarge the media socket's receive buffer: bursts may be dropped at high bitrates");
    else log.debug(`media socket receive buffer: ${granted} bytes`);
    media = new MediaSocket(socket, options);
    return media;
  }

  get localPort(): number {
    return this.#socket.port;
  }

  /** Sends the first ping now and then every 500 ms until closed. */
  /**
   * Sends the first ping on the next turn of the event loop, then every 500 ms until closed. The
   * first ping starts the host's video: going out a turn later (as node:dgram's send did) lets the
   * control stream's Start A (an IDR request, flushed in a microtask) reach the host first, so
   * that the host's first frame answers it instead of a second IDR right after.
   */
  startPings(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      if (this.#closed) return;
      this.#sendPing();
      this.#timer = setInterval(() => this.#sendPing(), PING_INTERVAL_MS);
    }, 0);
  }

  #sendPing(): void {
    if (this.#ping.length === 20) new DataView(this.#ping.buffer).setUint32(16, ++this.#pingSequence, false);
    try {
      this.#socket.send(this.#ping, this.#options.port, this.#options.host);
    } catch (error) {
      log.debug(`ping not sent: ${(error as Error).message}`);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer); // clears an interval too
    this.#socket.close();
  }
}
