/**
 * The main-thread side of the media receive thread (issue 22): opens the video and audio sockets
 * (udp-libc.ts), pings the host from them, and hands their descriptors to a worker
 * (media-receive-worker.ts) that receives, decrypts and reassembles there; frames, Opus packets and
 * the video depacketizer's requests come back as messages, counters through shared memory
 * (media-receive-protocol.ts).
 */
import { lookup } from "node:dns/promises";
import { isIPv6 } from "node:net";
import { logger } from "../core/log.ts";
import type { AudioDepacketizerStats } from "./audio/audio-depacketizer.ts";
import { MediaPing } from "./media-ping.ts";
import {
  AUDIO_STAT_NAMES,
  AUDIO_STATS_AT,
  CONTROL_AUDIO_PROMPT,
  CONTROL_SLOTS,
  CONTROL_STOP,
  STAT_SLOTS,
  STAT_VIDEO_BYTES,
  VIDEO_STAT_NAMES,
  type MediaReceiveInit,
  type MediaReceiveMessage,
} from "./media-receive-protocol.ts";
import type { MediaReceiver, MediaReceiverEvents, MediaReceiverOptions } from "./media-receiver.ts";
import { LibcUdpSocket, socketAddress } from "./udp-libc.ts";
import type { VideoDepacketizerStats } from "./video/video-depacketizer.ts";

const log = logger("media");

/**
 * The worker's module. From source, beside this file. In the compiled binary every entrypoint
 * lives under /$bunfs/root/ at its path relative to the entrypoints' common folder, src/
 * (scripts/build.ts lists the worker as an entrypoint).
 */
const WORKER_MODULE = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/moonlight/media-receive-worker.js"
  : new URL("./media-receive-worker.ts", import.meta.url).href;

/** A worker that does not answer its start in this time is given up (the session falls back). */
const START_TIMEOUT_MS = 10_000;
/** A stopped worker says so within one poll timeout; after this it is terminated regardless. */
const STOP_TIMEOUT_MS = 2_000;
/** After a terminated worker's "close": longer than its poll timeout, so it cannot be in poll still. */
const TERMINATED_GRACE_MS = 200;

export class MediaReceiveThreadError extends Error {
  override name = "MediaReceiveThreadError";
}

export class MediaReceiveThread implements MediaReceiver {
  readonly mode = "thread";
  readonly #worker: Worker;
  readonly #sockets: { video: LibcUdpSocket; audio: LibcUdpSocket };
  readonly #pings: { video: MediaPing; audio: MediaPing };
  readonly #control: Int32Array;
  readonly #shared: Float64Array;
  readonly #videoStats = {} as VideoDepacketizerStats;
  readonly #audioStats = {} as AudioDepacketizerStats;
  #closed = false;
  #stopped = false;

  private constructor(
    worker: Worker,
    sockets: { video: LibcUdpSocket; audio: LibcUdpSocket },
    pings: { video: MediaPing; audio: MediaPing },
    control: Int32Array,
    shared: Float64Array,
  ) {
    this.#worker = worker;
    this.#sockets = sockets;
    this.#pings = pings;
    this.#control = control;
    this.#shared = shared;
  }

