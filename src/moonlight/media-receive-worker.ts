/**
 * The media receive thread's worker (issue 22): it blocks in `poll` on the video and audio
 * sockets, drains them with `recvmmsg` into slots it owns (udp-libc.ts), and runs both
 * depacketizers here — decryption, FEC, frame reassembly, the audio queue — posting to the main
 * thread only complete frames (their buffers transferred, not copied), Opus packets and the video
 * depacketizer's IDR / loss requests. The main thread's event loop then wakes once per frame (and
 * per audio packet only while someone listens) instead of once per few datagrams, and no Buffer or
 * callback is made per datagram.
 *
 * Audio while nobody listens (CONTROL_AUDIO_PROMPT 0): this thread waits on the video socket alone
 * and drains the audio socket every AUDIO_DRAIN_MS as it wakes (for video, or every
 * POLL_TIMEOUT_MS), and the packets travel with the next frame message (or wait AUDIO_HOLD_MS at
 * most): neither thread is woken 200 times a second for sound nobody hears, yet every packet is
 * still received, decrypted, counted and delivered, in order. With a listener, both sockets wake
 * it and each pass's packets go at once.
 *
 * The loop runs synchronously and never returns to this worker's event loop: the main thread stops
 * it through the shared `control` word, read at least every POLL_TIMEOUT_MS.
 */
import type { AudioDepacketizer, AudioPacket } from "./audio/audio-depacketizer.ts";
import { AUDIO_MAX_DATAGRAM } from "./audio/audio-packet.ts";
import { createAudioDepacketizer, createVideoDepacketizer } from "./media-depacketizers.ts";
import {
  AUDIO_STAT_NAMES,
  AUDIO_STATS_AT,
  CONTROL_AUDIO_PROMPT,
  CONTROL_STOP,
  STAT_VIDEO_BYTES,
  VIDEO_STAT_NAMES,
  type MediaReceiveInit,
  type MediaReceiveMessage,
} from "./media-receive-protocol.ts";
import { DatagramBatchReceiver, ReadablePoll, RECEIVE_BATCH } from "./udp-libc.ts";
import { VIDEO_ENCRYPTION_PREFIX_SIZE } from "./video/video-crypto.ts";
import type { VideoDepacketizer } from "./video/video-depacketizer.ts";

/** How long a stop can wait for quiet sockets. */
const POLL_TIMEOUT_MS = 50;
/** The longest audio waits for a frame to travel with while nobody listens. */
const AUDIO_HOLD_MS = 100;
/** While nobody listens, audio is drained at most this often (most passes would find none). */
const AUDIO_DRAIN_MS = 20;

declare const self: Worker;
const post = (message: MediaReceiveMessage, transfer?: Transferable[]) => self.postMessage(message, transfer ?? []);

self.onmessage = (event: MessageEvent<MediaReceiveInit>) => {
  self.onmessage = null;
  try {
    run(event.data);
  } catch (error) {
    post({ type: "error", message: (error as Error).message });
  }
  post({ type: "stopped" });
};

/** A packet's bytes in a buffer of their own: a view into a larger one would be cloned whole. */
function own(packet: AudioPacket): AudioPacket {
  const data = packet.data;
  if (data && data.byteLength !== data.buffer.byteLength) packet.data = data.slice();
  return packet;
}

function run(init: MediaReceiveInit): void {
  const control = new Int32Array(init.control);
  const loop = MediaReceiveLoop.open(init);
  try {
    post({ type: "ready" });
    while (Atomics.load(control, CONTROL_STOP) === 0) loop.pass(Atomics.load(control, CONTROL_AUDIO_PROMPT) !== 0);
  } finally {
    loop.close();
  }
}

/**
 * One pass per wakeup, in a method of its own (not the body of run's loop): the JIT then compiles
 * a plain function once instead of entering a never-ending loop mid-way, which kept it recompiling.
 */
class MediaReceiveLoop {
  readonly #video: DatagramBatchReceiver;
  readonly #audio: DatagramBatchReceiver;
  readonly #poll: ReadablePoll;
  readonly #videoPoll: ReadablePoll;
  readonly #videoDepacketizer: VideoDepacketizer;
  readonly #audioDepacketizer: AudioDepacketizer;
  readonly #stats: Float64Array;
  /** Arrival times on the main thread's clock (a worker's performance.now() has its own origin). */
  readonly #clockOffsetMs: number;
  #heldAudio: AudioPacket[] = [];
  #heldSince = 0;
  #passAudio: AudioPacket[] = [];
  #videoBytes = 0;
  #audioDrainedAt = 0;

