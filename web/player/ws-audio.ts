/**
 * Audio of the WebSocket transport: Opus packets through WebCodecs `AudioDecoder`, PCM into an
 * AudioWorklet that plays from a small jitter buffer. The buffer fills to TARGET before playing,
 * is trimmed back to TARGET when it grows past MAX (clock drift, a burst after a stall), and
 * refills after an underrun, so audio stays ~50 ms behind arrival and never drifts away.
 *
 * Autoplay: nothing is decoded or played until `start()` (the player's first click or key), as
 * the WebRTC path starts muted.
 */

const TARGET_MS = 50;
const MAX_MS = 150;

/** The worklet, loaded from a Blob URL (the UI is one bundle; no separate file to serve). */
const WORKLET_SOURCE = `
class JitterBufferProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { channels, targetFrames, maxFrames } = options.processorOptions;
    this.channels = channels;
    this.target = targetFrames;
    this.max = maxFrames;
    this.size = maxFrames * 4;
    this.ring = Array.from({ length: channels }, () => new Float32Array(this.size));
    this.read = 0;
    this.write = 0;
    this.priming = true;
    this.underruns = 0;
    this.trimmed = 0;
    this.port.onmessage = (event) => this.push(event.data);
  }
  get buffered() { return (this.write - this.read + this.size) % this.size; }
  push(planes) {
    const frames = planes[0].length;
    if (this.buffered + frames >= this.size - 1) return;
    for (let c = 0; c < this.channels; c++) {
      const src = planes[Math.min(c, planes.length - 1)];
      const ring = this.ring[c];
      for (let i = 0; i < frames; i++) ring[(this.write + i) % this.size] = src[i];
    }
    this.write = (this.write + frames) % this.size;
    if (this.buffered > this.max) {
      this.read = (this.write - this.target + this.size) % this.size;
      this.trimmed++;
    }
  }
  process(inputs, outputs) {
    const out = outputs[0];
    const frames = out[0].length;
    if (this.priming) {
      if (this.buffered < this.target) return true;
      this.priming = false;
    }
    if (this.buffered < frames) {
      this.priming = true;
      this.underruns++;
      this.port.postMessage({ underruns: this.underruns, trimmed: this.trimmed });
      return true;
    }
    for (let c = 0; c < out.length; c++) {
      const ring = this.ring[Math.min(c, this.channels - 1)];
      for (let i = 0; i < frames; i++) out[c][i] = ring[(this.read + i) % this.size];
    }
    this.read = (this.read + frames) % this.size;
    return true;
  }
}
registerProcessor("mlstream-jitter-buffer", JitterBufferProcessor);
`;

/** GameStream's default Opus multistream layouts (normal quality) for surround; stereo needs none. */
const SURROUND: Record<number, { streams: number; coupled: number; mapping: number[] }> = {
  6: { streams: 4, coupled: 2, mapping: [0, 4, 1, 5, 2, 3] },
  8: { streams: 5, coupled: 3, mapping: [0, 6, 1, 7, 2, 3, 4, 5] },
};

function opusHead(channels: number): Uint8Array | undefined {
  const layout = SURROUND[channels];
  if (!layout) return undefined;
  const head = new Uint8Array(21 + channels);
  head.set(new TextEncoder().encode("OpusHead"));
  head[8] = 1;
  head[9] = channels;
  new DataView(head.buffer).setUint32(12, 48_000, true);
  head[18] = 1;
  head[19] = layout.streams;
  head[20] = layout.coupled;
  head.set(layout.mapping, 21);
  return head;
}

export class WsAudio {
  #context: AudioContext | undefined;
  #node: AudioWorkletNode | undefined;
  #decoder: AudioDecoder | undefined;
  #channels = 0;
  #starting: Promise<void> | undefined;
  #timestampUs = 0;
  /** Packets decoded, underruns of the jitter buffer, and packets that failed. */
  readonly counters = { packets: 0, decoded: 0, underruns: 0, errors: 0 };

  get playing(): boolean {
    return this.#context?.state === "running" && this.#node !== undefined;
  }

  /** After a user gesture: makes (or resumes) the audio context. Rejects if it stays suspended. */
  start(): Promise<void> {
    this.#starting ??= (async () => {
      const context = new AudioContext({ sampleRate: 48_000, latencyHint: "interactive" });
      this.#context = context;
      const url = URL.createObjectURL(new Blob([WORKLET_SOURCE], { type: "text/javascript" }));
      try {
        await context.audioWorklet.addModule(url);
      } finally {
        URL.revokeObjectURL(url);
      }
    })();
    return this.#starting.then(async () => {
      const context = this.#context!;
      if (context.state !== "running") await context.resume();
      if (context.state !== "running") throw new Error(`audio context ${context.state}`);
    });
  }

  /** One Opus packet from the socket. Dropped until started. */
  push(data: Uint8Array, channels: number): void {
    this.counters.packets++;
    if (this.#context?.state !== "running") return;
    if (!this.#decoder || channels !== this.#channels) this.#configure(channels);
    const decoder = this.#decoder;
    if (!decoder || decoder.state !== "configured") return;
    // 20 ms or less per packet; the timestamps only need to increase.
    this.#timestampUs += 5000;
    try {
      decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: this.#timestampUs, data }));
    } catch {
      this.counters.errors++;
      this.#decoder = undefined;
    }
  }

  #configure(channels: number): void {
    const context = this.#context;
    if (!context || context.state !== "running") return;
    this.#decoder?.close();
    this.#node?.disconnect();
    this.#channels = channels;
    const out = Math.min(2, channels);
    const node = new AudioWorkletNode(context, "mlstream-jitter-buffer", {
      numberOfInputs: 0,
      outputChannelCount: [out],
      processorOptions: { channels: out, targetFrames: (48_000 * TARGET_MS) / 1000, maxFrames: (48_000 * MAX_MS) / 1000 },
    });
    node.port.onmessage = (event: MessageEvent<{ underruns: number }>) => {
      this.counters.underruns = event.data.underruns;
    };
    node.connect(context.destination);
    this.#node = node;
    const decoder = new AudioDecoder({
      output: (audio) => {
        try {
          const planes: Float32Array[] = [];
          for (let c = 0; c < out; c++) {
            const plane = new Float32Array(audio.numberOfFrames);
            audio.copyTo(plane, { planeIndex: c, format: "f32-planar" });
            planes.push(plane);
          }
          this.counters.decoded++;
          node.port.postMessage(planes, planes.map((p) => p.buffer));
        } finally {
          audio.close();
        }
      },
      error: () => {
        this.counters.errors++;
        this.#decoder = undefined;
      },
    });
    const description = opusHead(channels);
    decoder.configure({ codec: "opus", sampleRate: 48_000, numberOfChannels: channels, ...(description ? { description } : {}) });
    this.#decoder = decoder;
  }

  close(): void {
    if (this.#decoder?.state !== "closed") this.#decoder?.close();
    this.#decoder = undefined;
    this.#node?.disconnect();
    this.#node = undefined;
    void this.#context?.close().catch(() => {});
    this.#context = undefined;
    this.#starting = undefined;
    this.#channels = 0;
  }
}
