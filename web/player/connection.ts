/**
 * One viewer's link to a streamer (docs/signaling.md): the signaling WebSocket and, per server
 * offer, a fresh RTCPeerConnection. The server always offers; this side answers and trickles its
 * candidates. A second `offer` on the same socket (the streamer's process restarted) replaces the
 * peer connection. Dropped links come back by themselves, as the close code says:
 * 4001 kicked → stop; 4004 streamer gone → wait until `waitForStreamer` says it is back;
 * 4010 peer connection failed → reconnect at once; anything else → back-off.
 *
 * The current stage is always named (signaling, ICE, DTLS, media), so a link that hangs says
 * where.
 *
 * Transport (docs/ws-media.md): `auto` (the default) answers the WebRTC offer and moves to the
 * WebSocket media transport when the server says so (its fallback timer) or at once when this
 * side's ICE fails before media ever flowed; `websocket` asks for it from the start; `webrtc`
 * never moves. Once moved, reconnects ask for the WebSocket transport directly. On the WebSocket
 * transport, binary frames of the socket are media (`media` callback) and input goes back on it.
 */
import type { JanusViewerInfo, ServerSignal, StreamInfo, StreamerStatus, ViewerSignal } from "../../src/peer/signaling.ts";
import type { InputSocket } from "./input-sender.ts";
import { JanusMedia } from "./janus-media.ts";
import { BackoffPolicy, type ReconnectPolicy } from "./reconnect-policy.ts";
import { adaptOfferToReceiver, receivableH264Profiles } from "./sdp.ts";

export const CLOSE_KICKED = 4001;
export const CLOSE_STREAMER_GONE = 4004;
export const CLOSE_PEER_FAILED = 4010;

const PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
/** No offer this long after the socket opened, or no ICE connection this long after answering. */
const STAGE_TIMEOUT_MS = 15_000;

export interface ConnectionCallbacks {
  /** Human-readable state for the player's status line ("" once playing). */
  stage(text: string): void;
  hello(role: "viewer" | "view-only"): void;
  /** A new peer connection replaced the previous one (undefined: none now). */
  peerConnection(pc: RTCPeerConnection | undefined): void;
  track(event: RTCTrackEvent): void;
  dataChannel(channel: RTCDataChannel): void;
  stream(info: StreamInfo): void;
  status(status: StreamerStatus, detail?: string): void;
  /** The connection will not come back by itself (kicked, or given up). */
  ended(reason: string): void;
  /** The host rumbles one of this viewer's pads. */
  rumble(controllerNumber: number, lowFrequency: number, highFrequency: number): void;
  /** The server judged this viewer's link: why the picture is poor, or null once it is good again. */
  link?(quality: "good" | "lossy" | "slow", reason: string | null): void;
  /** The media transport of this socket: told on hello, and again when the server moves us. */
  transport(transport: MediaTransport): void;
  /** A binary frame of the WebSocket media transport (docs/ws-media.md). */
  media(bytes: Uint8Array): void;
}

export type TransportChoice = "auto" | "webrtc" | "websocket";
/** "janus": the picture comes from a Janus mountpoint (janus-media.ts); input goes over the socket. */
export type MediaTransport = "webrtc" | "websocket" | "janus";

export interface ConnectionOptions {
  /** ws(s):// URL of `api/streamers/<id>/peer`, token and view_only included. */
  url: string;
  callbacks: ConnectionCallbacks;
  policy?: ReconnectPolicy;
  /** Resolves when a streamer that was gone (4004) may be back; rejects to give up. */
  waitForStreamer(): Promise<void>;
  /** Default `auto`: WebRTC first, the WebSocket transport where WebRTC cannot pass. */
  transport?: TransportChoice;
  /**
   * Asked before answering an offer: false = this page cannot show the stream (its codec), so no
   * peer connection is made (a browser's answer to a codec it lacks fails anyway).
   */
  wantsMedia?: () => Promise<boolean>;
}

