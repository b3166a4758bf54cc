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
 * and drains the audio socket whenever it wakes (for video, or every POLL_TIMEOUT_MS), and the
 * packets travel with the next frame message (or wait AUDIO_HOLD_MS at most): neither thread is
 * woken 200 times a second for sound nobody hears, yet every packet is still received, decrypted,
 * counted and delivered, in order. With a listener, both sockets wake it and each pass's packets
 * go at once.
 *
 * The loop runs synchronously and never returns to this worker's event loop: the main thread stops
 * it through the shared `control` word, read at least every POLL_TIMEOUT_MS.
 */
import { AudioDepacketizer, type AudioPacket } from "./audio/audio-depacketizer.ts";
import { AUDIO_MAX_DATAGRAM, AudioCipher } from "./audio/audio-packet.ts";
import {
  AUDIO_STAT_NAMES,
  AUDIO_STATS_AT,
  CONTROL_AUDIO_PROMPT,
  CONTROL_STOP,
  STAT_TRUNCATED,
  STAT_VIDEO_BYTES,
  VIDEO_STAT_NAMES,
  type MediaReceiveInit,
  type MediaReceiveMessage,
} from "./media-receive-protocol.ts";
import { closeDescriptor, DatagramBatchReceiver, ReadablePoll, RECEIVE_BATCH } from "./udp-libc.ts";
import { VIDEO_ENCRYPTION_PREFIX_SIZE, VideoCipher } from "./video/video-crypto.ts";
import { VideoDepacketizer } from "./video/video-depacketizer.ts";

/** How long a stop can wait for quiet sockets. */
const POLL_TIMEOUT_MS = 50;
/** The longest audio waits for a frame to travel with while nobody listens. */
const AUDIO_HOLD_MS = 100;

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
  const stats = new Float64Array(init.stats);
  // Video slots one byte longer than any valid datagram: an oversize one arrives cut and is seen as such.
  const videoSlot = init.video.packetSize + 16 + (init.video.key ? VIDEO_ENCRYPTION_PREFIX_SIZE : 0) + 1;
  let video: DatagramBatchReceiver | undefined;
  let audio: DatagramBatchReceiver | undefined;
  let videoDepacketizer: VideoDepacketizer | undefined;
  let audioDepacketizer: AudioDepacketizer | undefined;
  try {
    video = new DatagramBatchReceiver(init.videoFd, videoSlot);
    audio = new DatagramBatchReceiver(init.audioFd, AUDIO_MAX_DATAGRAM + 1);
    const poll = new ReadablePoll([init.videoFd, init.audioFd]);
    const videoPoll = new ReadablePoll([init.videoFd]);
    // Arrival times on the main thread's clock (a worker's performance.now() has its own origin).
    const clockOffsetMs = performance.timeOrigin - init.timeOrigin;

    let heldAudio: AudioPacket[] = [];
    let heldSince = 0;
    let passAudio: AudioPacket[] = [];
    videoDepacketizer = new VideoDepacketizer(
      {
        codec: init.video.codec,
        packetSize: init.video.packetSize,
        referenceFrameInvalidation: init.video.referenceFrameInvalidation,
        copyInput: true,
        ...(init.video.key ? { cipher: new VideoCipher(init.video.key) } : {}),
      },
      {
        onFrame: (frame) => {
          // Audio that arrived before the frame goes first, with it.
          const waiting = heldAudio.length + passAudio.length > 0 ? [...heldAudio, ...passAudio] : null;
          heldAudio = [];
          passAudio = [];
          post({ type: "frame", frame, audio: waiting }, [frame.data.buffer as ArrayBuffer]);
        },
        onIdrNeeded: (reason) => post({ type: "idr-needed", reason }),
        onFrameLoss: (loss) => post({ type: "frame-loss", loss }),
      },
    );
    audioDepacketizer = new AudioDepacketizer(
      {
        packetDurationMs: init.audio.packetDurationMs,
        initialDiscardMs: init.audio.initialDiscardMs,
        ...(init.audio.key ? { cipher: new AudioCipher(init.audio.key, init.audio.keyId ?? 0) } : {}),
      },
      { onPacket: (packet) => passAudio.push(own(packet)) },
    );
    const videoCounters = videoDepacketizer.stats;
    const audioCounters = audioDepacketizer.stats;
    let videoBytes = 0;
    post({ type: "ready" });

    while (Atomics.load(control, CONTROL_STOP) === 0) {
      const prompt = Atomics.load(control, CONTROL_AUDIO_PROMPT) !== 0;
      const timeout = heldAudio.length > 0 ? Math.max(0, Math.min(POLL_TIMEOUT_MS, heldSince + AUDIO_HOLD_MS - performance.now())) : POLL_TIMEOUT_MS;
      const woke = prompt ? poll.wait(Math.ceil(timeout)) > 0 : videoPoll.wait(Math.ceil(timeout)) > 0;
      // Not prompt: audio is drained on every pass, woken or not.
      if (!prompt || (woke && poll.ready(1))) {
        let received: number;
        do {
          received = audio.receive();
          // The audio queue keeps datagrams until their FEC block is done: each gets its own copy.
          for (let i = 0; i < received; i++) audioDepacketizer.push(audio.datagram(i).slice());
        } while (received === RECEIVE_BATCH);
      }
      if (woke && (prompt ? poll.ready(0) : videoPoll.ready(0))) {
        const arrivalUs = Math.round((performance.now() + clockOffsetMs) * 1000);
        let received: number;
        do {
          received = video.receive();
          for (let i = 0; i < received; i++) {
            const datagram = video.datagram(i);
            videoBytes += datagram.length;
            videoDepacketizer.push(datagram, arrivalUs);
          }
        } while (received === RECEIVE_BATCH);
      }
      for (let s = 0; s < VIDEO_STAT_NAMES.length; s++) stats[s] = videoCounters[VIDEO_STAT_NAMES[s]!];
      for (let s = 0; s < AUDIO_STAT_NAMES.length; s++) stats[AUDIO_STATS_AT + s] = audioCounters[AUDIO_STAT_NAMES[s]!];
      stats[STAT_VIDEO_BYTES] = videoBytes;
      stats[STAT_TRUNCATED] = video.truncated + audio.truncated;
      // Audio of this pass that no frame took: at once to a listener, else held (not past AUDIO_HOLD_MS).
      if (passAudio.length > 0) {
        if (Atomics.load(control, CONTROL_AUDIO_PROMPT) !== 0) {
          post({ type: "audio", packets: heldAudio.length > 0 ? [...heldAudio, ...passAudio] : passAudio });
          heldAudio = [];
        } else {
          if (heldAudio.length === 0) heldSince = performance.now();
          for (const p of passAudio) heldAudio.push(p);
        }
        passAudio = [];
      }
      if (heldAudio.length > 0 && (Atomics.load(control, CONTROL_AUDIO_PROMPT) !== 0 || performance.now() - heldSince >= AUDIO_HOLD_MS)) {
        post({ type: "audio", packets: heldAudio });
        heldAudio = [];
      }
    }
  } finally {
    videoDepacketizer?.close();
    audioDepacketizer?.close();
    // Ours since the init message, whatever happened.
    if (video) video.close();
    else closeDescriptor(init.videoFd);
    if (audio) audio.close();
    else closeDescriptor(init.audioFd);
  }
}
