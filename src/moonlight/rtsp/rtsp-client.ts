/**
 * Plane: RTSP (this folder). Owns TCP 48010 for the handshake that follows /launch: the message
 * format (rtsp.ts), the session description we announce (announce-sdp.ts) and this exchange. It
 * negotiates codecs and learns the video, audio and control ports for the planes below.
 *
 * The Sunshine-gen RTSP handshake, client side (reference §2.1, §2.4–§2.6): OPTIONS, DESCRIBE,
 * SETUP audio/video/control, ANNOUNCE (with the SDP of announce-sdp.ts), PLAY — one TCP
 * connection per request, the reply read until the host closes. Encrypted when `sessionUrl0`
 * uses `rtspenc://`.
 *
 * Pure pieces (request building, reply parsing, codec negotiation) are exported separately from
 * the TCP exchange so the simulated host and the tests can reuse them.
 */
import net from "node:net";
import { logger } from "../../core/log.ts";
import {
  EncryptionFeature,
  HIGH_AUDIO_BITRATE_THRESHOLD_KBPS,
  RTSP_CLIENT_VERSION,
  VideoFormat,
  VIDEO_FORMAT_MASK_AV1,
  VIDEO_FORMAT_MASK_H265,
  announceSdpFromSettings,
  effectivePacketSize,
  type AnnounceSettings,
} from "./announce-sdp.ts";
import {
  decryptRtspMessage,
  encryptRtspMessage,
  getHeader,
  parseRtspMessage,
  serializeRtspMessage,
  type RtspHeader,
  type RtspRequest,
  type RtspResponse,
} from "./rtsp.ts";

const log = logger("rtsp");

export const DEFAULT_RTSP_PORT = 48010;
export const DEFAULT_PORTS = { audio: 48000, video: 47998, control: 47999 } as const;
const IF_MODIFIED_SINCE = "Thu, 01 Jan 1970 00:00:00 GMT";
const CLIENT_TRANSPORT = "unicast;X-GS-ClientPort=50000-50001";
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class RtspHandshakeError extends Error {
  override name = "RtspHandshakeError";
  constructor(
    message: string,
    /** The RTSP status when the host answered with something other than 200. */
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

export interface RtspTarget {
  /** Request target for OPTIONS/DESCRIBE. */
  url: string;
  /** Value of the Host header. */
  host: string;
  /** TCP port of the RTSP server. */
  port: number;
  /** RTSP is encrypted (sessionUrl0 scheme rtspenc://). */
  encrypted: boolean;
}

/**
 * Target URL and Host header (§2.5): the real address only when the stream may get high-quality
 * audio; otherwise `rtsp://0.0.0.0:<port>` and `Host: 0.0.0.0`, which hosts read as "normal
 * quality".
 */
export function rtspTarget(options: {
  address: string;
  sessionUrl?: string;
  bitrateKbps: number;
  audioChannels: number;
  remote: boolean;
  slowOpusDecoder?: boolean;
}): RtspTarget {
  const sessionUrl = options.sessionUrl;
  const portText = sessionUrl?.slice(sessionUrl.lastIndexOf(":") + 1);
  const port = portText && /^\d+$/.test(portText) ? Number(portText) : DEFAULT_RTSP_PORT;
  const encrypted = sessionUrl?.startsWith("rtspenc://") ?? false;
  const eligible =
    options.bitrateKbps >= HIGH_AUDIO_BITRATE_THRESHOLD_KBPS &&
    !options.slowOpusDecoder &&
    (!options.remote || options.audioChannels <= 2);
  if (!eligible) return { url: `rtsp://0.0.0.0:${port}`, host: "0.0.0.0", port, encrypted };
  const urlHost = options.address.includes(":") ? `[${options.address}]` : options.address;
  const url = sessionUrl ?? `rtsp://${urlHost}:${port}`;
  const afterScheme = url.slice(url.indexOf("://") + 3);
  const host = afterScheme.slice(0, afterScheme.lastIndexOf(":"));
  return { url, host, port, encrypted };
}

/** Builds the numbered requests of §2.4 (CSeq from 1, common headers in order). */
export class RtspRequestBuilder {
  #cseq = 0;
  #target: RtspTarget;

  constructor(target: RtspTarget) {
    this.#target = target;
  }

  #request(method: string, target: string, extra: RtspHeader[], body = ""): RtspRequest {
    this.#cseq++;
    const headers: RtspHeader[] = [
      ["CSeq", String(this.#cseq)],
      ["X-GS-ClientVersion", String(RTSP_CLIENT_VERSION)],
      ["Host", this.#target.host],
      ...extra,
    ];
    return { kind: "request", method, target, headers, body };
  }

  options(): RtspRequest {
    return this.#request("OPTIONS", this.#target.url, []);
  }

  describe(): RtspRequest {
    return this.#request("DESCRIBE", this.#target.url, [
      ["Accept", "application/sdp"],
      ["If-Modified-Since", IF_MODIFIED_SINCE],
    ]);
  }

  setup(stream: "audio" | "video" | "control", session: string | undefined): RtspRequest {
    const target = stream === "control" ? "streamid=control/13/0" : `streamid=${stream}/0/0`;
    return this.#request("SETUP", target, [
      ...(session !== undefined ? ([["Session", session]] as RtspHeader[]) : []),
      ["Transport", CLIENT_TRANSPORT],
      ["If-Modified-Since", IF_MODIFIED_SINCE],
    ]);
  }

  announce(session: string, sdp: string): RtspRequest {
    return this.#request(
      "ANNOUNCE",
      "streamid=control/13/0",
      [
        ["Session", session],
        ["Content-type", "application/sdp"],
        ["Content-length", String(Buffer.byteLength(sdp, "latin1"))],
      ],
      sdp,
    );
  }

  play(session: string): RtspRequest {
    return this.#request("PLAY", "/", [["Session", session]]);
  }
}

