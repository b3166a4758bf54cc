/**
 * One UDP media socket of a session (audio, and video where the receive thread cannot run): bound
 * to an ephemeral port, it pings the host for the whole session (media-ping.ts) and hands every
 * datagram it receives to `onDatagram`, synchronously (reference §5.1, §6.1).
 *
 * Receive path (issue 22): Bun's native UDP socket (batched recvmmsg, one callback per datagram
 * with a fresh Buffer, no EventEmitter and no remote-info object as node:dgram makes), with the
 * large receive buffer set through its descriptor (udp-receive-buffer.ts).
 */
import { isIPv6 } from "node:net";
import { logger } from "../core/log.ts";
import { MediaPing } from "./media-ping.ts";
import { setReceiveBuffer, udpSocketFd } from "./udp-receive-buffer.ts";

const log = logger("media-socket");

/** Large enough to absorb an IDR burst at high bitrates (runtime notes: 8 MB lost nothing). */
export const MEDIA_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

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
  readonly #ping: MediaPing;
  #closed = false;
  /** Datagrams dropped because they came from elsewhere. */
  foreignDatagrams = 0;
  datagrams = 0;
  bytes = 0;

  private constructor(socket: UdpSocket, options: MediaSocketOptions) {
    this.#socket = socket;
    this.#ping = new MediaPing(options.pingPayload, (ping) => {
      try {
        socket.send(ping, options.port, options.host);
      } catch (error) {
        log.debug(`ping not sent: ${(error as Error).message}`);
      }
    });
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

  /** Pings the host from the next turn of the event loop on, every 500 ms, until closed. */
  startPings(): void {
    if (!this.#closed) this.#ping.start();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ping.stop();
    this.#socket.close();
  }
}
