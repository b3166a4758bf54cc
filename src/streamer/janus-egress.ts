/**
 * Publishes a streamer's media into a Janus streaming mountpoint, for audiences one machine cannot
 * send to (docs/scale.md). To the fan-out it is one more sink: the RTP packets packetized once for
 * every viewer go, with this sink's own sequence numbers, to the mountpoint's RTP ports over plain
 * UDP; Janus serves them to its WebRTC viewers (and to further Janus instances).
 *
 * - Mountpoint: created when the stream's codec is known (`type: rtp`, video with an RTCP port, Opus
 *   audio, `videobufferkf` so a Janus viewer starts from the last keyframe), destroyed on close().
 * - Keyframes: Janus asks for one (RTCP PLI/FIR on the video RTCP port) when its viewers need it;
 *   it sends its feedback to where our RTCP comes from, so a sender report goes out every second
 *   from the socket that listens for it. Requests go to our keyframe requester (coalesced).
 * - Health: the session is kept alive and the mountpoint checked every 2 s; a Janus that restarted
 *   (or lost the mountpoint) is noticed and the mountpoint made again, with fresh ports.
 */
import { logger } from "../core/log.ts";
import type { VideoCodec } from "../moonlight/video/nal.ts";
import { JanusStreamingHandle } from "../peer/janus-api.ts";
import { parseRtcpFeedback, serializeSenderReport } from "../peer/rtcp.ts";
import type { RtpFrame } from "../peer/rtp-packetizer.ts";
import { OPUS_PAYLOAD_TYPE, VIDEO_PAYLOAD_TYPE } from "../peer/webrtc-viewer.ts";
import type { MediaSink } from "./media-fanout.ts";

const log = logger("janus");

const CHECK_INTERVAL_MS = 2000;
const SENDER_REPORT_INTERVAL_MS = 1000;
/** Janus ends a session after 60 s without a word (its default session_timeout). */
const KEEPALIVE_INTERVAL_MS = 20_000;
const JANUS_CODEC: Record<VideoCodec, string> = { h264: "h264", hevc: "h265", av1: "av1" };
/**
 * Janus offers the mountpoint's fmtp to each of its viewers as is. Chromium's receive list names no
 * High profile (only 42001f, 42e01f, 4d001f, f4001f) and rejects the video of an offer with one,
 * while its decoder takes the hosts' High streams: the mountpoint says constrained baseline, at
 * level 5.2 so that no stream is above it (checked: Debian's Chromium decodes the sim's High 1280x720
 * at 60 fps through Janus this way, and refuses the m-line with 640034).
 */
const JANUS_H264_FMTP = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e034";

export type JanusEgressState = "creating" | "up" | "down" | "closed";

export interface JanusEgressOptions {
  /** Janus's HTTP API, e.g. http://127.0.0.1:8088/janus. */
  url: string;
  /** Names the mountpoint (`mlstream-<name>`). */
  name: string;
  codec: VideoCodec;
  videoSsrc: number;
  audioSsrc: number;
  onKeyframeRequest: () => void;
}

export interface JanusEgressHealth {
  url: string;
  mountpoint: number | null;
  state: JanusEgressState;
  error: string | null;
  /** Viewers Janus reports on the mountpoint. */
  viewers: number;
  /** Milliseconds since Janus last received video for the mountpoint (-1 unknown). */
  video_age_ms: number;
  packets_sent: number;
  keyframe_requests: number;
  /** Times the mountpoint was made again (Janus restarted or lost it). */
  recreated: number;
}

interface Ports {
  host: string;
  video: number;
  videoRtcp: number;
  audio: number;
}

type UdpSocket = import("bun").udp.Socket<"buffer">;