/** What the client learns from the DESCRIBE body (§2.6); substrings, as the reference searches. */
export interface DescribeInfo {
  hevcSupported: boolean;
  av1Supported: boolean;
  refPicInvalidation: boolean;
  /** x-ss-general.featureFlags (LI_FF_*: 0x01 pen/touch, 0x02 controller touch/motion). */
  hostFeatureFlags: number;
  encryptionSupported: number;
  encryptionRequested: number;
  /** Every `a=fmtp:97 surround-params=` value in order. */
  surroundParams: string[];
}

/** strtoul(…, 0) on the text after `key`: decimal, 0x-hex or 0-octal, skipping leading blanks. */
function numberAfter(body: string, key: string): number | undefined {
  const at = body.indexOf(key);
  if (at < 0) return undefined;
  const match = /^\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(body.slice(at + key.length));
  if (!match) return 0;
  const text = match[1]!;
  if (/^0[xX]/.test(text)) return parseInt(text.slice(2), 16);
  if (text.length > 1 && text.startsWith("0")) return parseInt(text, 8);
  return parseInt(text, 10);
}

export function parseDescribeBody(body: string): DescribeInfo {
  const surroundParams: string[] = [];
  const re = /a=fmtp:97 surround-params=(\d+)/g;
  for (let m = re.exec(body); m; m = re.exec(body)) surroundParams.push(m[1]!);
  return {
    hevcSupported: body.includes("sprop-parameter-sets=AAAAAU"),
    av1Supported: body.includes("AV1/90000"),
    refPicInvalidation: body.includes("x-nv-video[0].refPicInvalidation"),
    hostFeatureFlags: numberAfter(body, "x-ss-general.featureFlags:") ?? 0,
    encryptionSupported: numberAfter(body, "x-ss-general.encryptionSupported:") ?? 0,
    encryptionRequested: numberAfter(body, "x-ss-general.encryptionRequested:") ?? 0,
    surroundParams,
  };
}

