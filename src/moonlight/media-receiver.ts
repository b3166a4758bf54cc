/**
 * Where a session's video and audio are received: in the media receive thread
 * (media-receive-thread.ts: a worker that receives with recvmmsg, decrypts and reassembles off the
 * event loop; the default where libc can be reached through bun:ffi) or on the event loop (Bun's
 * UDP sockets feeding the depacketizers datagram by datagram: elsewhere, when a test drops video
 * datagrams on purpose, or when streamer.media_receive = "event-loop" asks for it, e.g. to compare
 * the two in the ingest bench).
 *
 * Both sockets are bound at once (the audio stage); video pings, which start the host's video,
 * begin later, when the session asks (the video stage).
 */
import { logger } from "../core/log.ts";
import type { AudioDepacketizer, AudioDepacketizerStats, AudioPacket } from "./audio/audio-depacketizer.ts";
import { createAudioDepacketizer, createVideoDepacketizer, type AudioStreamParams, type VideoStreamParams } from "./media-depacketizers.ts";
import { MediaReceiveThread } from "./media-receive-thread.ts";
import { MediaSocket } from "./media-socket.ts";
import { libcSockets } from "./udp-libc.ts";
import type { VideoDepacketizer, VideoDepacketizerEvents, VideoDepacketizerStats } from "./video/video-depacketizer.ts";

const log = logger("media");

export type MediaReceiveMode = "thread" | "event-loop";

export interface MediaReceiverOptions {
  host: string;
  /** `pingPayload`: `X-SS-Ping-Payload` from the SETUP reply, if any. */
  video: VideoStreamParams & { port: number; pingPayload?: string };
  audio: AudioStreamParams & { port: number; pingPayload?: string };
  /** Kernel receive buffer to ask for (thread mode; the event-loop sockets ask for their own). */
  receiveBufferBytes: number;
  /** Loss injection (tests): a video datagram for which this returns true is dropped (event loop only). */
  dropVideoDatagram?: () => boolean;
  mode?: MediaReceiveMode;
}

export interface MediaReceiverEvents extends VideoDepacketizerEvents {
  onAudio(packet: AudioPacket): void;
  /** The receiver failed after it started: no more media will come. */
  onError(error: Error): void;
}

export interface MediaReceiver {
  readonly mode: MediaReceiveMode;
  readonly videoPort: number;
  readonly audioPort: number;
  readonly videoStats: Readonly<VideoDepacketizerStats>;
  readonly audioStats: Readonly<AudioDepacketizerStats>;
  /** Bytes of video datagrams received. */
  readonly videoBytes: number;
  /**
   * true (the default): each Opus packet reaches the event loop as it completes. false — nobody
   * listens — lets it wait for the next frame (the receive thread; at most 100 ms), sparing the
   * event loop a wakeup per packet. Only when it is delivered changes, never what.
   */
  audioPrompt: boolean;
  startAudioPings(): void;
  startVideoPings(): void;
  close(): void;
}

export async function openMediaReceiver(options: MediaReceiverOptions, events: MediaReceiverEvents): Promise<MediaReceiver> {
  // Unless asked otherwise: the thread where libc can be reached (bun:ffi), else the event loop.
  const mode = options.dropVideoDatagram ? "event-loop" : (options.mode ?? (libcSockets() ? "thread" : "event-loop"));
  if (mode === "thread") {
    try {
      return await MediaReceiveThread.open(options, events);
    } catch (error) {
      log.warn(`${(error as Error).message}: receiving media on the event loop instead`);
    }
  }
  return EventLoopMediaReceiver.open(options, events);
}

/** Bun's UDP sockets and the depacketizers on the event loop, one callback per datagram. */
class EventLoopMediaReceiver implements MediaReceiver {
  readonly mode = "event-loop";
  readonly #video: MediaSocket;
  readonly #audio: MediaSocket;
  readonly #videoDepacketizer: VideoDepacketizer;
  readonly #audioDepacketizer: AudioDepacketizer;
  readonly #counted: { videoBytes: number };
  /** Every packet is delivered at once here (its wakeup is paid anyway). */
  audioPrompt = true;

  private constructor(video: MediaSocket, audio: MediaSocket, videoDepacketizer: VideoDepacketizer, audioDepacketizer: AudioDepacketizer, counted: { videoBytes: number }) {
    this.#video = video;
    this.#audio = audio;
    this.#videoDepacketizer = videoDepacketizer;
    this.#audioDepacketizer = audioDepacketizer;
    this.#counted = counted;
  }

  static async open(options: MediaReceiverOptions, events: MediaReceiverEvents): Promise<EventLoopMediaReceiver> {
    const videoDepacketizer = createVideoDepacketizer(options.video, events);
    const audioDepacketizer = createAudioDepacketizer(options.audio, { onPacket: (packet) => events.onAudio(packet) });
    const drop = options.dropVideoDatagram;
    const counted = { videoBytes: 0 };
    const opened: MediaSocket[] = [];
    try {
      const audio = await MediaSocket.open({
        host: options.host,
        port: options.audio.port,
        ...(options.audio.pingPayload ? { pingPayload: options.audio.pingPayload } : {}),
        onDatagram: (datagram) => audioDepacketizer.push(datagram),
      });
      opened.push(audio);
      const video = await MediaSocket.open({
        host: options.host,
        port: options.video.port,
        ...(options.video.pingPayload ? { pingPayload: options.video.pingPayload } : {}),
        onDatagram: (datagram) => {
          if (drop?.()) return;
          counted.videoBytes += datagram.byteLength;
          videoDepacketizer.push(datagram, Math.round(performance.now() * 1000));
        },
      });
      return new EventLoopMediaReceiver(video, audio, videoDepacketizer, audioDepacketizer, counted);
    } catch (error) {
      for (const socket of opened) socket.close();
      videoDepacketizer.close();
      audioDepacketizer.close();
      throw error;
    }
  }

  get videoPort(): number {
    return this.#video.localPort;
  }

  get audioPort(): number {
    return this.#audio.localPort;
  }

  get videoStats(): Readonly<VideoDepacketizerStats> {
    return this.#videoDepacketizer.stats;
  }

  get audioStats(): Readonly<AudioDepacketizerStats> {
    return this.#audioDepacketizer.stats;
  }

  /** Bytes of the video datagrams given to the depacketizer (not those dropped on purpose). */
  get videoBytes(): number {
    return this.#counted.videoBytes;
  }

  startAudioPings(): void {
    this.#audio.startPings();
  }

  startVideoPings(): void {
    this.#video.startPings();
  }

  close(): void {
    this.#video.close();
    this.#audio.close();
    this.#videoDepacketizer.close();
    this.#audioDepacketizer.close();
  }
}
