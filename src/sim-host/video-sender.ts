/**
 * The simulated host's video stream for one session (§5): waits for the client's first ping on the
 * video port, then starts the media source and turns every access unit into datagrams with the
 * shared VideoPacketizer (Sunshine's FEC block cutting; frame index from 1, RTP sequence from 0),
 * sent to the ping's source address. Later pings move the destination (NAT rebinding).
 */
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import type { VideoCipher } from "../moonlight/video/video-crypto.ts";
import { FRAME_TYPE_IDR, FRAME_TYPE_P } from "../moonlight/video/video-packet.ts";
import { VideoFrameTooLargeError, VideoPacketizer } from "../moonlight/video/video-packetizer.ts";
import type { SimIdrReason, SimVideoFrame, VideoSource } from "./media-source.ts";
import type { SimUdpPort, UdpEndpoint } from "./udp-port.ts";

const log = logger("sim-video");

export interface SimVideoStats {
  framesSent: number;
  /** Keyframes sent, by reason. */
  idrsSent: Record<SimIdrReason, number>;
  /** IDR requests received (control 0x0302 after Start A, and RFI). */
  idrRequests: number;
  datagramsSent: number;
  bytesSent: number;
  /** Access units the packetizer could not fit (too many shards for one FEC block). */
  oversizeFrames: number;
}

export function createVideoStats(): SimVideoStats {
  return { framesSent: 0, idrsSent: { start: 0, request: 0, rfi: 0, loop: 0 }, idrRequests: 0, datagramsSent: 0, bytesSent: 0, oversizeFrames: 0 };
}

export interface VideoSenderOptions {
  port: SimUdpPort;
  source: VideoSource;
  /** From the ANNOUNCE (already −32 with video encryption). */
  packetSize: number;
  /** Host FEC percentage; Sunshine's default is 20. */
  fecPercentage: number;
  minRequiredFecPackets: number;
  /** 1 like Sunshine; 0 like Wolf. */
  firstFrameIndex: number;
  cipher?: VideoCipher;
  /** Host-wide counters this sender adds to. */
  stats: SimVideoStats;
}

export interface SentVideoFrame {
  frameIndex: number;
  isIdr: boolean;
  idrReason: SimIdrReason | undefined;
  loopIndex: number;
  datagrams: number;
  /** The access unit that was sent. */
  data: Uint8Array;
}

export interface VideoSenderEvents {
  /** First ping arrived; streaming to `destination`. */
  started: [destination: UdpEndpoint];
  frame: [frame: SentVideoFrame];
}

export class VideoSender extends EventEmitter<VideoSenderEvents> {
  readonly #port: SimUdpPort;
  readonly #source: VideoSource;
  readonly #packetizer: VideoPacketizer;
  readonly #stats: SimVideoStats;
  #destination: UdpEndpoint | undefined;
  #closed = false;

  constructor(options: VideoSenderOptions) {
    super();
    this.#port = options.port;
    this.#source = options.source;
    this.#stats = options.stats;
    this.#packetizer = new VideoPacketizer({
      packetSize: options.packetSize,
      fecPercentage: options.fecPercentage,
      minRequiredFecPackets: options.minRequiredFecPackets,
      firstFrameIndex: options.firstFrameIndex,
      ...(options.cipher ? { cipher: options.cipher } : {}),
    });
    this.#source.on("frame", (frame) => this.#send(frame));
  }

  /** Where video goes, once a ping was heard. */
  get destination(): UdpEndpoint | undefined {
    return this.#destination;
  }

  get started(): boolean {
    return this.#destination !== undefined;
  }

  /** A ping that belongs to this session. */
  handlePing(from: UdpEndpoint): void {
    if (this.#closed) return;
    const first = this.#destination === undefined;
    this.#destination = { address: from.address, port: from.port };
    if (first) {
      log.debug(`video: first ping from ${from.address}:${from.port}, streaming`);
      this.emit("started", this.#destination);
      this.#source.start();
    }
  }

  requestIdr(reason: SimIdrReason): void {
    if (this.#closed) return;
    this.#stats.idrRequests++;
    this.#source.requestIdr(reason);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.close();
    this.#source.removeAllListeners("frame");
  }

  #send(frame: SimVideoFrame): void {
    const destination = this.#destination;
    if (this.#closed || destination === undefined) return;
    let packetized;
    try {
      packetized = this.#packetizer.packetize(frame.data, {
        frameType: frame.isIdr ? FRAME_TYPE_IDR : FRAME_TYPE_P,
        timestamp: frame.timestamp,
      });
    } catch (error) {
      if (!(error instanceof VideoFrameTooLargeError)) throw error;
      this.#stats.oversizeFrames++;
      log.warn(`video: frame of ${frame.data.length} bytes skipped (${error.message})`);
      // The decoder on the other side now misses a reference: start over from a keyframe.
      this.#source.requestIdr("request");
      return;
    }
    for (const datagram of packetized.datagrams) {
      this.#port.send(datagram, destination);
      this.#stats.bytesSent += datagram.length;
    }
    this.#stats.framesSent++;
    this.#stats.datagramsSent += packetized.datagrams.length;
    if (frame.isIdr && frame.idrReason) this.#stats.idrsSent[frame.idrReason]++;
    if (this.listenerCount("frame") === 0) return;
    try {
      this.emit("frame", {
        frameIndex: packetized.frameIndex,
        isIdr: frame.isIdr,
        idrReason: frame.idrReason,
        loopIndex: frame.loopIndex,
        datagrams: packetized.datagrams.length,
        data: frame.data,
      });
    } catch (error) {
      log.error("video frame listener threw", error);
    }
  }
}
