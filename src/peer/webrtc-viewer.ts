/**
 * One browser (or terminal) viewer over WebRTC, server side. The server makes the offer: a video
 * track for the stream's codec (H.264 profile-level-id from the stream's SPS), an Opus track, and
 * two data channels for input — `input` (reliable, ordered: keys, buttons, text, controller
 * arrival) and `input-unreliable` (unordered, no retransmits: absolute mouse, controller state).
 *
 * Media is packetized once per frame by the streamer (rtp-packetizer.ts); every viewer writes the
 * same packets, patching only the 2-byte sequence number so that each viewer sees a contiguous
 * sequence (its NACKs then refer to packets its own NACK responder holds). Writes are synchronous
 * and never queue: a viewer joins the stream at a keyframe and never sees a delta frame before it.
 *
 * Each track has libdatachannel's RTCP sender-report generator. NACKs are answered from a ring of
 * the frames this viewer was sent — references to the shared packets, not copies (a per-viewer
 * NACK responder would copy every packet of every viewer: ~10 % of the sender's CPU, and 60 MB
 * at 80 viewers). PLI/FIR arriving from the viewer become `keyframeRequest` events.
 *
 * Patching the shared packets' sequence numbers in place is sound only because
 * `sendMessageBinary` copies synchronously; a pacing handler in the chain would break it.
 */
import { EventEmitter } from "node:events";
import nodeDataChannel, { type DataChannel, type PeerConnection, type RtcConfig, type Track } from "node-datachannel";
import { logger } from "../core/log.ts";
import { InputPacketFormatError, parseInputPacket, type InputPacket } from "../moonlight/input/input.ts";
import { closeQuietly } from "./close-quietly.ts";
import type { RtpFrame } from "./rtp-packetizer.ts";
import { parseRtcpFeedback } from "./rtcp.ts";
import type { ServerSignal, StreamInfo, ViewerSignal } from "./signaling.ts";
import type { ViewerChannels, ViewerChannelsFactory } from "./viewer-channels.ts";

const log = logger("webrtc");

export const VIDEO_PAYLOAD_TYPE = { h264: 102, hevc: 104, av1: 45 } as const;
export const OPUS_PAYLOAD_TYPE = 111;
export const PLAYOUT_DELAY_EXTENSION_ID = 6;
const PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
const CNAME = "mlstream";
/** Frames kept for retransmission: about one second at 60 fps. */
const RETRANSMIT_FRAMES = 64;

export interface IceSettings {
  /** "stun:host:port", "turn:user:password@host:port" … */
  iceServers?: string[];
  portRangeBegin?: number;
  portRangeEnd?: number;
  /** Local address to gather candidates on (tests bind to 127.0.0.1). */
  bindAddress?: string;
  /** NAT 1:1: also advertise each host candidate with this public address. */
  publicIp?: string;
  /** "relay": only TURN relay candidates (webrtc.ice_transport_policy). */
  transportPolicy?: "all" | "relay";
}

/** A copy of a host candidate with its address replaced (for 1:1 NAT), or undefined. */
export function withPublicAddress(candidate: string, publicIp: string): string | undefined {
  const tokens = candidate.split(" ");
  if (tokens.length < 8 || tokens[6] !== "typ" || tokens[7] !== "host" || tokens[4] === publicIp) return undefined;
  tokens[4] = publicIp;
  return tokens.join(" ");
}

export interface WebRtcViewerOptions {
  id: string;
  stream: StreamInfo;
  /** Shared by all viewers of a stream: the packets carry them. */
  videoSsrc: number;
  audioSsrc: number;
  ice?: IceSettings;
  viewOnly?: boolean;
  /** Sends a message to this viewer (over its signaling channel). */
  signal: (message: ServerSignal) => void;
  /** Understands the channels a viewer opens itself (viewer-channels.ts); without it they are closed. */
  channels?: ViewerChannelsFactory;
}

export interface WebRtcViewerEvents {
  input: [packet: InputPacket];
  keyframeRequest: [reason: "pli" | "fir" | "viewer" | "track-open"];
  /** What the viewer's RTCP said about its link: a receiver report's fraction lost, a REMB estimate. */
  linkFeedback: [fractionLost: number | undefined, rembBps: number | undefined];
  /** Media can flow (the video track opened). */
  open: [];
  closed: [reason: string];
}

