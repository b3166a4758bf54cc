/**
 * The "SDP" a Sunshine-gen client sends in RTSP ANNOUNCE (reference §2.7). Not standard SDP:
 * three header lines, one `a=<name>:<value> ` line per setting (note the trailing space), and a
 * two-line trailer whose `m=` line ends in two spaces.
 *
 *   v=0
 *   o=android 0 14 IN IPv4 <host>          (IPv6: "IN IPv6 [addr]")
 *   s=NVIDIA Streaming Client
 *   a=x-ml-general.featureFlags:3 
 *   …
 *   t=0 0
 *   m=video <video port>  
 *
 * `announceAttributes()` derives the attribute values from stream settings the way
 * moonlight-common-c does for a 7.1.431.-1 host; `buildAnnounceSdp()` only formats.
 */

export const RTSP_CLIENT_VERSION = 14;

/** Client VIDEO_FORMAT_* bits (moonlight-common-c). */
export const VideoFormat = {
  h264: 0x0001,
  h264High8_444: 0x0004,
  h265: 0x0100,
  h265Main10: 0x0200,
  h265Rext8_444: 0x0400,
  h265Rext10_444: 0x0800,
  av1Main8: 0x1000,
  av1Main10: 0x2000,
  av1High8_444: 0x4000,
  av1High10_444: 0x8000,
} as const;
export const VIDEO_FORMAT_MASK_H264 = 0x000f;
export const VIDEO_FORMAT_MASK_H265 = 0x0f00;
export const VIDEO_FORMAT_MASK_AV1 = 0xf000;
export const VIDEO_FORMAT_MASK_10BIT = 0xaa00;
export const VIDEO_FORMAT_MASK_YUV444 = 0xcc04;

/** Encryption feature bits (SS_ENC_*). */
export const EncryptionFeature = { controlV2: 0x01, video: 0x02, audio: 0x04 } as const;
/** Client feature bits sent as x-ml-general.featureFlags (ML_FF_*). */
export const MoonlightFeature = { fecStatus: 0x01, sessionIdV1: 0x02 } as const;
/** x-nv-general.featureFlags bits. */
export const NvFeature = { base: 0x07, audioEncryption: 0x20, remoteInputEncryption: 0x80 } as const;

/** Bitrate at or above which high-quality audio is possible. */
export const HIGH_AUDIO_BITRATE_THRESHOLD_KBPS = 15000;

export interface AnnounceSettings {
  /** Address of the host as the client reached it (goes into the o= line). */
  hostAddress: string;
  /** Video port from the video SETUP reply. */
  videoPort: number;
  width: number;
  height: number;
  fps: number;
  /** Requested video packet size (moonlight-qt default 1392). */
  packetSize: number;
  /** User bitrate in kbps. */
  bitrateKbps: number;
  /** Stream classified as remote (Moonlight: STREAM_CFG_REMOTE): QoS off, −500 kbps, 1024/1184 packets. */
  remote: boolean;
  /** Negotiated VIDEO_FORMAT_* value (one bit). */
  videoFormat: number;
  audioChannels: number;
  audioChannelMask: number;
  /** High-quality surround was negotiated (needs > 2 channels, ≥ 15000 kbps, host second layout). */
  highQualitySurround: boolean;
  /** ms of audio per packet: 5 normally, 10 for slow decoders. */
  audioPacketDurationMs: number;
  /** Bits of x-ss-general.encryptionEnabled (EncryptionFeature). */
  encryptionEnabled: number;
  /** Client opted into audio encryption (Moonlight ENCFLG_AUDIO, on by default). */
  encryptAudio: boolean;
  /** Decoder supports reference-frame invalidation → no reference-frame limit. */
  decoderSupportsRfi: boolean;
  clientRefreshRateX100: number;
  slicesPerFrame: number;
  /** 0 Rec.601, 1 Rec.709, 2 Rec.2020. */
  colorSpace: number;
  /** 0 limited, 1 full. */
  colorRange: number;
}

export type AnnounceAttribute = [name: string, value: string];

/** Packet size after Moonlight's adjustments (round down to 16, −32 with video encryption). */
export function effectivePacketSize(settings: Pick<AnnounceSettings, "packetSize" | "remote" | "hostAddress" | "encryptionEnabled">): number {
  let size = settings.remote ? (settings.hostAddress.includes(":") ? 1184 : 1024) : settings.packetSize;
  size -= size % 16;
  if (settings.encryptionEnabled & EncryptionFeature.video) size -= 32;
  return size;
}

