/**
 * The streaming parameters the simulated host takes from the client's RTSP ANNOUNCE (§2.7, §9.2.3),
 * checked the way Sunshine checks them: a missing required attribute or a codec the host did not
 * offer is a 400.
 */
import { EncryptionFeature, MoonlightFeature, NvFeature, parseAnnounceSdp } from "../moonlight/rtsp/announce-sdp.ts";
import type { ControlIvScheme } from "../moonlight/control/control-crypto.ts";
import type { VideoCodec } from "../moonlight/video/nal.ts";
import { clientOpusLayout, type OpusLayout } from "./opus-multistream.ts";

/** Sunshine's surround layouts: stereo, 5.1 and 7.1, normal then high quality (§2.6). */
export const SURROUND_PARAMS: readonly string[] = ["21101", "21101", "642012453", "660012345", "85301245367", "88001234567"];

/**
 * The surround-params values of the DESCRIBE reply, in order: like Sunshine, the launch's custom
 * `surroundParams` twice (when given), then the standard layouts.
 */
export function describedSurroundParams(launchSurroundParams: string): string[] {
  return [...(launchSurroundParams ? [launchSurroundParams, launchSurroundParams] : []), ...SURROUND_PARAMS];
}

/**
 * The Opus layout the client decodes with: what it read from our DESCRIBE reply for the channel
 * count and quality its ANNOUNCE asked for (§2.6, §6.5). Undefined when the client could not have
 * got that far (no usable 7.1 line).
 */
export function streamOpusLayout(config: Pick<SimStreamConfig, "audioChannels" | "highQualityAudio">, launchSurroundParams: string): OpusLayout | undefined {
  return clientOpusLayout(describedSurroundParams(launchSurroundParams), config.audioChannels, config.highQualityAudio);
}

export interface SimStreamConfig {
  width: number;
  height: number;
  fps: number;
  /** x-nv-video[0].packetSize (already −32 when video is encrypted). */
  packetSize: number;
  codec: VideoCodec;
  /** x-nv-video[0].dynamicRangeMode 1: 10-bit video (HEVC Main10 / AV1 Main10; the host offered it). */
  tenBit: boolean;
  /** Encoder bitrate the client asked for (configuredBitrateKbps, else maximumBitrateKbps). */
  bitrateKbps: number;
  /** x-nv-vqos[0].fec.minRequiredFecPackets (0 when absent). */
  minRequiredFecPackets: number;
  /** x-ml-general.featureFlags (ML_FF_*). */
  clientFeatureFlags: number;
  /** The client understands X-SS-Ping-Payload / X-SS-Connect-Data (else: match by IP). */
  sessionIdV1: boolean;
  /** x-ss-general.encryptionEnabled. */
  encryptionEnabled: number;
  controlIvScheme: ControlIvScheme;
  videoEncrypted: boolean;
  audioEncrypted: boolean;
  /** x-nv-aqos.packetDuration (5 default). */
  audioPacketDurationMs: number;
  audioChannels: number;
  audioChannelMask: number;
  highQualityAudio: boolean;
  /** The raw attributes, for anything else a test wants to look at. */
  attributes: Map<string, string>;
}

/** The SDP is unusable; `statusCode` is what Sunshine would answer (400). */
export class AnnounceRejectedError extends Error {
  override name = "AnnounceRejectedError";
  readonly statusCode: number;
  constructor(message: string, statusCode = 400) {
    super(message);
    this.statusCode = statusCode;
  }
}

const REQUIRED = [
  "x-nv-video[0].clientViewportWd",
  "x-nv-video[0].clientViewportHt",
  "x-nv-video[0].maxFPS",
  "x-nv-video[0].packetSize",
  "x-nv-vqos[0].bw.maximumBitrateKbps",
  "x-nv-video[0].videoEncoderSlicesPerFrame",
  "x-nv-video[0].maxNumReferenceFrames",
  "x-nv-audio.surround.numChannels",
  "x-nv-audio.surround.channelMask",
  "x-nv-audio.surround.AudioQuality",
] as const;

/** What the host offered: in DESCRIBE (HEVC, AV1) and in serverinfo (the 10-bit modes). */
export interface OfferedCodecs {
  hevcOffered: boolean;
  av1Offered?: boolean;
  hevcMain10Offered?: boolean;
  av1Main10Offered?: boolean;
}