export class ViewerConnection {
  readonly #options: ConnectionOptions;
  readonly #policy: ReconnectPolicy;
  #ws: WebSocket | undefined;
  #pc: RTCPeerConnection | undefined;
  #iceServers: RTCIceServer[] = [];
  #iceTransportPolicy: RTCIceTransportPolicy = "all";
  #pendingCandidates: RTCIceCandidateInit[] = [];
  #attempt = 0;
  #endReason = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stageTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #transport: MediaTransport = "webrtc";
  #janus: JanusMedia | undefined;
  /** Moved to the WebSocket transport once: reconnects ask for it directly. */
  #fellBack = false;
  /** The current peer connection reached "connected" at least once. */
  #pcConnected = false;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#policy = options.policy ?? new BackoffPolicy();
  }

  /** The media transport in use on the current socket. */
  get transport(): MediaTransport {
    return this.#transport;
  }

  /** The peer socket as the WebSocket transport's input and pings use it. */
  readonly socket: InputSocket = (() => {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      get open() {
        return self.#transport !== "webrtc" && self.#ws?.readyState === WebSocket.OPEN;
      },
      get bufferedAmount() {
        return self.#ws?.bufferedAmount ?? 0;
      },
      send(data: Uint8Array<ArrayBuffer>) {
        if (self.#transport !== "webrtc") self.sendBinary(data);
      },
    };
  })();

  get peerConnection(): RTCPeerConnection | undefined {
    return this.#pc;
  }

  connect(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#endReason = "";
    this.#transport = "webrtc";
    this.#stage("signaling: connecting");
    const url = new URL(this.#options.url);
    const choice = this.#options.transport ?? "auto";
    url.searchParams.set("transport", this.#fellBack ? "websocket" : choice);
    const ws = new WebSocket(url.href);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#transport === "websocket") return;
      this.#stage("signaling: waiting for the offer");
      this.#watchStage("signaling: no offer from the server");
    };
    ws.onmessage = (event) => {
      if (ws !== this.#ws) return;
      if (event.data instanceof ArrayBuffer) {
        if (this.#transport === "websocket") this.#options.callbacks.media(new Uint8Array(event.data));
        return;
      }
      let message: ServerSignal;
      try {
        message = JSON.parse(String(event.data)) as ServerSignal;
      } catch {
        return;
      }
      void this.#onSignal(message).catch((error: unknown) => {
        console.error("mlstream: signaling", error);
        this.#stage(`signaling: ${(error as Error).message}`);
      });
    };
    ws.onclose = (event) => {
      if (ws !== this.#ws) return;
      this.#ws = undefined;
      this.#onClose(event.code, event.reason);
    };
  }

  /** Asks for a keyframe (the decoder lost its reference, e.g. after the tab was hidden). */
  requestKeyframe(): void {
    this.#send({ type: "keyframe" });
  }

  /**
   * Asks the server for the WebSocket media transport now (this browser cannot decode the stream's
   * codec over WebRTC, codec-choice.ts); the server answers with `transport` as on its fallback.
   */
  useWebSocketTransport(): void {
    if (this.#transport === "webrtc") this.#send({ type: "transport", transport: "websocket" });
  }

  /** A binary message of the WebSocket transport (input, ping). */
  sendBinary(data: Uint8Array<ArrayBuffer>): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(data);
  }

  /**
   * Drops the socket and joins again at once (a fresh join starts at a keyframe): the last resort
   * of the WebSocket transport when its keyframe requests go unanswered.
   */
  rejoin(reason: string): void {
    const ws = this.#ws;
    if (!ws || this.#closed) return;
    console.warn(`mlstream: rejoining (${reason})`);
    this.#ws = undefined;
    clearTimeout(this.#stageTimer);
    ws.onclose = null;
    ws.close(1000, "rejoin");
    this.#replacePeer(undefined);
    this.connect();
  }

  /** Media flows: the next drop starts its back-off from the beginning. */
  markHealthy(): void {
    this.#attempt = 0;
    clearTimeout(this.#stageTimer);
  }

  /** Leaves the stream for good (page closed). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#stageTimer);
    this.#send({ type: "leave" });
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(1000, "leave");
    this.#replacePeer(undefined);
  }

  #send(message: ViewerSignal): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #stage(text: string): void {
    this.#options.callbacks.stage(text);
  }

  #watchStage(text: string): void {
    clearTimeout(this.#stageTimer);
    this.#stageTimer = setTimeout(() => this.#stage(text), STAGE_TIMEOUT_MS);
  }

  async #onSignal(message: ServerSignal): Promise<void> {
    const { callbacks } = this.#options;
    switch (message.type) {
      case "hello":
        this.#iceServers = (message.iceServers ?? []).map((s) => ({ urls: s.urls, ...(s.username ? { username: s.username, credential: s.credential ?? "" } : {}) }));
        this.#iceTransportPolicy = message.iceTransportPolicy === "relay" ? "relay" : "all";
        callbacks.hello(message.role);
        if (message.transport === "websocket") this.#useWebSocket();
        else if (message.transport === "janus" && message.janus) this.#useJanus(message.janus);
        else callbacks.transport("webrtc");
        return;
      case "offer":
        // On the WebSocket transport there is no peer connection to make; with Janus, Janus offers.
        if (this.#transport !== "webrtc") return;
        if (this.#options.wantsMedia && !(await this.#options.wantsMedia())) return;
        await this.#answer(message.sdp);
        return;
      case "candidate": {
        const init: RTCIceCandidateInit = { candidate: message.candidate, sdpMid: message.mid };
        if (!message.candidate) return;
        if (this.#pc?.remoteDescription) await this.#pc.addIceCandidate(init).catch((e: unknown) => console.warn("mlstream: candidate", e));
        else this.#pendingCandidates.push(init);
        return;
      }
      case "stream":
        callbacks.stream(message.info);
        return;
      case "status":
        callbacks.status(message.status, message.detail);
        return;
      case "error":
        console.warn(`mlstream: server says ${message.error}: ${message.message}`);
        return;
      case "end":
        this.#endReason = message.reason;
        return;
      case "rumble":
        callbacks.rumble(message.controllerNumber, message.lowFrequency, message.highFrequency);
        return;
      case "link":
        callbacks.link?.(message.quality, message.reason);
        return;
      case "transport":
        if (message.transport === "websocket") this.#useWebSocket();
        return;
    }
  }

  /** Media comes over this socket now: the peer connection (if any) goes. */
  #useWebSocket(): void {
    if (this.#transport === "websocket") return;
    this.#transport = "websocket";
    if ((this.#options.transport ?? "auto") !== "webrtc") this.#fellBack = true;
    this.#replacePeer(undefined);
    this.#stage("WebSocket: waiting for a keyframe");
    this.#watchStage("WebSocket: connected, but no video (keyframe?)");
    this.#options.callbacks.transport("websocket");
  }

  /** The picture comes from Janus; this socket carries the input (and pings) only. */
  #useJanus(info: JanusViewerInfo): void {
    this.#replacePeer(undefined);
    this.#transport = "janus";
    this.#options.callbacks.transport("janus");
    this.#stage("Janus: joining the mountpoint");
    const janus = new JanusMedia({
      url: info.url,
      mountpoint: info.mountpoint,
      iceServers: this.#iceServers,
      usePeerConnection: (pc) => {
        this.#replacePeer(pc);
        pc.ontrack = (event) => pc === this.#pc && this.#options.callbacks.track(event);
        pc.onconnectionstatechange = () => {
          if (pc !== this.#pc) return;
          if (pc.connectionState === "connected") this.#stage("media: waiting for the first frame");
          else if (pc.connectionState === "failed") this.#stage("Janus: connection failed (can this browser reach Janus?)");
        };
      },
      // A fresh hello names the mountpoint as it is now (re-made after a Janus restart), or sends
      // the media directly while Janus is down.
      onLost: (reason) => janus === this.#janus && this.rejoin(reason),
    });
    this.#janus = janus;
    janus.start().catch((error: unknown) => {
      if (janus !== this.#janus) return;
      // The server named a mountpoint it did not yet know was gone (Janus just died): ask again in a
      // moment; by then it sends the media itself, or the mountpoint made again.
      this.#stage(`Janus: ${(error as Error).message}; joining again`);
      setTimeout(() => janus === this.#janus && this.rejoin("Janus unreachable"), 1000);
    });
  }

  async #answer(sdp: string): Promise<void> {
    this.#stage("signaling: answering");
    const pc = new RTCPeerConnection({ iceServers: this.#iceServers, iceTransportPolicy: this.#iceTransportPolicy, bundlePolicy: "max-bundle" });
    this.#replacePeer(pc);
    this.#pcConnected = false;
    const { callbacks } = this.#options;
    pc.ontrack = (event) => pc === this.#pc && callbacks.track(event);
    pc.ondatachannel = (event) => pc === this.#pc && callbacks.dataChannel(event.channel);
    pc.onicecandidate = (event) => {
      if (pc !== this.#pc || !event.candidate?.candidate) return;
      this.#send({ type: "candidate", candidate: event.candidate.candidate, mid: event.candidate.sdpMid ?? "0" });
    };
    pc.oniceconnectionstatechange = () => {
      if (pc !== this.#pc) return;
      if (pc.iceConnectionState === "checking") this.#stage("ICE: checking");
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.#pc) return;
      switch (pc.connectionState) {
        case "connecting":
          this.#stage(pc.iceConnectionState === "connected" ? "DTLS: handshaking" : "ICE: checking");
          break;
        case "connected":
          this.#pcConnected = true;
          this.#stage("media: waiting for the first frame");
          this.#watchStage("media: connected, but no video (keyframe?)");
          break;
        case "failed":
          if ((this.#options.transport ?? "auto") === "auto" && !this.#pcConnected) {
            // WebRTC cannot pass here: ask for the media over this socket before the server's timer.
            this.#stage("ICE failed: moving to the WebSocket transport");
            this.#send({ type: "transport", transport: "websocket" });
            break;
          }
          // The server notices too and closes with 4010; do not wait for it.
          this.#stage("ICE/DTLS: connection failed");
          this.#ws?.close(1000, "peer connection failed");
          break;
      }
    };
    const adapted = adaptOfferToReceiver(sdp, receivableH264Profiles());
    if (adapted.changed.length > 0) console.info(`mlstream: H.264 profile read as High 4:4:4 Predictive for this browser (${adapted.changed.join(", ")})`);
    await pc.setRemoteDescription({ type: "offer", sdp: adapted.sdp });
    for (const candidate of this.#pendingCandidates.splice(0)) await pc.addIceCandidate(candidate).catch(() => {});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    const local = pc.localDescription?.sdp ?? answer.sdp ?? "";
    // Without it Chrome's jitter buffer grows over a session (docs/field-notes.md); never munge it away.
    if (sdp.includes(PLAYOUT_DELAY_URI) && !local.includes(PLAYOUT_DELAY_URI)) console.warn("mlstream: the answer lost the playout-delay extension");
    this.#send({ type: "answer", sdp: local });
    this.#stage("ICE: checking");
    this.#watchStage("ICE: no connection (a firewall or missing TURN server?)");
  }

  #replacePeer(pc: RTCPeerConnection | undefined): void {
    if (!pc) {
      this.#janus?.close();
      this.#janus = undefined;
    }
    const old = this.#pc;
    this.#pc = pc;
    this.#pendingCandidates = [];
    if (old) {
      old.ontrack = old.ondatachannel = old.onicecandidate = old.onconnectionstatechange = old.oniceconnectionstatechange = null;
      old.close();
    }
    this.#options.callbacks.peerConnection(pc);
  }

  #onClose(code: number, reason: string): void {
    clearTimeout(this.#stageTimer);
    this.#replacePeer(undefined);
    if (this.#closed) return;
    const why = this.#endReason || reason || `code ${code}`;
    if (code === CLOSE_KICKED) {
      this.#stage(`ended: ${why}`);
      this.#options.callbacks.ended(why);
      return;
    }
    if (code === CLOSE_STREAMER_GONE) {
      this.#stage(`stream unavailable: ${why}; waiting for it to come back`);
      this.#options
        .waitForStreamer()
        .then(() => this.connect())
        .catch(() => this.#options.callbacks.ended(why));
      return;
    }
    // A failed peer connection gets one immediate retry (a fresh socket, a fresh offer); after that,
    // and for network blips, back off.
    const attempt = ++this.#attempt;
    const delay = code === CLOSE_PEER_FAILED && attempt === 1 ? 0 : this.#policy.delayMs(attempt);
    this.#stage(`reconnecting in ${(delay / 1000).toFixed(1)} s (${why})`);
    this.#timer = setTimeout(() => this.connect(), delay);
  }
}
