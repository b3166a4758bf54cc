/**
 * The baseline the fan-out is measured against: a server-side viewer that owns one
 * node-datachannel `H264RtpPacketizer` (chained with RtcpSrReporter and RtcpNackResponder), and is
 * handed the Annex-B frame with `track.sendMessageBinary(frame)`, so every viewer scans and
 * packetizes the frame again on the JS thread. Same offer as WebRtcViewer (video + Opus tracks, two
 * input data channels), same keyframe gating (no delta frame before the viewer's first keyframe),
 * same `keyframeRequest` events (track open, PLI/FIR).
 */
import { EventEmitter } from "node:events";
import nodeDataChannel, { type DataChannel, type PeerConnection, type Track } from "node-datachannel";
import { parseRtcpFeedback } from "../../../src/peer/rtcp.ts";
import type { ServerSignal, StreamInfo, ViewerSignal } from "../../../src/peer/signaling.ts";
import { OPUS_PAYLOAD_TYPE, VIDEO_PAYLOAD_TYPE } from "../../../src/peer/webrtc-viewer.ts";

const CNAME = "mlstream";
/** Same payload budget as VideoRtpPacketizer's default. */
const MAX_FRAGMENT_BYTES = 1200;

export interface BaselineViewerEvents {
  keyframeRequest: [reason: "pli" | "track-open"];
}

export class BaselineViewer extends EventEmitter<BaselineViewerEvents> {
  readonly id: string;
  readonly stats = { framesSent: 0, keyframesSent: 0, framesSkipped: 0, sendFailures: 0, plis: 0 };
  readonly #pc: PeerConnection;
  readonly #signal: (m: ServerSignal) => void;
  readonly #stream: StreamInfo;
  readonly #videoSsrc: number;
  readonly #audioSsrc: number;
  #video: Track | undefined;
  #config: InstanceType<typeof nodeDataChannel.RtpPacketizationConfig> | undefined;
  #channels: DataChannel[] = [];
  #open = false;
  #waitingForKeyframe = true;
  #closed = false;

  constructor(options: { id: string; stream: StreamInfo; videoSsrc: number; audioSsrc: number; signal: (m: ServerSignal) => void }) {
    super();
    this.id = options.id;
    this.#signal = options.signal;
    this.#stream = options.stream;
    this.#videoSsrc = options.videoSsrc;
    this.#audioSsrc = options.audioSsrc;
    this.#pc = new nodeDataChannel.PeerConnection(`baseline-${options.id}`, { iceServers: [], disableAutoNegotiation: true, bindAddress: "127.0.0.1" });
  }

  get waitingForKeyframe(): boolean {
    return this.#waitingForKeyframe;
  }

  get state(): string {
    return this.#closed ? "closed" : this.#pc.state();
  }

  start(): void {
    const pc = this.#pc;
    pc.onLocalDescription((sdp, type) => {
      if (type === "offer") this.#signal({ type: "offer", sdp });
    });
    pc.onLocalCandidate((candidate, mid) => this.#signal({ type: "candidate", candidate, mid }));
    const pt = VIDEO_PAYLOAD_TYPE.h264;
    const video = new nodeDataChannel.Video("video", "SendOnly");
    video.addH264Codec(pt, `profile-level-id=${this.#stream.profileLevelId};packetization-mode=1;level-asymmetry-allowed=1`);
    video.parseSdpLine(`a=rtcp-fb:${pt} ccm fir`);
    video.addSSRC(this.#videoSsrc, CNAME, "mlstream", "video");
    this.#video = pc.addTrack(video);
    const config = new nodeDataChannel.RtpPacketizationConfig(this.#videoSsrc, CNAME, pt, 90_000);
    const packetizer = new nodeDataChannel.H264RtpPacketizer("StartSequence", config, MAX_FRAGMENT_BYTES);
    packetizer.addToChain(new nodeDataChannel.RtcpSrReporter(config));
    packetizer.addToChain(new nodeDataChannel.RtcpNackResponder(512));
    this.#video.setMediaHandler(packetizer);
    this.#config = config;
    this.#video.onOpen(() => {
      this.#open = true;
      this.emit("keyframeRequest", "track-open");
    });
    this.#video.onMessage((message) => {
      if (parseRtcpFeedback(message).keyframeRequested) {
        this.stats.plis++;
        this.emit("keyframeRequest", "pli");
      }
    });

    const audio = new nodeDataChannel.Audio("audio", "SendOnly");
    audio.addOpusCodec(OPUS_PAYLOAD_TYPE);
    audio.addSSRC(this.#audioSsrc, CNAME, "mlstream", "audio");
    pc.addTrack(audio);
    this.#channels.push(pc.createDataChannel("input"));
    this.#channels.push(pc.createDataChannel("input-unreliable", { unordered: true, maxRetransmits: 0 }));
    pc.setLocalDescription();
    this.#signal({ type: "stream", info: this.#stream });
  }

  handleSignal(message: ViewerSignal): void {
    if (this.#closed) return;
    if (message.type === "answer") this.#pc.setRemoteDescription(message.sdp, "answer");
    else if (message.type === "candidate" && message.candidate) this.#pc.addRemoteCandidate(message.candidate, message.mid);
  }

  /** Packetizes and sends one Annex-B access unit with this viewer's own packetizer. */
  writeVideo(accessUnit: Uint8Array, timestamp: number, keyframe: boolean): boolean {
    const track = this.#video;
    if (!track || !this.#open || this.#closed) return false;
    if (this.#waitingForKeyframe) {
      if (!keyframe) {
        this.stats.framesSkipped++;
        return false;
      }
      this.#waitingForKeyframe = false;
    }
    this.#config!.timestamp = timestamp;
    if (!track.sendMessageBinary(accessUnit as Buffer)) this.stats.sendFailures++;
    this.stats.framesSent++;
    if (keyframe) this.stats.keyframesSent++;
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const channel of this.#channels) {
      try {
        channel.close();
      } catch {
        // closed by the peer
      }
    }
    try {
      this.#pc.close();
    } catch {
      // closed already
    }
  }
}
