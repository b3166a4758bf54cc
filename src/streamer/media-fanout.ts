/**
 * Fans one stream's media out to its viewers: each video frame is packetized once and the same
 * RTP packets are written to every viewer, synchronously, in the caller's turn (the session's
 * socket callback). Gateway latency — frame complete → last packet handed to the last viewer's
 * transport — is recorded per frame.
 */
import type { VideoCodec } from "../moonlight/video/nal.ts";
import { Av1RtpPacketizer } from "../peer/av1-rtp-packetizer.ts";
import { OpusRtpPacketizer, VideoRtpPacketizer } from "../peer/rtp-packetizer.ts";
import { OPUS_PAYLOAD_TYPE, PLAYOUT_DELAY_EXTENSION_ID, VIDEO_PAYLOAD_TYPE } from "../peer/webrtc-viewer.ts";
import { LatencyHistogram } from "./latency-histogram.ts";

/** What the fan-out needs of a viewer transport. */
export interface MediaSink {
  /** Has not had its first keyframe yet (or lost its reference). */
  readonly waitingForKeyframe: boolean;
  writeVideo(frame: import("../peer/rtp-packetizer.ts").RtpFrame): boolean;
  writeAudio(packet: Uint8Array, timestamp: number): void;
}

export class MediaFanout {
  readonly latency = new LatencyHistogram();
  readonly videoSsrc: number;
  readonly audioSsrc: number;
  readonly #sinks = new Set<MediaSink>();
  /** Reused list of the sinks a keyframe goes to first. */
  readonly #waiting: MediaSink[] = [];
  #video: VideoRtpPacketizer | Av1RtpPacketizer | undefined;
  readonly #audio: OpusRtpPacketizer;
  framesFannedOut = 0;

  constructor(options: { videoSsrc: number; audioSsrc: number }) {
    this.videoSsrc = options.videoSsrc;
    this.audioSsrc = options.audioSsrc;
    this.#audio = new OpusRtpPacketizer({ payloadType: OPUS_PAYLOAD_TYPE, ssrc: options.audioSsrc });
  }

  /** Sets the stream's codec (a new packetizer when it changes). */
  setCodec(codec: VideoCodec): void {
    if (this.#video?.codec === codec) return;
    const options = { payloadType: VIDEO_PAYLOAD_TYPE[codec], ssrc: this.videoSsrc, playoutDelayExtensionId: PLAYOUT_DELAY_EXTENSION_ID };
    this.#video = codec === "av1" ? new Av1RtpPacketizer(options) : new VideoRtpPacketizer(codec, options);
  }

  add(sink: MediaSink): void {
    this.#sinks.add(sink);
  }

  delete(sink: MediaSink): void {
    this.#sinks.delete(sink);
  }

  get size(): number {
    return this.#sinks.size;
  }

  /**
   * Writes one access unit to every viewer. `arrivalUs` (µs, monotonic) becomes the RTP time:
   * hosts stamp frames inconsistently (Wolf sends 0). Returns false if nobody could take it.
   */
  writeVideo(accessUnit: Uint8Array, keyframe: boolean, arrivalUs: number): boolean {
    const packetizer = this.#video;
    if (!packetizer || this.#sinks.size === 0) return false;
    const started = performance.now();
    const rtp = packetizer.packetize(accessUnit, Math.round(arrivalUs * 0.09) >>> 0, keyframe);
    if (keyframe) {
      // Viewers waiting for this keyframe (joiners) get it first: an IDR to 60 viewers takes tens
      // of milliseconds, which a joiner should not spend at the back of the line.
      const waiting = this.#waiting;
      waiting.length = 0;
      for (const sink of this.#sinks) if (sink.waitingForKeyframe) waiting.push(sink);
      for (const sink of waiting) sink.writeVideo(rtp);
      for (const sink of this.#sinks) if (!waiting.includes(sink)) sink.writeVideo(rtp);
      waiting.length = 0;
    } else {
      for (const sink of this.#sinks) sink.writeVideo(rtp);
    }
    this.framesFannedOut++;
    this.latency.record(performance.now() - started);
    return true;
  }

  /** Writes one Opus packet (`timestampMs` on the host's audio clock). */
  writeAudio(opus: Uint8Array, timestampMs: number): void {
    if (this.#sinks.size === 0) return;
    const timestamp = (timestampMs * 48) >>> 0;
    const rtp = this.#audio.packetize(opus, timestamp);
    for (const sink of this.#sinks) sink.writeAudio(rtp, timestamp);
  }
}