export interface WebRtcViewerStats {
  framesSent: number;
  keyframesSent: number;
  /** Delta frames not sent because the viewer had no keyframe yet. */
  framesSkipped: number;
  videoPacketsSent: number;
  videoBytesSent: number;
  audioPacketsSent: number;
  /** Writes the transport refused (viewer not reachable or gone). */
  sendFailures: number;
  plis: number;
  nacks: number;
  /** Packets resent in answer to NACKs. */
  retransmitted: number;
  inputMessages: number;
  inputMalformed: number;
  /** Heartbeats on the input channel (src/peer/heartbeat.ts). */
  heartbeats: number;
  /** Signaling messages from the viewer that could not be applied (bad SDP, late candidates). */
  signalErrors: number;
  fractionLost: number;
  jitter: number;
}

/** All counters at zero (a new viewer's, or one whose process has not reported yet). */
export function emptyWebRtcViewerStats(): WebRtcViewerStats {
  return {
    framesSent: 0,
    keyframesSent: 0,
    framesSkipped: 0,
    videoPacketsSent: 0,
    videoBytesSent: 0,
    audioPacketsSent: 0,
    sendFailures: 0,
    plis: 0,
    nacks: 0,
    retransmitted: 0,
    inputMessages: 0,
    inputMalformed: 0,
    heartbeats: 0,
    signalErrors: 0,
    fractionLost: 0,
    jitter: 0,
  };
}

export class WebRtcViewer extends EventEmitter<WebRtcViewerEvents> {
  readonly id: string;
  readonly connectedAt = Date.now();
  readonly stats: WebRtcViewerStats = emptyWebRtcViewerStats();
  readonly #options: WebRtcViewerOptions;
  readonly #pc: PeerConnection;
  #video: Track | undefined;
  #audio: Track | undefined;
  #videoConfig: InstanceType<typeof nodeDataChannel.RtpPacketizationConfig> | undefined;
  #audioConfig: InstanceType<typeof nodeDataChannel.RtpPacketizationConfig> | undefined;
  #channels: DataChannel[] = [];
  #videoSequence = Math.floor(Math.random() * 0x10000);
  /** Ring of recently sent frames and the sequence number their first packet had for this viewer. */
  readonly #sentFrames: (RtpFrame | undefined)[] = new Array(RETRANSMIT_FRAMES).fill(undefined);
  readonly #sentSequences = new Uint16Array(RETRANSMIT_FRAMES);
  #sentNext = 0;
  #audioSequence = Math.floor(Math.random() * 0x10000);
  #waitingForKeyframe = true;
  /** The handler of the channels this viewer opened itself, made when the first one opens. */
  #viewerChannels: ViewerChannels | undefined;
  /** Those channels by label (a rumble goes back on one of them). */
  readonly #viewerChannelsByLabel = new Map<string, DataChannel>();
  /** When a data channel last carried anything from the viewer (performance.now(); 0 = not open yet). */
  lastHeardAt = 0;
  #videoOpen = false;
  #closed = false;

  constructor(options: WebRtcViewerOptions) {
    super();
    this.id = options.id;
    this.#options = options;
    const config: RtcConfig = {
      iceServers: options.ice?.iceServers ?? [],
      disableAutoNegotiation: true,
      ...(options.ice?.portRangeBegin !== undefined ? { portRangeBegin: options.ice.portRangeBegin } : {}),
      ...(options.ice?.portRangeEnd !== undefined ? { portRangeEnd: options.ice.portRangeEnd } : {}),
      ...(options.ice?.bindAddress !== undefined ? { bindAddress: options.ice.bindAddress } : {}),
      ...(options.ice?.transportPolicy === "relay" ? { iceTransportPolicy: "relay" as const } : {}),
    };
    this.#pc = new nodeDataChannel.PeerConnection(`viewer-${options.id}`, config);
  }

  get viewOnly(): boolean {
    return this.#options.viewOnly === true;
  }