export interface SetupReply {
  /** Session id, the part before the first ';'. */
  session: string | undefined;
  serverPort: number | undefined;
  /** X-SS-Ping-Payload, only when exactly 16 characters. */
  pingPayload: string | undefined;
  /** X-SS-Connect-Data (strtoul base 0), undefined when absent. */
  connectData: number | undefined;
}

export function parseSetupReply(response: RtspResponse): SetupReply {
  const session = getHeader(response, "Session");
  const transport = getHeader(response, "Transport");
  const portMatch = transport ? /server_port=(\d+)/.exec(transport) : null;
  const ping = getHeader(response, "X-SS-Ping-Payload");
  const connect = getHeader(response, "X-SS-Connect-Data");
  return {
    session: session === undefined ? undefined : session.split(";")[0],
    serverPort: portMatch ? Number(portMatch[1]) : undefined,
    pingPayload: ping !== undefined && ping.length === 16 ? ping : undefined,
    connectData: connect === undefined ? undefined : (numberAfter(connect, "") ?? 0) >>> 0,
  };
}

/**
 * Codec choice after DESCRIBE (§2.7): AV1, then HEVC, then H.264, each at the best profile both
 * sides allow. `clientFormats` is the VIDEO_FORMAT_* mask the client (and host) support.
 */
export function negotiateVideoFormat(describe: DescribeInfo, clientFormats: number): number {
  const pick = (order: number[]) => order.find((f) => (clientFormats & f) !== 0);
  if (clientFormats & VIDEO_FORMAT_MASK_AV1 && describe.av1Supported) {
    return pick([VideoFormat.av1High10_444, VideoFormat.av1Main10, VideoFormat.av1High8_444]) ?? VideoFormat.av1Main8;
  }
  if (clientFormats & VIDEO_FORMAT_MASK_H265 && describe.hevcSupported) {
    return pick([VideoFormat.h265Rext10_444, VideoFormat.h265Main10, VideoFormat.h265Rext8_444]) ?? VideoFormat.h265;
  }
  return clientFormats & VideoFormat.h264High8_444 ? VideoFormat.h264High8_444 : VideoFormat.h264;
}

/** Windows speaker mask for a channel count (stereo 0x3, 5.1 0x3F, 7.1 0x63F). */
export function channelMaskFor(channels: number): number {
  return channels === 8 ? 0x63f : channels === 6 ? 0x3f : 0x3;
}

export interface RtspStreamSettings {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** Requested video packet size; moonlight-qt's default is 1392. */
  packetSize: number;
  audioChannels: 2 | 6 | 8;
  /** VIDEO_FORMAT_* the client can decode (intersect with the host's ServerCodecModeSupport first). */
  videoFormats: number;
  remote?: boolean;
  encryptAudio?: boolean;
  encryptVideo?: boolean;
  decoderSupportsRfi?: boolean;
  slowOpusDecoder?: boolean;
  clientRefreshRateX100?: number;
  slicesPerFrame?: number;
  colorSpace?: number;
  colorRange?: number;
}

