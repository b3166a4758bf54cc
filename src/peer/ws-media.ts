/**
 * The WebSocket media transport's binary framing (version 1), for viewers where WebRTC cannot
 * pass. Media and input ride the same socket as signaling: JSON text frames carry the signaling
 * messages (docs/signaling.md), binary frames carry these. Documented in docs/ws-media.md.
 *
 *   VIDEO  (server → viewer), 16-byte header then one access unit (Annex B for H.264/HEVC):
 *     0 type=0x01 | 1 flags (bit 0 keyframe) | 2 codec (1 H.264, 2 HEVC, 3 AV1) | 3 version=1
 *     4–7 frame number (u32 BE) | 8–15 capture time (f64 BE, ms since the Unix epoch, when the
 *     frame was complete at the gateway)
 *   AUDIO  (server → viewer), 16-byte header then one Opus packet:
 *     0 type=0x02 | 1 channels | 2–3 reserved | 4–7 sequence (u32 BE) | 8–15 host timestamp (f64 BE, ms)
 *   INPUT  (viewer → server): 0 type=0x03 | 1 reserved | then one GameStream input packet,
 *     exactly the bytes a data channel carries (src/moonlight/input/input.ts)
 *   PING   (either way): 0 type=0x04 | 1–7 reserved | 8–15 sender's clock (f64 BE, ms)
 *   PONG   (either way): 0 type=0x05 | 1–7 reserved | 8–15 the ping's clock, echoed
 */

export const WS_MEDIA_VERSION = 1;
export const WsMediaType = { video: 0x01, audio: 0x02, input: 0x03, ping: 0x04, pong: 0x05 } as const;
export const WS_HEADER_BYTES = 16;
const INPUT_HEADER_BYTES = 2;

export type WsCodec = "h264" | "hevc" | "av1";
const CODEC_IDS: Record<WsCodec, number> = { h264: 1, hevc: 2, av1: 3 };
const CODEC_NAMES: Record<number, WsCodec> = { 1: "h264", 2: "hevc", 3: "av1" };

export type WsMediaMessage =
  | { type: "video"; keyframe: boolean; codec: WsCodec; frameNumber: number; captureTimeMs: number; data: Uint8Array }
  | { type: "audio"; channels: number; sequence: number; timestampMs: number; data: Uint8Array }
  | { type: "input"; packet: Uint8Array }
  | { type: "ping"; clockMs: number }
  | { type: "pong"; clockMs: number };

export class WsMediaFormatError extends Error {
  override name = "WsMediaFormatError";
}

/** Writes a video frame message: one allocation (header + payload), one copy of the payload. */
export function serializeVideo(data: Uint8Array, keyframe: boolean, codec: WsCodec, frameNumber: number, captureTimeMs: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(WS_HEADER_BYTES + data.length);
  const view = new DataView(out.buffer);
  out[0] = WsMediaType.video;
  out[1] = keyframe ? 1 : 0;
  out[2] = CODEC_IDS[codec];
  out[3] = WS_MEDIA_VERSION;
  view.setUint32(4, frameNumber >>> 0);
  view.setFloat64(8, captureTimeMs);
  out.set(data, WS_HEADER_BYTES);
  return out;
}

export function serializeAudio(data: Uint8Array, channels: number, sequence: number, timestampMs: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(WS_HEADER_BYTES + data.length);
  const view = new DataView(out.buffer);
  out[0] = WsMediaType.audio;
  out[1] = channels;
  view.setUint32(4, sequence >>> 0);
  view.setFloat64(8, timestampMs);
  out.set(data, WS_HEADER_BYTES);
  return out;
}

export function serializeInput(packet: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(INPUT_HEADER_BYTES + packet.length);
  out[0] = WsMediaType.input;
  out.set(packet, INPUT_HEADER_BYTES);
  return out;
}

export function serializePing(type: "ping" | "pong", clockMs: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(WS_HEADER_BYTES);
  out[0] = type === "ping" ? WsMediaType.ping : WsMediaType.pong;
  new DataView(out.buffer).setFloat64(8, clockMs);
  return out;
}

/** Parses one binary message; payloads are views into `bytes` (no copy). Throws WsMediaFormatError. */
export function parseWsMedia(bytes: Uint8Array): WsMediaMessage {
  if (bytes.length < 1) throw new WsMediaFormatError("empty message");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case WsMediaType.video: {
      if (bytes.length < WS_HEADER_BYTES) throw new WsMediaFormatError("truncated video header");
      if (bytes[3] !== WS_MEDIA_VERSION) throw new WsMediaFormatError(`unsupported version ${bytes[3]}`);
      const codec = CODEC_NAMES[bytes[2]!];
      if (!codec) throw new WsMediaFormatError(`unknown codec ${bytes[2]}`);
      return {
        type: "video",
        keyframe: (bytes[1]! & 1) !== 0,
        codec,
        frameNumber: view.getUint32(4),
        captureTimeMs: view.getFloat64(8),
        data: bytes.subarray(WS_HEADER_BYTES),
      };
    }
    case WsMediaType.audio:
      if (bytes.length < WS_HEADER_BYTES) throw new WsMediaFormatError("truncated audio header");
      return { type: "audio", channels: bytes[1]!, sequence: view.getUint32(4), timestampMs: view.getFloat64(8), data: bytes.subarray(WS_HEADER_BYTES) };
    case WsMediaType.input:
      if (bytes.length <= INPUT_HEADER_BYTES) throw new WsMediaFormatError("empty input message");
      return { type: "input", packet: bytes.subarray(INPUT_HEADER_BYTES) };
    case WsMediaType.ping:
    case WsMediaType.pong:
      if (bytes.length < WS_HEADER_BYTES) throw new WsMediaFormatError("truncated ping");
      return { type: bytes[0] === WsMediaType.ping ? "ping" : "pong", clockMs: view.getFloat64(8) };
    default:
      throw new WsMediaFormatError(`unknown message type 0x${bytes[0]!.toString(16)}`);
  }
}