  private constructor(init: MediaReceiveInit, video: DatagramBatchReceiver, audio: DatagramBatchReceiver) {
    this.#video = video;
    this.#audio = audio;
    this.#poll = new ReadablePoll([init.videoFd, init.audioFd]);
    this.#videoPoll = new ReadablePoll([init.videoFd]);
    this.#stats = new Float64Array(init.stats);
    this.#clockOffsetMs = performance.timeOrigin - init.timeOrigin;
    this.#videoDepacketizer = createVideoDepacketizer(
      init.video,
      {
        onFrame: (frame) => {
          // Audio that arrived before the frame goes first, with it.
          const waiting = this.#heldAudio.length + this.#passAudio.length > 0 ? [...this.#heldAudio, ...this.#passAudio] : null;
          this.#heldAudio = [];
          this.#passAudio = [];
          post({ type: "frame", frame, audio: waiting }, [frame.data.buffer as ArrayBuffer]);
        },
        onIdrNeeded: (reason) => post({ type: "idr-needed", reason }),
        onFrameLoss: (loss) => post({ type: "frame-loss", loss }),
      },
      true, // the receive slots are reused by the next recvmmsg
    );
    try {
      this.#audioDepacketizer = createAudioDepacketizer(init.audio, { onPacket: (packet) => this.#passAudio.push(own(packet)) });
    } catch (error) {
      this.#videoDepacketizer.close();
      throw error;
    }
  }

  /** Receives from the two descriptors (the main thread keeps them and closes them once told "stopped"). */
  static open(init: MediaReceiveInit): MediaReceiveLoop {
    // Video slots one byte longer than any valid datagram: an oversize one arrives cut and is seen as such.
    const video = new DatagramBatchReceiver(init.videoFd, init.video.packetSize + 16 + (init.video.key ? VIDEO_ENCRYPTION_PREFIX_SIZE : 0) + 1);
    const audio = new DatagramBatchReceiver(init.audioFd, AUDIO_MAX_DATAGRAM + 1);
    return new MediaReceiveLoop(init, video, audio);
  }

  /** Waits for datagrams (or the timeout), receives and processes them, delivers what is due. */
  pass(prompt: boolean): void {
    const timeout = this.#heldAudio.length > 0 ? Math.max(0, Math.min(POLL_TIMEOUT_MS, this.#heldSince + AUDIO_HOLD_MS - performance.now())) : POLL_TIMEOUT_MS;
    const poll = prompt ? this.#poll : this.#videoPoll;
    const woke = poll.wait(Math.ceil(timeout)) > 0;
    // Not prompt: audio waits in its socket and is drained every AUDIO_DRAIN_MS (or when idle).
    if (prompt ? woke && poll.ready(1) : !woke || performance.now() - this.#audioDrainedAt >= AUDIO_DRAIN_MS) this.#drainAudio();
    if (woke && poll.ready(0)) this.#drainVideo();
    this.#publishStats();
    this.#deliverAudio(prompt);
  }

  #drainAudio(): void {
    this.#audioDrainedAt = performance.now();
    const audio = this.#audio;
    const depacketizer = this.#audioDepacketizer;
    let received: number;
    do {
      received = audio.receive();
      // The audio queue keeps datagrams until their FEC block is done: each gets its own copy.
      for (let i = 0; i < received; i++) depacketizer.push(audio.datagram(i).slice());
    } while (received === RECEIVE_BATCH);
  }

  #drainVideo(): void {
    const video = this.#video;
    const depacketizer = this.#videoDepacketizer;
    const arrivalUs = Math.round((performance.now() + this.#clockOffsetMs) * 1000);
    let received: number;
    do {
      received = video.receive();
      for (let i = 0; i < received; i++) {
        const datagram = video.datagram(i);
        this.#videoBytes += datagram.length;
        depacketizer.push(datagram, arrivalUs);
      }
    } while (received === RECEIVE_BATCH);
  }

  #publishStats(): void {
    const stats = this.#stats;
    const video = this.#videoDepacketizer.stats;
    const audio = this.#audioDepacketizer.stats;
    for (let s = 0; s < VIDEO_STAT_NAMES.length; s++) stats[s] = video[VIDEO_STAT_NAMES[s]!];
    for (let s = 0; s < AUDIO_STAT_NAMES.length; s++) stats[AUDIO_STATS_AT + s] = audio[AUDIO_STAT_NAMES[s]!];
    stats[STAT_VIDEO_BYTES] = this.#videoBytes;
  }

  /** Audio of this pass that no frame took: at once to a listener, else held (not past AUDIO_HOLD_MS). */
  #deliverAudio(prompt: boolean): void {
    if (this.#passAudio.length > 0) {
      if (prompt) {
        post({ type: "audio", packets: this.#heldAudio.length > 0 ? [...this.#heldAudio, ...this.#passAudio] : this.#passAudio });
        this.#heldAudio = [];
      } else {
        if (this.#heldAudio.length === 0) this.#heldSince = performance.now();
        for (const p of this.#passAudio) this.#heldAudio.push(p);
      }
      this.#passAudio = [];
    }
    if (this.#heldAudio.length > 0 && (prompt || performance.now() - this.#heldSince >= AUDIO_HOLD_MS)) {
      post({ type: "audio", packets: this.#heldAudio });
      this.#heldAudio = [];
    }
  }

  close(): void {
    this.#videoDepacketizer.close();
    this.#audioDepacketizer.close();
  }
}