/** The attribute lines, in the order moonlight-common-c emits them for a Sunshine-gen host. */
export function announceAttributes(s: AnnounceSettings): AnnounceAttribute[] {
  const attrs: AnnounceAttribute[] = [];
  const add = (name: string, value: number | string) => attrs.push([name, String(value)]);
  add("x-ml-general.featureFlags", MoonlightFeature.fecStatus | MoonlightFeature.sessionIdV1);
  add("x-ss-general.encryptionEnabled", s.encryptionEnabled);
  add("x-ss-video[0].chromaSamplingType", s.videoFormat & VIDEO_FORMAT_MASK_YUV444 ? 1 : 0);
  add("x-nv-video[0].clientViewportWd", s.width);
  add("x-nv-video[0].clientViewportHt", s.height - (s.height % 2));
  add("x-nv-video[0].maxFPS", s.fps);
  add("x-nv-video[0].packetSize", effectivePacketSize(s));
  add("x-nv-video[0].rateControlMode", 4);
  add("x-nv-video[0].timeoutLengthMs", 7000);
  add("x-nv-video[0].framesWithInvalidRefThreshold", 0);
  let bitrate = Math.trunc(s.bitrateKbps * 0.8);
  if (s.remote && bitrate > 500) bitrate -= 500;
  bitrate = Math.min(bitrate, 100000);
  add("x-nv-video[0].initialBitrateKbps", bitrate);
  add("x-nv-video[0].initialPeakBitrateKbps", bitrate);
  add("x-nv-vqos[0].bw.minimumBitrateKbps", bitrate);
  add("x-nv-vqos[0].bw.maximumBitrateKbps", bitrate);
  add("x-ml-video.configuredBitrateKbps", s.bitrateKbps);
  add("x-nv-vqos[0].fec.enable", 1);
  add("x-nv-vqos[0].videoQualityScoreUpdateTime", 5000);
  add("x-nv-vqos[0].qosTrafficType", s.remote ? 0 : 5);
  add("x-nv-aqos.qosTrafficType", s.remote ? 0 : 4);
  const audioEncrypted = s.encryptAudio || (s.encryptionEnabled & EncryptionFeature.audio) !== 0;
  add("x-nv-general.featureFlags", NvFeature.base | NvFeature.remoteInputEncryption | (audioEncrypted ? NvFeature.audioEncryption : 0));
  add("x-nv-general.useReliableUdp", 13);
  add("x-nv-vqos[0].fec.minRequiredFecPackets", 2);
  add("x-nv-vqos[0].bllFec.enable", 0);
  add("x-nv-vqos[0].drc.enable", 0);
  add("x-nv-general.enableRecoveryMode", 0);
  add("x-nv-video[0].videoEncoderSlicesPerFrame", s.slicesPerFrame > 0 ? s.slicesPerFrame : 1);
  if (s.videoFormat & VIDEO_FORMAT_MASK_AV1) {
    add("x-nv-vqos[0].bitStreamFormat", 2);
  } else if (s.videoFormat & VIDEO_FORMAT_MASK_H265) {
    add("x-nv-clientSupportHevc", 1);
    add("x-nv-vqos[0].bitStreamFormat", 1);
  } else {
    add("x-nv-clientSupportHevc", 0);
    add("x-nv-vqos[0].bitStreamFormat", 0);
  }
  add("x-nv-video[0].dynamicRangeMode", s.videoFormat & VIDEO_FORMAT_MASK_10BIT ? 1 : 0);
  add("x-nv-video[0].maxNumReferenceFrames", s.decoderSupportsRfi ? 0 : 1);
  add("x-nv-video[0].clientRefreshRateX100", s.clientRefreshRateX100);
  add("x-nv-audio.surround.numChannels", s.audioChannels);
  add("x-nv-audio.surround.channelMask", s.audioChannelMask);
  add("x-nv-audio.surround.enable", s.audioChannels > 2 ? 1 : 0);
  add("x-nv-audio.surround.AudioQuality", s.highQualitySurround ? 1 : 0);
  add("x-nv-aqos.packetDuration", s.audioPacketDurationMs);
  add("x-nv-video[0].encoderCscMode", (s.colorSpace << 1) | s.colorRange);
  return attrs;
}

/** Formats the SDP text from its parts. */
export function buildAnnounceSdp(hostAddress: string, videoPort: number, attributes: AnnounceAttribute[]): string {
  const ipv6 = hostAddress.includes(":");
  const address = ipv6 && !hostAddress.startsWith("[") ? `[${hostAddress}]` : hostAddress;
  let sdp = `v=0\r\no=android 0 ${RTSP_CLIENT_VERSION} IN ${ipv6 ? "IPv6" : "IPv4"} ${address}\r\ns=NVIDIA Streaming Client\r\n`;
  for (const [name, value] of attributes) sdp += `a=${name}:${value} \r\n`;
  sdp += `t=0 0\r\nm=video ${videoPort}  \r\n`;
  return sdp;
}

/** Settings → SDP text, as the client sends it. */
export function announceSdpFromSettings(settings: AnnounceSettings): string {
  return buildAnnounceSdp(settings.hostAddress, settings.videoPort, announceAttributes(settings));
}

/**
 * Host side: the `a=` attributes of an ANNOUNCE body as Sunshine reads them (name up to the first
 * ':', value without its one trailing space). Later duplicates win.
 */
export function parseAnnounceSdp(sdp: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const raw of sdp.split(/\r?\n/)) {
    if (!raw.startsWith("a=")) continue;
    const colon = raw.indexOf(":");
    if (colon < 0) continue;
    let value = raw.slice(colon + 1);
    if (value.endsWith(" ")) value = value.slice(0, -1);
    attributes.set(raw.slice(2, colon), value);
  }
  return attributes;
}

/** The video port of the `m=video` line, if present. */
export function announcedVideoPort(sdp: string): number | undefined {
  const match = /^m=video (\d+)/m.exec(sdp);
  return match ? Number(match[1]) : undefined;
}
