/**
 * The viewer's side of a WebRTC session, outside a browser: answers mlstream's offer, receives the
 * video and Opus tracks, reassembles frames, and sends input on the data channels. The terminal
 * viewer (`mlstream join`) and the tests are built on it.
 */
import { EventEmitter } from "node:events";
import nodeDataChannel, { type DataChannel, type PeerConnection, type Track } from "node-datachannel";
import { inputIsReliable, serializeInputPacket, type InputPacket } from "../moonlight/input/input.ts";
import { closeQuietly } from "./close-quietly.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_MESSAGE } from "./heartbeat.ts";
import { Av1RtpDepacketizer } from "./av1-rtp-depacketizer.ts";
import { RtpDepacketizer, type DepacketizedFrame } from "./rtp-depacketizer.ts";
import type { ServerSignal, StreamInfo, ViewerSignal } from "./signaling.ts";

/** While media flows but no keyframe has come, ask again this often. */
const KEYFRAME_REASK_MS = 500;

export interface WebRtcReceiverEvents {
  stream: [info: StreamInfo];
  frame: [frame: DepacketizedFrame & { receivedAt: number }];
  /** Every video RTP packet as it arrives (diagnostics). */
  rtp: [packet: Uint8Array];
  audio: [opus: Uint8Array, timestamp: number];
  /** The peer connection state changed (new, connecting, connected, …). */
  state: [state: string];
  /** The ICE connection state changed (checking, connected, failed, …): tells ICE from DTLS trouble. */
  iceState: [state: string];
  /** Input data channels are open. */
  inputReady: [];
  end: [reason: string];
}

export interface WebRtcReceiverOptions {
  /** Sends a message to mlstream (over the signaling channel). */
  signal: (message: ViewerSignal) => void;
  iceServers?: string[];
  bindAddress?: string;
  /** "relay": TURN relay candidates only. */
  iceTransportPolicy?: "all" | "relay";
}

export class WebRtcReceiver extends EventEmitter<WebRtcReceiverEvents> {
  readonly #options: WebRtcReceiverOptions;
  readonly #pc: PeerConnection;
  #tracks: Track[] = [];
  #channels = new Map<string, DataChannel>();
  #depacketizer: RtpDepacketizer | Av1RtpDepacketizer | undefined;
  #videoTrack: Track | undefined;
  #stream: StreamInfo | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #lastKeyframeAskAt = 0;
  audioPackets = 0;
  rtpPackets = 0;
  /** Times a loss broke the picture and a keyframe was asked for. */
  picturesLost = 0;

