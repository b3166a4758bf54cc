/**
 * The video receive thread's worker (issue 22): it blocks in `poll` on the video socket, drains it
 * with `recvmmsg` into a ring of slots it owns (udp-libc.ts), and runs the whole depacketizer —
 * decryption, FEC, frame reassembly — here, posting only complete frames (their buffers
 * transferred, not copied) and the depacketizer's IDR / loss requests to the main thread. The main
 * thread's event loop then wakes once per frame instead of once per few datagrams, and no Buffer
 * or callback is made per datagram.
 *
 * The loop runs synchronously and never returns to this worker's event loop: the main thread stops
 * it through the shared `control` word, which is read at least every POLL_TIMEOUT_MS.
 */
import { closeDescriptor, DatagramBatchReceiver, RECEIVE_BATCH } from "../udp-libc.ts";
import { VIDEO_ENCRYPTION_PREFIX_SIZE, VideoCipher } from "./video-crypto.ts";
import { VideoDepacketizer } from "./video-depacketizer.ts";
import {
  CONTROL_STOP,
  DEPACKETIZER_STAT_NAMES,
  STAT_BYTES,
  STAT_TRUNCATED,
  type VideoReceiveInit,
  type VideoReceiveMessage,
} from "./video-receive-protocol.ts";

/** How long a stop can wait for a quiet socket. */
const POLL_TIMEOUT_MS = 50;

declare const self: Worker;
const post = (message: VideoReceiveMessage, transfer?: Transferable[]) => self.postMessage(message, transfer ?? []);

self.onmessage = (event: MessageEvent<VideoReceiveInit>) => {
  self.onmessage = null;
  try {
    run(event.data);
  } catch (error) {
    post({ type: "error", message: (error as Error).message });
  }
  post({ type: "stopped" });
};

function run(init: VideoReceiveInit): void {
  const control = new Int32Array(init.control);
  const stats = new Float64Array(init.stats);
  // Slots one byte longer than any valid datagram: an oversize one arrives cut and is seen as such.
  const slotSize = init.packetSize + 16 + (init.key ? VIDEO_ENCRYPTION_PREFIX_SIZE : 0) + 1;
  let receiver: DatagramBatchReceiver;
  try {
    receiver = new DatagramBatchReceiver(init.fd, slotSize);
  } catch (error) {
    closeDescriptor(init.fd); // ours since the init message, whatever happens
    throw error;
  }
  let depacketizer: VideoDepacketizer | undefined;
  try {
    // Arrival times on the main thread's clock (a worker's performance.now() has its own origin).
    const clockOffsetMs = performance.timeOrigin - init.timeOrigin;
    depacketizer = new VideoDepacketizer(
      {
        codec: init.codec,
        packetSize: init.packetSize,
        referenceFrameInvalidation: init.referenceFrameInvalidation,
        copyInput: true,
        ...(init.key ? { cipher: new VideoCipher(init.key) } : {}),
      },
      {
        onFrame: (frame) => post({ type: "frame", frame }, [frame.data.buffer as ArrayBuffer]),
        onIdrNeeded: (reason) => post({ type: "idr-needed", reason }),
        onFrameLoss: (loss) => post({ type: "frame-loss", loss }),
      },
    );
    const counters = depacketizer.stats;
    let bytes = 0;
    post({ type: "ready" });
    while (Atomics.load(control, CONTROL_STOP) === 0) {
      if (!receiver.waitReadable(POLL_TIMEOUT_MS)) continue;
      const arrivalUs = Math.round((performance.now() + clockOffsetMs) * 1000);
      let received: number;
      do {
        received = receiver.receive();
        for (let i = 0; i < received; i++) {
          const datagram = receiver.datagram(i);
          bytes += datagram.length;
          depacketizer.push(datagram, arrivalUs);
        }
      } while (received === RECEIVE_BATCH);
      for (let s = 0; s < DEPACKETIZER_STAT_NAMES.length; s++) stats[s] = counters[DEPACKETIZER_STAT_NAMES[s]!];
      stats[STAT_BYTES] = bytes;
      stats[STAT_TRUNCATED] = receiver.truncated;
    }
  } finally {
    depacketizer?.close();
    receiver.close();
  }
}