  /** True once the video track is open and a keyframe has been sent. */
  get receivingVideo(): boolean {
    return this.#videoOpen && !this.#waitingForKeyframe;
  }

  get waitingForKeyframe(): boolean {
    return this.#waitingForKeyframe;
  }

  get rttMs(): number {
    try {
      const rtt = this.#pc.rtt();
      return rtt >= 0 ? rtt : -1;
    } catch {
      return -1;
    }
  }

  get state(): string {
    return this.#closed ? "closed" : this.#pc.state();
  }

  /** Builds the peer connection and sends the offer (and stream info) to the viewer. */
  start(): void {
    const { stream } = this.#options;
    const pc = this.#pc;
    pc.onLocalDescription((sdp, type) => {
      if (type === "offer") this.#options.signal({ type: "offer", sdp });
    });
    const publicIp = this.#options.ice?.publicIp;
    pc.onLocalCandidate((candidate, mid) => {
      this.#options.signal({ type: "candidate", candidate, mid });
      const mapped = publicIp ? withPublicAddress(candidate, publicIp) : undefined;
      if (mapped) this.#options.signal({ type: "candidate", candidate: mapped, mid });
    });
    pc.onStateChange((state) => {
      log.debug(`viewer ${this.id}: ${state}`);
      if (state === "failed" || state === "closed" || state === "disconnected") this.close(`peer connection ${state}`);
    });

    const payloadType = VIDEO_PAYLOAD_TYPE[stream.codec];
    const video = new nodeDataChannel.Video("video", "SendOnly");
    if (stream.codec === "h264") {
      video.addH264Codec(payloadType, `profile-level-id=${stream.profileLevelId ?? "42e02a"};packetization-mode=1;level-asymmetry-allowed=1`);
    } else if (stream.codec === "av1") {
      // AV1/90000 with nack, nack pli (libdatachannel's defaults) and ccm fir below; packets from av1-rtp-packetizer.ts.
      video.addAV1Codec(payloadType);
    } else {
      video.addH265Codec(payloadType);
    }
    video.parseSdpLine(`a=rtcp-fb:${payloadType} ccm fir`);
    video.parseSdpLine(`a=extmap:${PLAYOUT_DELAY_EXTENSION_ID} ${PLAYOUT_DELAY_URI}`);
    video.addSSRC(this.#options.videoSsrc, CNAME, "mlstream", "video");
    this.#video = pc.addTrack(video);
    this.#videoConfig = this.#attachRtcp(this.#video, this.#options.videoSsrc, payloadType, 90_000);
    this.#video.onOpen(() => {
      this.#videoOpen = true;
      this.emit("open");
      this.emit("keyframeRequest", "track-open");
    });
    this.#video.onMessage((message) => this.handleFeedback(message));