  /** Opens both sockets and starts the worker; rejects (with nothing left open) when any fails. */
  static async open(options: MediaReceiverOptions, events: MediaReceiverEvents): Promise<MediaReceiveThread> {
    // The address family the control stream and the event-loop sockets use for this host too.
    const { address, family } = await lookup(options.host, { family: isIPv6(options.host) ? 6 : 4 });
    const videoTarget = socketAddress(address, options.video.port);
    const audioTarget = socketAddress(address, options.audio.port);
    const video = LibcUdpSocket.open(family === 6 ? 6 : 4, options.receiveBufferBytes);
    let audio: LibcUdpSocket;
    try {
      audio = LibcUdpSocket.open(family === 6 ? 6 : 4, options.receiveBufferBytes);
    } catch (error) {
      video.close();
      throw error;
    }
    const pings = {
      video: new MediaPing(options.video.pingPayload, (bytes) => {
        if (!video.sendTo(bytes, videoTarget)) log.debug("video ping not sent");
      }),
      audio: new MediaPing(options.audio.pingPayload, (bytes) => {
        if (!audio.sendTo(bytes, audioTarget)) log.debug("audio ping not sent");
      }),
    };
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
    control[CONTROL_AUDIO_PROMPT] = 1;
    const shared = new Float64Array(new SharedArrayBuffer(STAT_SLOTS * 8));
    let worker: Worker;
    try {
      worker = new Worker(WORKER_MODULE);
    } catch (error) {
      video.close();
      audio.close();
      throw new MediaReceiveThreadError(`cannot start the media receive thread: ${(error as Error).message}`);
    }
    const thread = new MediaReceiveThread(worker, { video, audio }, pings, control, shared);
    const init: MediaReceiveInit = {
      videoFd: video.fd,
      audioFd: audio.fd,
      // (Their port and ping payload travel along, unused there.)
      video: options.video,
      audio: options.audio,
      timeOrigin: performance.timeOrigin,
      control: control.buffer as SharedArrayBuffer,
      stats: shared.buffer as SharedArrayBuffer,
    };
    // The descriptors stay this thread's: it pings from them, and closes them only once the worker
    // is done with them ("stopped", or terminated and past its last poll).
    worker.addEventListener("close", () => {
      if (thread.#stopped) return;
      thread.#stopped = true;
      // A terminated worker blocked in poll returns from it within POLL_TIMEOUT (50 ms) and stops.
      setTimeout(() => thread.#release(), TERMINATED_GRACE_MS).unref();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new MediaReceiveThreadError("the media receive thread did not start")), START_TIMEOUT_MS);
      let started = false;
      const fail = (error: Error) => {
        clearTimeout(timer);
        if (started) {
          if (!thread.#closed) events.onError(error);
          return;
        }
        started = true;
        thread.close();
        worker.terminate();
        reject(error);
      };
      worker.onmessage = (event: MessageEvent<MediaReceiveMessage>) => {
        const message = event.data;
        // After close(), what the worker still had in flight is dropped, as a closed socket would.
        if (thread.#closed && message.type !== "stopped") return;
        switch (message.type) {
          case "frame":
            if (message.audio) for (const packet of message.audio) events.onAudio(packet);
            return events.onFrame(message.frame);
          case "audio":
            for (const packet of message.packets) events.onAudio(packet);
            return;
          case "idr-needed":
            return events.onIdrNeeded?.(message.reason);
          case "frame-loss":
            return events.onFrameLoss?.(message.loss);
          case "ready":
            clearTimeout(timer);
            started = true;
            return resolve();
          case "error":
            return fail(new MediaReceiveThreadError(`media receive thread: ${message.message}`));
          case "stopped":
            thread.#stopped = true;
            thread.#release();
            worker.terminate();
            return fail(new MediaReceiveThreadError("the media receive thread stopped"));
        }
      };
      worker.onerror = (event) => fail(new MediaReceiveThreadError(`media receive thread: ${event.message}`));
      worker.postMessage(init);
    });
    (worker as Worker & { unref(): void }).unref(); // Bun's: the thread does not keep the process alive
    return thread;
  }

  get videoPort(): number {
    return this.#sockets.video.localPort;
  }

  get audioPort(): number {
    return this.#sockets.audio.localPort;
  }

  /** The video depacketizer's counters as of the worker's last receive pass. */
  get videoStats(): Readonly<VideoDepacketizerStats> {
    const shared = this.#shared;
    for (let s = 0; s < VIDEO_STAT_NAMES.length; s++) this.#videoStats[VIDEO_STAT_NAMES[s]!] = shared[s]!;
    return this.#videoStats;
  }

  /** The audio depacketizer's counters as of the worker's last receive pass. */
  get audioStats(): Readonly<AudioDepacketizerStats> {
    const shared = this.#shared;
    for (let s = 0; s < AUDIO_STAT_NAMES.length; s++) this.#audioStats[AUDIO_STAT_NAMES[s]!] = shared[AUDIO_STATS_AT + s]!;
    return this.#audioStats;
  }

  get videoBytes(): number {
    return this.#shared[STAT_VIDEO_BYTES]!;
  }

  get audioPrompt(): boolean {
    return Atomics.load(this.#control, CONTROL_AUDIO_PROMPT) !== 0;
  }

  set audioPrompt(prompt: boolean) {
    Atomics.store(this.#control, CONTROL_AUDIO_PROMPT, prompt ? 1 : 0);
  }

  startAudioPings(): void {
    if (!this.#closed) this.#pings.audio.start();
  }

  startVideoPings(): void {
    if (!this.#closed) this.#pings.video.start();
  }

  /** Stops pinging and tells the worker to stop; the sockets close once it has. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pings.video.stop();
    this.#pings.audio.stop();
    Atomics.store(this.#control, CONTROL_STOP, 1);
    if (this.#stopped) return this.#release();
    const worker = this.#worker;
    setTimeout(() => {
      if (this.#stopped) return;
      log.warn("the media receive thread did not stop in time: terminated");
      worker.terminate(); // its "close" event releases the sockets
    }, STOP_TIMEOUT_MS).unref();
  }

  /** Closes both sockets once nothing uses them: pings stopped (close()) and the worker gone. */
  #release(): void {
    if (!this.#closed || !this.#stopped) return;
    this.#sockets.video.close();
    this.#sockets.audio.close();
  }
}
