/**
 * The main-thread side of the video receive thread (issue 22): opens the video socket (udp-libc.ts),
 * pings the host from it, and hands its descriptor to a worker (video-receive-worker.ts) that
 * receives, decrypts and reassembles there; frames and the depacketizer's requests come back as
 * messages, counters through shared memory (video-receive-protocol.ts).
 */
import { lookup } from "node:dns/promises";
import { logger } from "../../core/log.ts";
import { MediaPing } from "../media-ping.ts";
import { LibcUdpSocket, socketAddress } from "../udp-libc.ts";
import type { VideoDepacketizerStats } from "./video-depacketizer.ts";
import {
  CONTROL_SLOTS,
  CONTROL_STOP,
  DEPACKETIZER_STAT_NAMES,
  STAT_BYTES,
  STAT_SLOTS,
  STAT_TRUNCATED,
  type VideoReceiveInit,
  type VideoReceiveMessage,
} from "./video-receive-protocol.ts";
import type { VideoReceiver, VideoReceiverEvents, VideoReceiverOptions } from "./video-receiver.ts";

const log = logger("video");

/**
 * The worker's module. From source, beside this file. In the compiled binary every entrypoint
 * lives under /$bunfs/root/ at its path relative to the entrypoints' common folder, src/
 * (scripts/build.ts lists the worker as an entrypoint).
 */
const WORKER_MODULE = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/moonlight/video/video-receive-worker.js"
  : new URL("./video-receive-worker.ts", import.meta.url).href;

/** A worker that does not answer its start in this time is given up (the session falls back). */
const START_TIMEOUT_MS = 10_000;
/** A stopped worker says so within one poll timeout; after this it is terminated regardless. */
const STOP_TIMEOUT_MS = 2_000;

export class VideoReceiveThreadError extends Error {
  override name = "VideoReceiveThreadError";
}

export class VideoReceiveThread implements VideoReceiver {
  readonly mode = "thread";
  readonly #worker: Worker;
  readonly #socket: LibcUdpSocket;
  readonly #ping: MediaPing;
  readonly #control: Int32Array;
  readonly #shared: Float64Array;
  readonly #stats = {} as VideoDepacketizerStats;
  #closed = false;
  #stopped = false;

  private constructor(worker: Worker, socket: LibcUdpSocket, ping: MediaPing, control: Int32Array, shared: Float64Array) {
    this.#worker = worker;
    this.#socket = socket;
    this.#ping = ping;
    this.#control = control;
    this.#shared = shared;
  }

  /** Opens the socket and starts the worker; rejects (with nothing left open) when either fails. */
  static async open(options: VideoReceiverOptions, events: VideoReceiverEvents): Promise<VideoReceiveThread> {
    const { address, family } = await lookup(options.host);
    const socket = LibcUdpSocket.open(family === 6 ? 6 : 4, options.receiveBufferBytes);
    const target = socketAddress(address, options.port);
    const ping = new MediaPing(options.pingPayload, (bytes) => {
      if (!socket.sendTo(bytes, target)) log.debug("video ping not sent");
    });
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
    const shared = new Float64Array(new SharedArrayBuffer(STAT_SLOTS * 8));
    let worker: Worker;
    try {
      worker = new Worker(WORKER_MODULE);
    } catch (error) {
      socket.close();
      throw new VideoReceiveThreadError(`cannot start the video receive thread: ${(error as Error).message}`);
    }
    const thread = new VideoReceiveThread(worker, socket, ping, control, shared);
    const init: VideoReceiveInit = {
      fd: socket.fd,
      codec: options.codec,
      packetSize: options.packetSize,
      ...(options.key ? { key: options.key } : {}),
      referenceFrameInvalidation: options.referenceFrameInvalidation,
      timeOrigin: performance.timeOrigin,
      control: control.buffer as SharedArrayBuffer,
      stats: shared.buffer as SharedArrayBuffer,
    };
    // From here the worker owns the descriptor (it closes it when its loop ends); this thread
    // only sends pings from it until close().
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new VideoReceiveThreadError("the video receive thread did not start"), false), START_TIMEOUT_MS);
      let started = false;
      const fail = (error: Error, workerRan: boolean) => {
        clearTimeout(timer);
        if (started) {
          if (!thread.#closed) events.onError(error);
          return;
        }
        started = true;
        if (workerRan) {
          thread.close();
        } else {
          // The worker never took the descriptor (its module did not load, or it did not answer).
          thread.#closed = true;
          thread.#ping.stop();
          worker.terminate();
          socket.close();
        }
        reject(error);
      };
      worker.onmessage = (event: MessageEvent<VideoReceiveMessage>) => {
        const message = event.data;
        switch (message.type) {
          case "frame":
            return events.onFrame(message.frame);
          case "idr-needed":
            return events.onIdrNeeded?.(message.reason);
          case "frame-loss":
            return events.onFrameLoss?.(message.loss);
          case "ready":
            clearTimeout(timer);
            started = true;
            return resolve();
          case "error":
            return fail(new VideoReceiveThreadError(`video receive thread: ${message.message}`), true);
          case "stopped":
            thread.#stopped = true;
            worker.terminate();
            return fail(new VideoReceiveThreadError("the video receive thread stopped"), true);
        }
      };
      worker.onerror = (event) => fail(new VideoReceiveThreadError(`video receive thread: ${event.message}`), started);
      worker.postMessage(init);
    });
    (worker as Worker & { unref(): void }).unref(); // Bun's: the thread does not keep the process alive
    return thread;
  }

  get localPort(): number {
    return this.#socket.localPort;
  }

  /** The depacketizer's counters as of the worker's last receive batch. */
  get stats(): Readonly<VideoDepacketizerStats> {
    const shared = this.#shared;
    for (let s = 0; s < DEPACKETIZER_STAT_NAMES.length; s++) this.#stats[DEPACKETIZER_STAT_NAMES[s]!] = shared[s]!;
    return this.#stats;
  }

  get bytes(): number {
    return this.#shared[STAT_BYTES]!;
  }

  /** Datagrams longer than any the host may send (counted as malformed by the depacketizer too). */
  get truncated(): number {
    return this.#shared[STAT_TRUNCATED]!;
  }

  startPings(): void {
    if (!this.#closed) this.#ping.start();
  }

  /** Stops pinging, then tells the worker to stop (it closes the socket). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ping.stop(); // before the stop word: the descriptor is not used here after it
    this.#socket.close(false);
    Atomics.store(this.#control, CONTROL_STOP, 1);
    if (this.#stopped) return;
    const worker = this.#worker;
    setTimeout(() => {
      if (this.#stopped) return;
      log.warn("the video receive thread did not stop in time: terminated");
      worker.terminate();
    }, STOP_TIMEOUT_MS).unref();
  }
}
