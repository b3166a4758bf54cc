/**
 * Which media transport can show the stream's codec in this browser, asked of the browser itself:
 * WebRTC if `RTCRtpReceiver.getCapabilities("video")` lists the codec, the WebSocket transport if
 * WebCodecs decodes it (`VideoDecoder.isConfigSupported`) — or, for H.264 only, MSE (mse-video.ts).
 * The streamer's codec is fixed when it starts (POST /api/streamers `codec`, `mlstream start
 * --codec`); when no transport here can decode it the player says so in words instead of showing a
 * black picture.
 *
 * Measured on Debian's Chromium 156 without a GPU (tests/web/codecs.test.ts): WebRTC receives
 * H.264 and AV1, not H.265; WebCodecs decodes H.264 and AV1, not HEVC.
 *
 * 10-bit streams: `getCapabilities` cannot tell, and Chromium's WebRTC video path decodes 8-bit only
 * (measured: AV1 Main 10-bit over WebRTC, 448 frames received, 0 decoded, 63 PLIs) while WebCodecs
 * decodes it. So a 10-bit stream goes to WebCodecs when the browser has it, and to WebRTC only as
 * the last resort.
 */
import type { TransportChoice } from "./connection.ts";

export type StreamCodec = "h264" | "hevc" | "av1";

export const CODEC_LABEL: Record<StreamCodec, string> = { h264: "H.264", hevc: "HEVC", av1: "AV1" };

/** "AV1", or "AV1 10-bit". */
export function codecName(codec: StreamCodec, bitDepth: 8 | 10 = 8): string {
  return bitDepth === 10 ? `${CODEC_LABEL[codec]} 10-bit` : CODEC_LABEL[codec];
}

const RTP_MIME: Record<StreamCodec, string> = { h264: "video/h264", hevc: "video/h265", av1: "video/av1" };

/** Codec strings to ask WebCodecs about: a common profile of each (the real one is read from the stream later). */
const PROBE_STRINGS: Record<StreamCodec, string[]> = {
  h264: ["avc1.42e01f", "avc1.64001f"],
  hevc: ["hvc1.1.6.L93.B0", "hev1.1.6.L93.B0"],
  av1: ["av01.0.05M.08", "av01.0.08M.08"],
};
const PROBE_STRINGS_10BIT: Record<StreamCodec, string[]> = {
  h264: [],
  hevc: ["hvc1.2.4.L93.B0", "hev1.2.4.L93.B0"],
  av1: ["av01.0.05M.10", "av01.0.08M.10"],
};

export interface CodecSupport {
  webrtc: boolean;
  webcodecs: boolean;
  /** The stream is 10-bit: WebCodecs first (see above). */
  tenBit?: boolean;
}

/** What this browser can do with `codec` at `bitDepth`. */
export async function probeCodecSupport(codec: StreamCodec, bitDepth: 8 | 10 = 8): Promise<CodecSupport> {
  const codecs = typeof RTCRtpReceiver !== "undefined" ? (RTCRtpReceiver.getCapabilities?.("video")?.codecs ?? []) : [];
  const webrtc = codecs.some((c) => c.mimeType.toLowerCase() === RTP_MIME[codec]);
  let webcodecs = false;
  if (typeof VideoDecoder !== "undefined") {
    for (const candidate of (bitDepth === 10 ? PROBE_STRINGS_10BIT : PROBE_STRINGS)[codec]) {
      const support = await VideoDecoder.isConfigSupported({ codec: candidate, optimizeForLatency: true }).catch(() => undefined);
      if (support?.supported) {
        webcodecs = true;
        break;
      }
    }
  }
  return { webrtc, webcodecs, ...(bitDepth === 10 ? { tenBit: true } : {}) };
}

export type CodecPath = { transport: "webrtc" | "websocket"; unplayable?: undefined } | { transport?: undefined; unplayable: string };

/** The sentence the player shows when nothing here can decode `codec`. */
export function unplayableMessage(codec: StreamCodec): string {
  const others = (Object.keys(CODEC_LABEL) as StreamCodec[]).filter((c) => c !== codec).map((c) => CODEC_LABEL[c]);
  const label = CODEC_LABEL[codec];
  return `This stream is ${label}, which this browser cannot decode. Restart the streamer with ${others.join(" or ")}, or watch in a browser that decodes ${label}.`;
}

/** The transport to use for `codec` given the page's `?transport=` choice, or why none can show it. */
export function chooseCodecPath(codec: StreamCodec, choice: TransportChoice, support: CodecSupport): CodecPath {
  const websocket = support.webcodecs || codec === "h264";
  const label = CODEC_LABEL[codec];
  if (choice === "webrtc") {
    if (support.webrtc) return { transport: "webrtc" };
    if (websocket) return { unplayable: `This browser cannot receive ${label} over WebRTC; open the page without ?transport=webrtc to use the WebSocket transport.` };
    return { unplayable: unplayableMessage(codec) };
  }
  if (choice === "websocket") {
    if (websocket) return { transport: "websocket" };
    if (support.webrtc) return { unplayable: `This browser cannot decode ${label} with WebCodecs; open the page without ?transport=websocket to use WebRTC.` };
    return { unplayable: unplayableMessage(codec) };
  }
  if (support.tenBit && support.webcodecs) return { transport: "websocket" };
  if (support.webrtc) return { transport: "webrtc" };
  if (websocket) return { transport: "websocket" };
  return { unplayable: unplayableMessage(codec) };
}
