/**
 * The two depacketizers of a session's media, made from what RTSP negotiated: one place for the
 * event-loop receiver (media-receiver.ts) and the media receive thread's worker
 * (media-receive-worker.ts), so that both receive exactly the same way.
 */
import { AudioDepacketizer, type AudioDepacketizerEvents } from "./audio/audio-depacketizer.ts";
import { AudioCipher } from "./audio/audio-packet.ts";
import type { VideoCodec } from "./video/nal.ts";
import { VideoCipher } from "./video/video-crypto.ts";
import { VideoDepacketizer, type VideoDepacketizerEvents } from "./video/video-depacketizer.ts";

export interface VideoStreamParams {
  codec: VideoCodec;
  packetSize: number;
  /** rikey, when the host encrypts video. */
  key?: Uint8Array;
  referenceFrameInvalidation: boolean;
}

export interface AudioStreamParams {
  packetDurationMs: number;
  initialDiscardMs: number;
  /** rikey and rikeyid, when the host encrypts audio. */
  key?: Uint8Array;
  keyId?: number;
}

/** `copyInput`: the caller reuses each datagram's memory after push (a receive ring). */
export function createVideoDepacketizer(params: VideoStreamParams, events: VideoDepacketizerEvents, copyInput = false): VideoDepacketizer {
  return new VideoDepacketizer(
    {
      codec: params.codec,
      packetSize: params.packetSize,
      referenceFrameInvalidation: params.referenceFrameInvalidation,
      copyInput,
      ...(params.key ? { cipher: new VideoCipher(params.key) } : {}),
    },
    events,
  );
}

export function createAudioDepacketizer(params: AudioStreamParams, events: AudioDepacketizerEvents): AudioDepacketizer {
  return new AudioDepacketizer(
    {
      packetDurationMs: params.packetDurationMs,
      initialDiscardMs: params.initialDiscardMs,
      ...(params.key ? { cipher: new AudioCipher(params.key, params.keyId ?? 0) } : {}),
    },
    events,
  );
}
