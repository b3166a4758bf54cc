/**
 * Where a session's video is received: in the video receive thread (video-receive-thread.ts: a
 * worker that receives with recvmmsg, decrypts and reassembles off the event loop; the default
 * where libc can be reached through bun:ffi) or on the event loop (Bun's UDP socket feeding the
 * depacketizer datagram by datagram: elsewhere, when a test drops datagrams on purpose, or when
 * streamer.video_receive = "event-loop" asks for it, e.g. to compare the two in the ingest bench).
 */
import { logger } from "../../core/log.ts";
import { MediaSocket } from "../media-socket.ts";
import { libcSockets } from "../udp-libc.ts";
import type { VideoCodec } from "./nal.ts";
import { VideoCipher } from "./video-crypto.ts";
import { VideoDepacketizer, type VideoDepacketizerEvents, type VideoDepacketizerStats } from "./video-depacketizer.ts";
import { VideoReceiveThread } from "./video-receive-thread.ts";

const log = logger("video");

export type VideoReceiveMode = "thread" | "event-loop";

export interface VideoReceiverOptions {
  host: string;
  port: number;
  /** `X-SS-Ping-Payload` from the SETUP reply, if any. */
  pingPayload?: string;
  codec: VideoCodec;
  packetSize: number;
  /** rikey, when the host encrypts video. */
  key?: Uint8Array;
  referenceFrameInvalidation: boolean;
  /** Kernel receive buffer to ask for (thread mode; the event-loop socket asks for its own). */
  receiveBufferBytes: number;
  /** Loss injection (tests): a datagram for which this returns true is dropped (event loop only). */
  dropDatagram?: () => boolean;
  mode?: VideoReceiveMode;
}

export interface VideoReceiverEvents extends VideoDepacketizerEvents {
  /** The receiver failed after it started: no more video will come. */
  onError(error: Error): void;
}

export interface VideoReceiver {
  readonly mode: VideoReceiveMode;
  readonly localPort: number;
  readonly stats: Readonly<VideoDepacketizerStats>;
  /** Bytes of video datagrams received. */
  readonly bytes: number;
  startPings(): void;
  close(): void;
}

/** The best this machine can do. */
export function defaultVideoReceiveMode(): VideoReceiveMode {
  return libcSockets() ? "thread" : "event-loop";
}

export async function openVideoReceiver(options: VideoReceiverOptions, events: VideoReceiverEvents): Promise<VideoReceiver> {
  const mode = options.dropDatagram ? "event-loop" : (options.mode ?? defaultVideoReceiveMode());
  if (mode === "thread") {
    try {
      return await VideoReceiveThread.open(options, events);
    } catch (error) {
      log.warn(`${(error as Error).message}: receiving video on the event loop instead`);
    }
  }
  return EventLoopVideoReceiver.open(options, events);
}

/** Bun's UDP socket and the depacketizer on the event loop, one callback per datagram. */
class EventLoopVideoReceiver implements VideoReceiver {
  readonly mode = "event-loop";
  readonly #socket: MediaSocket;
  readonly #depacketizer: VideoDepacketizer;
  readonly #counted: { bytes: number };

  private constructor(socket: MediaSocket, depacketizer: VideoDepacketizer, counted: { bytes: number }) {
    this.#socket = socket;
    this.#depacketizer = depacketizer;
    this.#counted = counted;
  }

  static async open(options: VideoReceiverOptions, events: VideoReceiverEvents): Promise<EventLoopVideoReceiver> {
    const depacketizer = new VideoDepacketizer(
      {
        codec: options.codec,
        packetSize: options.packetSize,
        referenceFrameInvalidation: options.referenceFrameInvalidation,
        ...(options.key ? { cipher: new VideoCipher(options.key) } : {}),
      },
      events,
    );
    const drop = options.dropDatagram;
    const receiver = { bytes: 0 };
    try {
      const socket = await MediaSocket.open({
        host: options.host,
        port: options.port,
        ...(options.pingPayload ? { pingPayload: options.pingPayload } : {}),
        onDatagram: (datagram) => {
          if (drop?.()) return;
          receiver.bytes += datagram.byteLength;
          depacketizer.push(datagram, Math.round(performance.now() * 1000));
        },
      });
      return new EventLoopVideoReceiver(socket, depacketizer, receiver);
    } catch (error) {
      depacketizer.close();
      throw error;
    }
  }

  get localPort(): number {
    return this.#socket.localPort;
  }

  get stats(): Readonly<VideoDepacketizerStats> {
    return this.#depacketizer.stats;
  }

  /** Bytes of the datagrams given to the depacketizer (not those dropped on purpose). */
  get bytes(): number {
    return this.#counted.bytes;
  }

  startPings(): void {
    this.#socket.startPings();
  }

  close(): void {
    this.#socket.close();
    this.#depacketizer.close();
  }
}