export interface RtspHandshakeOptions {
  /** Host address as reached (IPv4 or IPv6 literal). */
  address: string;
  /** `sessionUrl0` from /launch, if any. */
  sessionUrl?: string;
  /** rikey: needed only for rtspenc:// sessions. */
  key?: Uint8Array;
  settings: RtspStreamSettings;
  /** Called right after the audio SETUP reply (Moonlight starts its audio pings here). */
  onAudioSetup?: (reply: SetupReply & { port: number }) => void;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

export interface RtspHandshakeResult {
  session: string;
  audio: SetupReply & { port: number };
  video: SetupReply & { port: number };
  control: SetupReply & { port: number };
  describe: DescribeInfo;
  videoFormat: number;
  /** x-ss-general.encryptionEnabled we announced. */
  encryptionEnabled: number;
  /** x-nv-video[0].packetSize we announced (−32 with video encryption, 1024/1184 when remote): the host's shard payload size. */
  videoPacketSize: number;
  /** Control stream IV scheme implied by encryptionEnabled. */
  controlIvScheme: "v2" | "legacy";
  audioEncrypted: boolean;
  highQualitySurround: boolean;
  sdp: string;
  /** Every request sent, in order (diagnostics, tests). */
  requests: RtspRequest[];
}

/** Derives the ANNOUNCE settings from the stream settings and what DESCRIBE/SETUP told us. */
export function announceSettingsFor(
  address: string,
  settings: RtspStreamSettings,
  describe: DescribeInfo,
  videoPort: number,
): AnnounceSettings & { videoFormat: number } {
  let encryptionEnabled = 0;
  if (describe.encryptionSupported & EncryptionFeature.controlV2) encryptionEnabled |= EncryptionFeature.controlV2;
  const wants = (bit: number, optIn: boolean | undefined) =>
    ((describe.encryptionSupported & bit) !== 0 && optIn) || (describe.encryptionRequested & bit) !== 0;
  if (wants(EncryptionFeature.video, settings.encryptVideo)) encryptionEnabled |= EncryptionFeature.video;
  if (wants(EncryptionFeature.audio, settings.encryptAudio ?? true)) encryptionEnabled |= EncryptionFeature.audio;
  const highQualitySurround =
    settings.bitrateKbps >= HIGH_AUDIO_BITRATE_THRESHOLD_KBPS &&
    settings.audioChannels > 2 &&
    describe.surroundParams.filter((p) => p.startsWith(String(settings.audioChannels))).length >= 2 &&
    !settings.slowOpusDecoder;
  return {
    hostAddress: address,
    videoPort,
    width: settings.width,
    height: settings.height,
    fps: settings.fps,
    packetSize: settings.packetSize,
    bitrateKbps: settings.bitrateKbps,
    remote: settings.remote ?? false,
    videoFormat: negotiateVideoFormat(describe, settings.videoFormats),
    audioChannels: settings.audioChannels,
    audioChannelMask: channelMaskFor(settings.audioChannels),
    highQualitySurround,
    audioPacketDurationMs: settings.slowOpusDecoder ? 10 : 5,
    encryptionEnabled,
    encryptAudio: settings.encryptAudio ?? true,
    decoderSupportsRfi: settings.decoderSupportsRfi ?? false,
    clientRefreshRateX100: settings.clientRefreshRateX100 ?? 0,
    slicesPerFrame: settings.slicesPerFrame ?? 1,
    colorSpace: settings.colorSpace ?? 0,
    colorRange: settings.colorRange ?? 0,
  };
}

/**
 * Sends one request bytes over a fresh TCP connection and returns everything the host writes
 * before closing. Retries ECONNREFUSED every 500 ms until the connect timeout.
 */
export async function exchangeOverTcp(
  address: string,
  port: number,
  request: Uint8Array,
  options: { connectTimeoutMs?: number; responseTimeoutMs?: number } = {},
): Promise<Uint8Array> {
  const connectDeadline = Date.now() + (options.connectTimeoutMs ?? 10_000);
  for (;;) {
    try {
      return await exchangeOnce(address, port, request, connectDeadline - Date.now(), options.responseTimeoutMs ?? 15_000);
    } catch (error) {
      const refused = (error as NodeJS.ErrnoException).code === "ECONNREFUSED";
      if (!refused || Date.now() + 500 > connectDeadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function exchangeOnce(address: string, port: number, request: Uint8Array, connectMs: number, responseMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(new Uint8Array(Buffer.concat(chunks)));
    };
    let timer = setTimeout(() => finish(new RtspHandshakeError(`RTSP connect to ${address}:${port} timed out`)), Math.max(1, connectMs));
    socket.once("connect", () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new RtspHandshakeError(`no RTSP response from ${address}:${port} within ${responseMs} ms`)), responseMs);
      socket.write(request);
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received > MAX_RESPONSE_BYTES) return finish(new RtspHandshakeError("RTSP response larger than 1 MiB"));
      chunks.push(chunk);
    });
    socket.once("end", () => finish(undefined));
    socket.once("error", (error) => finish(error));
  });
}