    const audio = new nodeDataChannel.Audio("audio", "SendOnly");
    audio.addOpusCodec(OPUS_PAYLOAD_TYPE);
    audio.addSSRC(this.#options.audioSsrc, CNAME, "mlstream", "audio");
    this.#audio = pc.addTrack(audio);
    this.#audioConfig = this.#attachRtcp(this.#audio, this.#options.audioSsrc, OPUS_PAYLOAD_TYPE, 48_000);

    const input = pc.createDataChannel("input");
    // Liveness is judged from the moment the viewer can speak (src/peer/heartbeat.ts).
    input.onOpen(() => {
      if (this.lastHeardAt === 0) this.lastHeardAt = performance.now();
    });
    this.#channels.push(input);
    this.#channels.push(pc.createDataChannel("input-unreliable", { unordered: true, maxRetransmits: 0 }));
    for (const channel of this.#channels) channel.onMessage((message) => this.#onInput(message));
    // Channels the viewer opens itself (a Helix browser's own input channels, docs/helix.md §1.2):
    // understood by the injected handler, any other label is closed.
    pc.onDataChannel((channel) => this.#onViewerChannel(channel));

    // Stream info first: a viewer sets up its decoder and input from it before the offer arrives.
    this.#options.signal({ type: "stream", info: { ...stream, input: !this.viewOnly } });
    pc.setLocalDescription();
  }

  /** A message from the viewer. A bad or ill-timed one is reported to it, never thrown. */
  handleSignal(message: ViewerSignal): void {
    if (this.#closed) return;
    try {
      this.#handleSignal(message);
    } catch (error) {
      this.stats.signalErrors++;
      log.debug(`viewer ${this.id}: ${message.type}: ${(error as Error).message}`);
      this.#options.signal({ type: "error", error: "bad_signal", message: `${message.type}: ${(error as Error).message}` });
    }
  }

  #handleSignal(message: ViewerSignal): void {
    switch (message.type) {
      case "answer":
        this.#pc.setRemoteDescription(message.sdp, "answer");
        return;
      case "candidate":
        if (message.candidate) this.#pc.addRemoteCandidate(message.candidate, message.mid);
        return;
      case "keyframe":
        this.emit("keyframeRequest", "viewer");
        return;
      case "leave":
        this.close("viewer left");
        return;
    }
  }

  /** Sends a signaling message to this viewer (status, end …). */
  sendSignal(message: ServerSignal): void {
    if (this.#closed) return;
    if (message.type === "rumble") this.#rumbleOnViewerChannel(message);
    this.#options.signal(message);
  }

  /** A viewer whose own protocol carries rumble on one of its channels gets it there too. */
  #rumbleOnViewerChannel(message: Extract<ServerSignal, { type: "rumble" }>): void {
    const out = this.#viewerChannels?.rumble?.(message.controllerNumber, message.lowFrequency, message.highFrequency);
    const channel = out && this.#viewerChannelsByLabel.get(out.label);
    if (!out || !channel?.isOpen()) return;
    try {
      channel.sendMessageBinary(out.bytes as Buffer);
    } catch (error) {
      log.debug(`viewer ${this.id}: rumble on ${out.label}: ${(error as Error).message}`);
    }
  }

  /** Tells the viewer about a new stream shape (resolution or codec change after a reconnect). */
  updateStream(info: StreamInfo): void {
    this.#options.stream = info;
    if (!this.#closed) this.#options.signal({ type: "stream", info: { ...info, input: !this.viewOnly } });
  }

  /**
   * Writes one frame's shared RTP packets. Before the viewer's first keyframe (and after it asked
   * for one because it lost its reference), delta frames are skipped. Returns whether it was sent.
   */
  writeVideo(frame: RtpFrame): boolean {
    const track = this.#video;
    // Once per frame, not per packet: a track the viewer closed would fail (and log) every send.
    if (!track || !this.#videoOpen || this.#closed || !track.isOpen()) return false;
    if (this.#waitingForKeyframe) {
      if (!frame.keyframe) {
        this.stats.framesSkipped++;
        return false;
      }
      this.#waitingForKeyframe = false;
    }
    this.#videoConfig!.timestamp = frame.timestamp;
    const packets = frame.packets;
    let seq = this.#videoSequence;
    this.#sentFrames[this.#sentNext] = frame;
    this.#sentSequences[this.#sentNext] = seq;
    this.#sentNext = (this.#sentNext + 1) % RETRANSMIT_FRAMES;
    try {
      for (let i = 0; i < packets.length; i++) {
        const packet = packets[i]!;
        // The packets are shared: patch our sequence number in, send (the transport copies), move on.
        packet[2] = seq >> 8;
        packet[3] = seq & 0xff;
        seq = (seq + 1) & 0xffff;
        if (!track.sendMessageBinary(packet as Buffer)) this.stats.sendFailures++;
      }
    } catch {
      // The track closed mid-frame (libdatachannel throws "Track is closed" from its own thread's
      // close): this viewer is going, and the other viewers of the fan-out must still get the frame.
      this.stats.sendFailures++;
      this.#waitingForKeyframe = true;
    }
    this.#videoSequence = seq;
    this.stats.framesSent++;
    if (frame.keyframe) this.stats.keyframesSent++;
    this.stats.videoPacketsSent += packets.length;
    this.stats.videoBytesSent += frame.bytes;
    return true;
  }

  /** Writes one shared Opus RTP packet (sequence patched like video). */
  writeAudio(packet: Uint8Array, timestamp: number): void {
    const track = this.#audio;
    if (!track || this.#closed || !track.isOpen()) return;
    this.#audioConfig!.timestamp = timestamp;
    packet[2] = this.#audioSequence >> 8;
    packet[3] = this.#audioSequence & 0xff;
    this.#audioSequence = (this.#audioSequence + 1) & 0xffff;
    try {
      if (track.sendMessageBinary(packet as Buffer)) this.stats.audioPacketsSent++;
      else this.stats.sendFailures++;
    } catch {
      this.stats.sendFailures++; // closed between the check and the send (see writeVideo)
    }
  }

  /** Makes the viewer wait for the next keyframe (e.g. after a codec change). */
  resetToKeyframe(): void {
    this.#waitingForKeyframe = true;
  }

  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly([...this.#channels, this.#pc]);
    this.emit("closed", reason);
  }

  #attachRtcp(track: Track, ssrc: number, payloadType: number, clockRate: number) {
    const config = new nodeDataChannel.RtpPacketizationConfig(ssrc, CNAME, payloadType, clockRate);
    track.setMediaHandler(new nodeDataChannel.RtcpSrReporter(config));
    return config;
  }

  /** RTCP from the viewer (PLI/FIR, NACK, receiver reports); called by the video track. */
  handleFeedback(message: Uint8Array): void {
    const feedback = parseRtcpFeedback(message);
    this.stats.nacks += feedback.nackedSequences.length;
    for (const sequence of feedback.nackedSequences) this.#retransmit(sequence);
    if (feedback.report) {
      this.stats.fractionLost = feedback.report.fractionLost;
      this.stats.jitter = feedback.report.jitter;
    }
    if (feedback.report || feedback.rembBps !== undefined) this.emit("linkFeedback", feedback.report?.fractionLost, feedback.rembBps);
    if (feedback.keyframeRequested) {
      this.stats.plis++;
      this.emit("keyframeRequest", "pli");
    }
  }

  /** Resends the packet this viewer knew as `sequence`, if it is still in the ring. */
  #retransmit(sequence: number): void {
    const track = this.#video;
    if (!track || this.#closed) return;
    for (let i = 0; i < RETRANSMIT_FRAMES; i++) {
      const frame = this.#sentFrames[i];
      if (!frame) continue;
      const index = (sequence - this.#sentSequences[i]!) & 0xffff;
      if (index >= frame.packets.length) continue;
      const packet = frame.packets[index]!;
      packet[2] = sequence >> 8;
      packet[3] = sequence & 0xff;
      if (track.sendMessageBinary(packet as Buffer)) this.stats.retransmitted++;
      return;
    }
  }

  #onViewerChannel(channel: DataChannel): void {
    const handler = (this.#viewerChannels ??= this.#options.channels?.());
    const label = channel.getLabel();
    const translate = handler?.translator(label);
    this.#channels.push(channel);
    if (!handler || !translate) {
      closeQuietly([channel]);
      return;
    }
    this.#viewerChannelsByLabel.set(label, channel);
    channel.onMessage((message) => this.#onInput(message, translate, (error) => handler.isMalformed(error)));
  }

  /**
   * One message from a viewer's data channel: text is its heartbeat (input is always binary), bytes
   * are input — our GameStream packets, or, on a Helix browser's own channels, its layouts
   * translated. Malformed input is counted; `expected` tells the errors not worth a log line.
   */
  #onInput(
    message: string | Buffer | ArrayBuffer,
    parse: (bytes: Uint8Array) => InputPacket[] = (bytes) => [parseInputPacket(bytes)],
    expected: (error: unknown) => boolean = (error) => error instanceof InputPacketFormatError,
  ): void {
    this.lastHeardAt = performance.now();
    if (typeof message === "string") {
      this.stats.heartbeats++;
      return;
    }
    this.stats.inputMessages++;
    try {
      const packets = parse(message instanceof ArrayBuffer ? new Uint8Array(message) : message);
      if (!this.viewOnly) for (const packet of packets) this.emit("input", packet);
    } catch (error) {
      this.stats.inputMalformed++;
      if (!expected(error)) log.debug(`viewer ${this.id}: bad input: ${(error as Error).message}`);
    }
  }
}