/** Parses and validates an ANNOUNCE body against what the host offered. */
export function parseStreamConfig(sdp: string, options: OfferedCodecs): SimStreamConfig {
  const attributes = parseAnnounceSdp(sdp);
  for (const name of REQUIRED) {
    if (!attributes.has(name)) throw new AnnounceRejectedError(`ANNOUNCE lacks ${name}`);
  }
  const int = (name: string, fallback: number): number => {
    const text = attributes.get(name);
    if (text === undefined) return fallback;
    const value = Number.parseInt(text, 10);
    if (!Number.isFinite(value)) throw new AnnounceRejectedError(`ANNOUNCE ${name} is not a number: ${JSON.stringify(text)}`);
    return value;
  };
  const format = int("x-nv-vqos[0].bitStreamFormat", 0);
  let codec: VideoCodec;
  if (format === 0) codec = "h264";
  else if (format === 1 && options.hevcOffered) codec = "hevc";
  else if (format === 2 && options.av1Offered) codec = "av1";
  else throw new AnnounceRejectedError(`codec ${format} (bitStreamFormat) is not enabled on this host`);

  // Like Sunshine (rtsp.cpp: dynamicRange → 10-bit encode), for the 10-bit modes this host advertised.
  const tenBit = int("x-nv-video[0].dynamicRangeMode", 0) === 1;
  const tenBitOffered = codec === "hevc" ? options.hevcMain10Offered : codec === "av1" ? options.av1Main10Offered : false;
  if (tenBit && !tenBitOffered) throw new AnnounceRejectedError(`10-bit ${codec} (dynamicRangeMode 1) is not enabled on this host`);

  const packetSize = int("x-nv-video[0].packetSize", 0);
  if (packetSize < 32 || packetSize > 65000 || packetSize % 16 !== 0) {
    throw new AnnounceRejectedError(`unusable packetSize ${packetSize}`);
  }
  const width = int("x-nv-video[0].clientViewportWd", 0);
  const height = int("x-nv-video[0].clientViewportHt", 0);
  const fps = int("x-nv-video[0].maxFPS", 0);
  if (width <= 0 || height <= 0 || fps <= 0 || fps > 1000) throw new AnnounceRejectedError(`unusable mode ${width}x${height}@${fps}`);

  const encryptionEnabled = int("x-ss-general.encryptionEnabled", 0);
  const nvFeatureFlags = int("x-nv-general.featureFlags", 0);
  const clientFeatureFlags = int("x-ml-general.featureFlags", 0);
  const duration = int("x-nv-aqos.packetDuration", 5);
  if (duration !== 5 && duration !== 10) throw new AnnounceRejectedError(`audio packet duration ${duration} ms`);
  const configured = int("x-ml-video.configuredBitrateKbps", 0);

  return {
    width,
    height,
    fps,
    packetSize,
    codec,
    tenBit,
    bitrateKbps: configured > 0 ? configured : int("x-nv-vqos[0].bw.maximumBitrateKbps", 0),
    minRequiredFecPackets: int("x-nv-vqos[0].fec.minRequiredFecPackets", 0),
    clientFeatureFlags,
    sessionIdV1: (clientFeatureFlags & MoonlightFeature.sessionIdV1) !== 0,
    encryptionEnabled,
    controlIvScheme: encryptionEnabled & EncryptionFeature.controlV2 ? "v2" : "legacy",
    videoEncrypted: (encryptionEnabled & EncryptionFeature.video) !== 0,
    // Sunshine ORs the NVIDIA flag and the SS bit; the client may set 0x20 on its own (field notes).
    audioEncrypted: (nvFeatureFlags & NvFeature.audioEncryption) !== 0 || (encryptionEnabled & EncryptionFeature.audio) !== 0,
    audioPacketDurationMs: duration,
    audioChannels: int("x-nv-audio.surround.numChannels", 2),
    audioChannelMask: int("x-nv-audio.surround.channelMask", 3),
    highQualityAudio: int("x-nv-audio.surround.AudioQuality", 0) === 1,
    attributes,
  };
}