/** Runs the whole §2.4 sequence against a Sunshine-gen host. */
export async function performRtspHandshake(options: RtspHandshakeOptions): Promise<RtspHandshakeResult> {
  const { settings } = options;
  const target = rtspTarget({
    address: options.address,
    ...(options.sessionUrl !== undefined ? { sessionUrl: options.sessionUrl } : {}),
    bitrateKbps: settings.bitrateKbps,
    audioChannels: settings.audioChannels,
    remote: settings.remote ?? false,
    slowOpusDecoder: settings.slowOpusDecoder ?? false,
  });
  if (target.encrypted && options.key === undefined) throw new RtspHandshakeError("rtspenc:// session needs the rikey");
  const builder = new RtspRequestBuilder(target);
  const requests: RtspRequest[] = [];
  let encryptionSeq = 0;

  const exchange = async (request: RtspRequest): Promise<RtspResponse> => {
    requests.push(request);
    let bytes = serializeRtspMessage(request);
    if (target.encrypted) bytes = encryptRtspMessage(options.key!, ++encryptionSeq, "client", bytes);
    let reply = await exchangeOverTcp(options.address, target.port, bytes, options);
    if (target.encrypted) reply = decryptRtspMessage(options.key!, reply, "host").plaintext;
    const response = parseRtspMessage(reply);
    if (response.kind !== "response") throw new RtspHandshakeError(`${request.method}: host sent a request, not a response`);
    if (response.statusCode !== 200) {
      throw new RtspHandshakeError(`${request.method} ${request.target}: ${response.statusCode} ${response.reasonPhrase}`, response.statusCode);
    }
    return response;
  };

  await exchange(builder.options());
  const describeReply = await exchange(builder.describe());
  if (describeReply.body.length === 0) throw new RtspHandshakeError("DESCRIBE reply has no content");
  const describe = parseDescribeBody(describeReply.body);
  if (settings.audioChannels === 8 && !describe.surroundParams.some((p) => p.startsWith("8"))) {
    throw new RtspHandshakeError("host offers no 7.1 audio layout");
  }

  const audioReply = parseSetupReply(await exchange(builder.setup("audio", undefined)));
  if (audioReply.session === undefined) throw new RtspHandshakeError("audio SETUP reply has no Session");
  const session = audioReply.session;
  const audio = { ...audioReply, port: audioReply.serverPort ?? DEFAULT_PORTS.audio };
  options.onAudioSetup?.(audio);
  const videoReply = parseSetupReply(await exchange(builder.setup("video", session)));
  const video = { ...videoReply, port: videoReply.serverPort ?? DEFAULT_PORTS.video };
  const controlReply = parseSetupReply(await exchange(builder.setup("control", session)));
  const control = { ...controlReply, port: controlReply.serverPort ?? DEFAULT_PORTS.control };

  const announce = announceSettingsFor(options.address, settings, describe, video.port);
  const sdp = announceSdpFromSettings(announce);
  await exchange(builder.announce(session, sdp));
  await exchange(builder.play(session));
  log.debug(`RTSP handshake done: audio ${audio.port}, video ${video.port}, control ${control.port}`);
  return {
    session,
    audio,
    video,
    control,
    describe,
    videoFormat: announce.videoFormat,
    encryptionEnabled: announce.encryptionEnabled,
    videoPacketSize: effectivePacketSize(announce),
    controlIvScheme: announce.encryptionEnabled & EncryptionFeature.controlV2 ? "v2" : "legacy",
    audioEncrypted: announce.encryptAudio || (announce.encryptionEnabled & EncryptionFeature.audio) !== 0,
    highQualitySurround: announce.highQualitySurround,
    sdp,
    requests,
  };
}