  constructor(options: WebRtcReceiverOptions) {
    super();
    this.#options = options;
    this.#pc = new nodeDataChannel.PeerConnection("mlstream-receiver", {
      iceServers: options.iceServers ?? [],
      ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
      ...(options.iceTransportPolicy === "relay" ? { iceTransportPolicy: "relay" as const } : {}),
    });
    this.#pc.onLocalDescription((sdp, type) => {
      if (type === "answer") options.signal({ type: "answer", sdp });
    });
    this.#pc.onLocalCandidate((candidate, mid) => options.signal({ type: "candidate", candidate, mid }));
    this.#pc.onStateChange((state) => this.emit("state", state));
    this.#pc.onIceStateChange((state) => this.emit("iceState", state));
    this.#pc.onTrack((track) => this.#onTrack(track));
    this.#pc.onDataChannel((channel) => {
      this.#channels.set(channel.getLabel(), channel);
      channel.onOpen(() => this.#checkInputReady());
      if (channel.isOpen()) this.#checkInputReady();
    });
  }

  get streamInfo(): StreamInfo | undefined {
    return this.#stream;
  }

  get videoStats() {
    return this.#depacketizer?.stats;
  }

  get state(): string {
    return this.#closed ? "closed" : this.#pc.state();
  }

  get iceState(): string {
    return this.#closed ? "closed" : this.#pc.iceState();
  }

  /** The candidate pair ICE selected, as `local (type) ⇄ remote (type)`, type host/srflx/prflx/relay (undefined before ICE connects). */
  get selectedPair(): string | undefined {
    if (this.#closed) return undefined;
    const pair = this.#pc.getSelectedCandidatePair();
    return pair ? `${pair.local.address}:${pair.local.port} (${pair.local.type}) ⇄ ${pair.remote.address}:${pair.remote.port} (${pair.remote.type})` : undefined;
  }

  get rttMs(): number {
    const rtt = this.#pc.rtt();
    return rtt >= 0 ? rtt : -1;
  }

  get inputReady(): boolean {
    return this.#channels.get("input")?.isOpen() === true;
  }

  /** Feeds one message from mlstream. */
  handleSignal(message: ServerSignal): void {
    if (this.#closed) return;
    try {
      this.#handleSignal(message);
    } catch (error) {
      // An ill-timed candidate or a bad offer must not take the viewer down; the state tells.
      this.emit("state", `signal-error: ${(error as Error).message}`);
    }
  }

  #handleSignal(message: ServerSignal): void {
    switch (message.type) {
      case "offer":
        this.#pc.setRemoteDescription(message.sdp, "offer");
        return;
      case "candidate":
        if (message.candidate) this.#pc.addRemoteCandidate(message.candidate, message.mid);
        return;
      case "stream":
        this.#stream = message.info;
        this.emit("stream", message.info);
        return;
      case "end":
        this.emit("end", message.reason);
        return;
      default:
        return;
    }
  }

  /** Sends input the way the browser player does: reliable channel for state changes, unreliable for motion. */
  sendInput(packet: InputPacket): boolean {
    const channel = this.#channels.get(inputIsReliable(packet) ? "input" : "input-unreliable") ?? this.#channels.get("input");
    if (!channel?.isOpen()) return false;
    return channel.sendMessageBinary(serializeInputPacket(packet));
  }

  /** Sends a Picture Loss Indication on the video track. */
  requestKeyframe(): boolean {
    return this.#videoTrack?.requestKeyframe() ?? false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    closeQuietly([...this.#channels.values(), this.#pc]);
  }

  #onTrack(track: Track): void {
    this.#tracks.push(track);
    track.setMediaHandler(new nodeDataChannel.RtcpReceivingSession());
    if (track.type() === "video") {
      this.#videoTrack = track;
      // The offer says which codec the track carries; stream info may not have arrived yet.
      const offered = this.#pc.remoteDescription()?.sdp ?? "";
      const onFrame = (frame: DepacketizedFrame) => this.emit("frame", { ...frame, receivedAt: performance.now() });
      if (/a=rtpmap:\d+ AV1\/90000/i.test(offered) || this.#stream?.codec === "av1") {
        this.#depacketizer = new Av1RtpDepacketizer(onFrame);
      } else {
        const codec = /a=rtpmap:\d+ H265\/90000/i.test(offered) || this.#stream?.codec === "hevc" ? "hevc" : "h264";
        this.#depacketizer = new RtpDepacketizer(codec, onFrame);
      }
      const depacketizer = this.#depacketizer;
      track.onMessage((message) => {
        if (isRtcp(message)) return;
        this.rtpPackets++;
        this.emit("rtp", message);
        const hadPicture = !depacketizer.waitingForKeyframe;
        depacketizer.push(message);
        // As a browser does: a lost packet breaks the reference (we keep no jitter buffer and send
        // no NACKs), so ask for a keyframe at once, and again every KEYFRAME_REASK_MS while media
        // flows without one (the keyframe we were sent may itself have lost a packet).
        if (!depacketizer.waitingForKeyframe) return;
        const now = performance.now();
        if (hadPicture) this.picturesLost++;
        if (hadPicture || now - this.#lastKeyframeAskAt >= KEYFRAME_REASK_MS) {
          this.#lastKeyframeAskAt = now;
          track.requestKeyframe();
        }
      });
    } else {
      track.onMessage((message) => {
        if (isRtcp(message) || message.length <= 12) return;
        this.audioPackets++;
        const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
        let at = 12 + (message[0]! & 0x0f) * 4;
        if (message[0]! & 0x10) at += 4 + view.getUint16(at + 2) * 4;
        this.emit("audio", message.subarray(at), view.getUint32(4));
      });
    }
  }

  #checkInputReady(): void {
    if (!this.inputReady) return;
    // Without it mlstream takes us for a frozen viewer and releases what we hold (heartbeat.ts).
    this.#heartbeat ??= setInterval(() => this.#beat(), HEARTBEAT_INTERVAL_MS);
    this.emit("inputReady");
  }

  #beat(): void {
    const channel = this.#channels.get("input");
    if (channel?.isOpen()) channel.sendMessage(HEARTBEAT_MESSAGE);
  }
}

/** RTCP packet types 200–206 share the byte where RTP carries marker + payload type. */
function isRtcp(message: Uint8Array): boolean {
  const pt = message[1]!;
  return pt >= 200 && pt <= 206;
}