export class JanusEgress implements MediaSink {
  readonly #options: JanusEgressOptions;
  readonly #health: JanusEgressHealth;
  #handle: JanusStreamingHandle | undefined;
  #ports: Ports | undefined;
  #media: UdpSocket | undefined;
  #rtcp: UdpSocket | undefined;
  #waitingForKeyframe = true;
  #videoSequence = Math.floor(Math.random() * 0x10000);
  #audioSequence = Math.floor(Math.random() * 0x10000);
  #lastVideoTimestamp = 0;
  #videoPackets = 0;
  #videoOctets = 0;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #reportTimer: ReturnType<typeof setInterval> | undefined;
  #lastKeepaliveAt = 0;
  #checking = false;
  #everUp = false;

  constructor(options: JanusEgressOptions) {
    this.#options = options;
    this.#health = {
      url: options.url,
      mountpoint: null,
      state: "creating",
      error: null,
      viewers: 0,
      video_age_ms: -1,
      packets_sent: 0,
      keyframe_requests: 0,
      recreated: 0,
    };
  }

  get health(): Readonly<JanusEgressHealth> {
    return this.#health;
  }

  get waitingForKeyframe(): boolean {
    return this.#health.state === "up" && this.#waitingForKeyframe;
  }

  /** Opens the sockets and makes the mountpoint; keeps trying (and re-making it) until close(). */
  async start(): Promise<void> {
    this.#media = await Bun.udpSocket({});
    this.#rtcp = await Bun.udpSocket({
      socket: {
        data: (_socket, data) => {
          if (!parseRtcpFeedback(data).keyframeRequested) return;
          this.#health.keyframe_requests++;
          this.#options.onKeyframeRequest();
        },
      },
    });
    this.#reportTimer = setInterval(() => this.#sendReport(), SENDER_REPORT_INTERVAL_MS);
    this.#checkTimer = setInterval(() => void this.#check(), CHECK_INTERVAL_MS);
    await this.#check();
  }

  writeVideo(frame: RtpFrame): boolean {
    const ports = this.#ports;
    const socket = this.#media;
    if (this.#health.state !== "up" || !ports || !socket) return false;
    if (this.#waitingForKeyframe) {
      if (!frame.keyframe) return false;
      this.#waitingForKeyframe = false;
    }
    const packets = frame.packets;
    let seq = this.#videoSequence;
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i]!;
      // The packets are shared with every viewer: our sequence number goes in, the send copies.
      packet[2] = seq >> 8;
      packet[3] = seq & 0xff;
      seq = (seq + 1) & 0xffff;
      socket.send(packet, ports.video, ports.host);
    }
    this.#videoSequence = seq;
    this.#lastVideoTimestamp = frame.timestamp;
    this.#videoPackets += packets.length;
    this.#videoOctets += frame.bytes;
    this.#health.packets_sent += packets.length;
    return true;
  }

  writeAudio(packet: Uint8Array, _timestamp: number): void {
    const ports = this.#ports;
    const socket = this.#media;
    if (this.#health.state !== "up" || !ports || !socket) return;
    packet[2] = this.#audioSequence >> 8;
    packet[3] = this.#audioSequence & 0xff;
    this.#audioSequence = (this.#audioSequence + 1) & 0xffff;
    socket.send(packet, ports.audio, ports.host);
    this.#health.packets_sent++;
  }

  /** Removes the mountpoint and closes the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.#health.state === "closed") return;
    this.#health.state = "closed";
    if (this.#checkTimer) clearInterval(this.#checkTimer);
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle) {
      if (this.#health.mountpoint !== null) await handle.request({ request: "destroy", id: this.#health.mountpoint }).catch(() => undefined);
      await handle.destroy();
    }
    this.#media?.close();
    this.#rtcp?.close();
  }

  /** Keeps the session alive and the mountpoint there; makes it (again) when it is not. */
  async #check(): Promise<void> {
    if (this.#checking || this.#health.state === "closed") return;
    this.#checking = true;
    try {
      if (!this.#handle || this.#health.state !== "up") await this.#create();
      else await this.#inspect();
    } catch (error) {
      this.#down((error as Error).message);
    } finally {
      this.#checking = false;
    }
  }

  async #create(): Promise<void> {
    await this.#handle?.destroy();
    this.#handle = undefined;
    const { url, name, codec } = this.#options;
    const handle = await JanusStreamingHandle.open(url);
    if (this.#health.state === "closed") {
      await handle.destroy();
      return;
    }
    const video: Record<string, unknown> = {
      type: "video",
      mid: "v",
      label: "video",
      port: 0,
      rtcpport: 0,
      pt: VIDEO_PAYLOAD_TYPE[codec as "h264" | "hevc"] ?? 96,
      codec: JANUS_CODEC[codec],
      ...(codec === "h264" ? { fmtp: JANUS_H264_FMTP } : {}),
      videobufferkf: true,
    };
    const audio = { type: "audio", mid: "a", label: "audio", port: 0, pt: OPUS_PAYLOAD_TYPE, codec: "opus" };
    // One id per streamer: a mountpoint left by a serve that was killed (or a Janus that outlived
    // us) is replaced, not left beside the new one.
    const id = mountpointIdOf(name);
    await handle.request({ request: "destroy", id }).catch(() => undefined);
    const created = await handle.request({ request: "create", type: "rtp", id, name: `mlstream-${name}`, description: `mlstream streamer ${name}`, media: [video, audio] });
    const stream = created.stream as { id: number; ports?: { type: string; port: number; rtcp_port?: number }[] } | undefined;
    const videoPort = stream?.ports?.find((p) => p.type === "video");
    const audioPort = stream?.ports?.find((p) => p.type === "audio");
    if (!stream || !videoPort || !audioPort || !videoPort.rtcp_port) {
      await handle.destroy();
      throw new Error("Janus created the mountpoint without telling its ports");
    }
    this.#handle = handle;
    this.#ports = { host: new URL(url).hostname.replace(/^\[|\]$/g, ""), video: videoPort.port, videoRtcp: videoPort.rtcp_port, audio: audioPort.port };
    if (this.#everUp) this.#health.recreated++;
    this.#everUp = true;
    this.#health.mountpoint = stream.id;
    this.#health.state = "up";
    this.#health.error = null;
    this.#lastKeepaliveAt = Date.now();
    this.#waitingForKeyframe = true;
    log.info(`${name}: publishing into Janus mountpoint ${stream.id} (${url}, video port ${videoPort.port})`);
    // Our address for Janus's keyframe requests, and a keyframe to start its viewers from.
    this.#sendReport();
    this.#options.onKeyframeRequest();
  }

  async #inspect(): Promise<void> {
    const handle = this.#handle!;
    if (Date.now() - this.#lastKeepaliveAt >= KEEPALIVE_INTERVAL_MS) {
      await handle.keepalive();
      this.#lastKeepaliveAt = Date.now();
    }
    const data = await handle.request({ request: "info", id: this.#health.mountpoint });
    const info = data.info as { viewers?: number; media?: { type: string; age_ms?: number }[] } | undefined;
    this.#health.viewers = info?.viewers ?? 0;
    this.#health.video_age_ms = info?.media?.find((m) => m.type === "video")?.age_ms ?? -1;
  }

  #down(why: string): void {
    if (this.#health.state === "closed") return;
    if (this.#health.state !== "down" || this.#health.error !== why) log.warn(`${this.#options.name}: Janus mountpoint down: ${why}; retrying every ${CHECK_INTERVAL_MS / 1000} s`);
    this.#health.state = "down";
    this.#health.error = why;
    this.#health.viewers = 0;
  }

  #sendReport(): void {
    const ports = this.#ports;
    if (!ports || !this.#rtcp || this.#health.state !== "up") return;
    this.#rtcp.send(serializeSenderReport(this.#options.videoSsrc, Date.now(), this.#lastVideoTimestamp, this.#videoPackets, this.#videoOctets), ports.videoRtcp, ports.host);
  }
}

/** A stable mountpoint id for a streamer (FNV-1a of its name, 31 bits, never 0). */
function mountpointIdOf(name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(`mlstream-${name}`)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return (hash & 0x7fffffff) || 1;
}
