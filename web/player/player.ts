/**
 * The player: one streamer's video and audio in a `<video>` (WebRTC) or a `<canvas>` fed by
 * WebCodecs (the WebSocket media transport, ws-media.ts), the stats overlay naming the transport,
 * and — unless the viewer is view-only — keyboard, mouse, touch, gamepad and clipboard input to
 * the host, on the data channels or on the peer socket.
 *
 * Latency: every receiver gets `jitterBufferTarget = 0` and `playoutDelayHint = 0`, and the
 * server's playout-delay RTP extension stays negotiated (docs/field-notes.md: without all three,
 * Chrome's jitter buffer creeps up over a session).
 * Autoplay: the video starts muted (browsers allow that); the first click or key unmutes it. On
 * the WebSocket transport audio likewise starts with that first gesture (an AudioContext).
 */
import type { InputPacket } from "../../src/moonlight/input/input.ts";
import type { StreamInfo, StreamerStatus } from "../../src/peer/signaling.ts";
import { h } from "../lib/dom.ts";
import { chooseCodecPath, codecName, probeCodecSupport } from "./codec-choice.ts";
import { ViewerConnection, type MediaTransport, type TransportChoice } from "./connection.ts";
import { GamepadCapture } from "./gamepad.ts";
import { InputSender } from "./input-sender.ts";
import { KeyboardCapture } from "./keyboard.ts";
import { MouseCapture, type MouseMode } from "./mouse.ts";
import type { ReconnectPolicy } from "./reconnect-policy.ts";
import { formatStats, StatsSampler, WsStatsSampler, type PlayerStats } from "./stats.ts";
import { utf8Chunks } from "./text.ts";
import { TouchCapture } from "./touch.ts";
import { WsMedia, type WsMediaCounters } from "./ws-media.ts";

export interface PlayerOptions {
  /** ws(s):// URL of the streamer's peer socket (token and view_only included). */
  signalingUrl: string;
  /** The user asked for view-only (`?view_only=1`); the server may also make us view-only. */
  viewOnly: boolean;
  /** Resolves when a stopped streamer is back (see ViewerConnection). */
  waitForStreamer(): Promise<void>;
  policy?: ReconnectPolicy;
  /** `?transport=` of the page; default `auto` (WebRTC, falling back to the WebSocket transport). */
  transport?: TransportChoice;
}

interface InputCaptures {
  keyboard: KeyboardCapture;
  mouse: MouseCapture;
  touch: TouchCapture;
  gamepads: GamepadCapture;
  abort: AbortController;
}

const STATS_KEY = "mlstream.stats";

/** A phone or tablet: the user taps rather than clicks. */
function touchFirst(): boolean {
  return matchMedia("(hover: none) and (pointer: coarse)").matches;
}
/** Seconds without a new decoded frame, while connected, before asking for a keyframe. */
const STALL_SAMPLES = 3;

export class Player {
  readonly element: HTMLDivElement;
  readonly video: HTMLVideoElement;
  /** Where the WebSocket transport draws (hidden on WebRTC). */
  readonly canvas: HTMLCanvasElement;
  readonly #options: PlayerOptions;
  readonly #connection: ViewerConnection;
  readonly #input = new InputSender();
  readonly #sampler = new StatsSampler();
  readonly #wsSampler = new WsStatsSampler();
  #wsMedia: WsMedia | undefined;
  #audioUnlocked = false;
  readonly #statsBox: HTMLDivElement;
  readonly #stageBox: HTMLDivElement;
  readonly #unmute: HTMLButtonElement;
  readonly #mouseButton: HTMLButtonElement;
  readonly #bar: HTMLDivElement;
  /** "AV1 · WebRTC": the stream's codec and the transport showing it. */
  readonly #codecBadge: HTMLSpanElement;
  /** Why this browser cannot show the stream's codec (undefined while it can). */
  #codecUnplayable: string | undefined;
  /** The codec check of the latest stream info (the offer waits for it). */
  #codecChecked: Promise<void> = Promise.resolve();
  #media = new MediaStream();
  #captures: InputCaptures | undefined;
  #info: StreamInfo | undefined;
  #role: "viewer" | "view-only" = "viewer";
  #stage = "";
  #status: StreamerStatus | undefined;
  #mouseMode: MouseMode = "absolute";
  #lastStats: PlayerStats | undefined;
  readonly #linkBox: HTMLDivElement;
  #stalled = 0;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: PlayerOptions) {
    this.#options = options;
    this.video = h("video", { autoplay: true, muted: true, playsInline: true, disablePictureInPicture: true });
    this.video.muted = true; // the attribute alone is not the property
    this.canvas = h("canvas", { className: "ws-video", hidden: true });
    // As the <video>: fills the player, the picture letterboxed inside it.
    Object.assign(this.canvas.style, { position: "absolute", inset: "0", width: "100%", height: "100%", objectFit: "contain", background: "#000" });
    // Off until asked for (its button or Ctrl+Alt+Shift+S): it covers part of the picture.
    this.#statsBox = h("div", { className: "stats", hidden: localStorage.getItem(STATS_KEY) !== "1" });
    this.#stageBox = h("div", { className: "stage" });
    // Shown while the server says this viewer's link is poor: the picture is poor for a reason.
    this.#linkBox = h("div", { className: "link-note", hidden: true });
    this.#unmute = h("button", { className: "unmute", title: "Audio starts muted (browser autoplay rules)", onclick: () => this.unmute() }, `${touchFirst() ? "Tap" : "Click"} to unmute`);
    this.#mouseButton = h("button", { title: "Ctrl+Alt+Shift+Z", onclick: () => this.setMouseMode(this.#mouseMode === "absolute" ? "relative" : "absolute") }, "Mouse: absolute");
    this.#codecBadge = h("span", { className: "codec", title: "The stream's codec and the transport showing it" });
    this.#bar = h(
      "div",
      { className: "bar" },
      this.#codecBadge,
      this.#mouseButton,
      h("button", { title: "Send the clipboard's text as typing", onclick: () => void this.pasteClipboard() }, "Paste"),
      h("button", { title: "Ctrl+Alt+Shift+S", onclick: () => this.toggleStats() }, "Stats"),
      h("button", { title: "Ctrl+Alt+Shift+X", onclick: () => void this.toggleFullscreen() }, "Fullscreen"),
    );
    this.element = h("div", { className: "player", tabIndex: 0 }, this.video, this.canvas, this.#statsBox, this.#stageBox, this.#linkBox, this.#unmute, this.#bar);
    this.element.style.touchAction = "none";
    this.video.srcObject = this.#media;

    // One user gesture anywhere on the page lifts the autoplay mute.
    const unmuteOnce = () => this.unmute();
    window.addEventListener("pointerdown", unmuteOnce, { once: true, capture: true });
    window.addEventListener("keydown", unmuteOnce, { once: true, capture: true });
    document.addEventListener("visibilitychange", () => {
      // A hidden tab's decoder may have dropped frames: start again from a keyframe.
      if (!document.hidden) this.#connection.requestKeyframe();
    });
    document.addEventListener("fullscreenchange", () => this.#onFullscreenChange());
    window.addEventListener("pagehide", () => this.close());

    this.#connection = new ViewerConnection({
      url: options.signalingUrl,
      waitForStreamer: options.waitForStreamer,
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      wantsMedia: async () => {
        await this.#codecChecked;
        return this.#codecUnplayable === undefined;
      },
      callbacks: {
        transport: (transport) => this.#onTransport(transport),
        // Nothing to decode with while the codec cannot be shown: a decoder that keeps failing would
        // keep asking the host for keyframes.
        media: (bytes) => this.#codecUnplayable === undefined && this.#wsMedia?.handle(bytes),
        stage: (text) => this.#setStage(text),
        hello: (role) => {
          this.#role = role;
          this.#updateInput();
        },
        peerConnection: (pc) => this.#onPeerConnection(pc),
        track: (event) => this.#onTrack(event),
        dataChannel: (channel) => this.#input.attach(channel),
        stream: (info) => {
          this.#info = info;
          this.#updateInput();
          this.#codecChecked = this.#chooseCodecPath(info);
        },
        status: (status, detail) => {
          this.#status = status;
          if (status !== "live") this.#setStage(`streamer ${status}${detail ? `: ${detail}` : ""}`);
          else if (this.#stage.startsWith("streamer")) this.#setStage("");
        },
        ended: (reason) => {
          this.#setStage(`ended: ${reason}`);
          this.#releaseInput();
        },
        rumble: (controllerNumber, low, high) => this.handleRumble(controllerNumber, low, high),
        link: (quality, reason) => this.#onLink(quality, reason),
      },
    });
  }

  start(): void {
    this.#connection.connect();
    this.#statsTimer = setInterval(() => void this.#sampleStats(), 1000);
    this.element.focus({ preventScroll: true });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#statsTimer);
    // Let go on the host before the channels close (the server releases them too, as a backstop).
    this.#releaseInput();
    this.#connection.close();
    this.#wsMedia?.close();
  }

  /** What the server last said about this viewer's link ("" when good). */
  get linkNote(): string {
    return this.#linkBox.hidden ? "" : (this.#linkBox.textContent ?? "");
  }

  #onLink(quality: "good" | "lossy" | "slow", reason: string | null): void {
    this.#linkBox.hidden = quality === "good";
    this.#linkBox.textContent = quality === "good" ? "" : `Poor picture: ${reason ?? `${quality} link`}`;
  }

  /** The media transport in use ("webrtc" until the server says otherwise). */
  get transport(): MediaTransport {
    return this.#connection.transport;
  }

  /** The WebSocket transport's decoder and counters (undefined on WebRTC). */
  get wsMedia(): WsMedia | undefined {
    return this.#wsMedia;
  }

  /** Live counters of the WebSocket transport (frames decoded, dropped …), for tests. */
  get wsCounters(): Readonly<WsMediaCounters> | undefined {
    return this.#wsMedia?.counters;
  }

  /** The latest sample of the stats overlay (also read by the browser tests). */
  get stats(): PlayerStats | undefined {
    return this.#lastStats;
  }

  get peerConnection(): RTCPeerConnection | undefined {
    return this.#connection.peerConnection;
  }

  /** The badge's text, e.g. "AV1 · WebRTC" ("" before the stream info). */
  get codecLabel(): string {
    return this.#codecBadge.textContent ?? "";
  }

  /** Why the stream cannot be shown here (the text on the picture), or undefined. */
  get unplayable(): string | undefined {
    return this.#codecUnplayable ?? this.#wsMedia?.unplayable;
  }

  get inputEnabled(): boolean {
    return this.#captures !== undefined && this.#input.ready;
  }

  get inputSent(): number {
    return this.#input.sent;
  }

  unmute(): void {
    this.#audioUnlocked = true;
    if (this.#wsMedia) {
      this.#wsMedia.audio.start().then(
        () => this.#unmute.remove(),
        // Still blocked (no user gesture yet): keep the button.
        () => {},
      );
    }
    if (!this.video.muted) return;
    this.video.muted = false;
    this.video.play().then(
      () => this.#unmute.remove(),
      () => {
        // Still blocked (no user gesture yet): stay muted, keep the button.
        this.video.muted = true;
        void this.video.play().catch(() => {});
      },
    );
  }

  toggleStats(): void {
    this.#statsBox.hidden = !this.#statsBox.hidden;
    localStorage.setItem(STATS_KEY, this.#statsBox.hidden ? "0" : "1");
  }

  setMouseMode(mode: MouseMode): void {
    this.#mouseMode = mode;
    this.#captures?.mouse.setMode(mode);
    this.#mouseButton.textContent = `Mouse: ${mode}`;
    this.element.classList.toggle("relative-mouse", mode === "relative");
  }

  async toggleFullscreen(): Promise<void> {
    if (document.fullscreenElement) {
      await document.exitFullscreen();
      return;
    }
    await this.element.requestFullscreen({ navigationUI: "hide" });
  }

  /** Types the clipboard's text on the host (needs clipboard permission; Ctrl+V works without). */
  async pasteClipboard(): Promise<void> {
    try {
      this.sendText(await navigator.clipboard.readText());
    } catch (error) {
      this.#setStage(`clipboard: ${(error as Error).message} — press Ctrl+V in the player instead`);
      setTimeout(() => this.#setStage(""), 3000);
    }
  }

  sendText(text: string): void {
    if (!this.#captures) return;
    for (const chunk of utf8Chunks(text)) this.#send({ kind: "utf8Text", text: chunk });
  }

  #send(packet: InputPacket): void {
    this.#input.send(packet);
  }

  #setStage(text: string): void {
    this.#stage = text;
    // Nothing on this page can decode the stream: that, not a connecting stage, is what to read.
    this.#stageBox.textContent = this.#codecUnplayable ?? this.#wsMedia?.unplayable ?? text;
  }

  /**
   * Asks the browser what it can decode and moves to the transport that shows the stream's codec,
   * or says that none can. Runs on every stream info (a restarted streamer may change codec).
   */
  async #chooseCodecPath(info: StreamInfo): Promise<void> {
    const support = await probeCodecSupport(info.codec, info.bitDepth ?? 8);
    if (this.#info !== info || this.#closed) return;
    const path = chooseCodecPath(info.codec, this.#options.transport ?? "auto", support);
    const wasUnplayable = this.#codecUnplayable !== undefined;
    this.#codecUnplayable = path.unplayable;
    // The streamer came back with a codec this page can show: join afresh for a new offer.
    if (wasUnplayable && !path.unplayable) this.#connection.rejoin("the stream's codec changed");
    if (path.unplayable) console.error(`mlstream: ${path.unplayable}`);
    if (path.transport === "websocket") this.#connection.useWebSocketTransport();
    this.#updateCodecBadge();
    this.#setStage(this.#stage);
  }

  #updateCodecBadge(): void {
    const info = this.#info;
    if (!info) return;
    const name = codecName(info.codec, info.bitDepth ?? 8);
    const transport = { webrtc: "WebRTC", websocket: "WebSocket", janus: "Janus" }[this.#connection.transport];
    this.#codecBadge.textContent = this.#codecUnplayable ? `${name} · cannot decode` : `${name} · ${transport}`;
    this.#codecBadge.classList.toggle("unplayable", this.#codecUnplayable !== undefined);
  }

  #onTransport(transport: MediaTransport): void {
    this.#wsSampler.reset();
    this.#stalled = 0;
    this.#updateCodecBadge();
    if (transport === "webrtc" || transport === "janus") {
      this.#wsMedia?.close();
      this.#wsMedia = undefined;
      this.video.hidden = false;
      this.canvas.hidden = true;
      // With Janus the picture comes from the SFU and the input goes over our socket.
      if (transport === "janus") {
        this.#input.attachSocket(this.#connection.socket);
        this.#updateInput();
      }
      return;
    }
    // No decoder for a codec this page cannot show (it would wait for keyframes it cannot use and
    // rejoin for them); a codec change rejoins, and the next transport message makes one.
    if (this.#codecUnplayable !== undefined) return;
    if (this.#wsMedia) this.#wsMedia.resync();
    else {
      this.#wsMedia = new WsMedia({
        video: this.video,
        canvas: this.canvas,
        sendBinary: (data) => this.#connection.sendBinary(data),
        requestKeyframe: () => this.#connection.requestKeyframe(),
        profileLevelId: () => this.#info?.profileLevelId,
        bitDepth: () => this.#info?.bitDepth ?? 8,
        onFirstFrame: () => {
          if (/^(signaling|ICE|DTLS|media|WebSocket)/.test(this.#stage)) this.#setStage("");
        },
        // The server did not answer our keyframe requests: a fresh join starts at a keyframe.
        onKeyframeTimeout: () => this.#connection.rejoin("no keyframe came"),
        fps: () => this.#info?.fps,
        onUnplayable: () => this.#setStage(this.#stage),
      });
      // The user already clicked: start the audio now.
      if (this.#audioUnlocked) void this.#wsMedia.audio.start().then(() => this.#unmute.remove(), () => {});
    }
    const onCanvas = this.#wsMedia.surface === "canvas";
    this.video.hidden = onCanvas;
    this.canvas.hidden = !onCanvas;
    if (onCanvas) this.video.srcObject = null;
    this.#input.attachSocket(this.#connection.socket);
    this.#updateInput();
  }

  /** What mouse and touch capture measure: the visible picture (the video, or the canvas). */
  #picture(): HTMLVideoElement {
    const canvas = this.canvas;
    const video = this.video;
    const ws = () => (this.#connection.transport === "websocket" && this.#wsMedia?.surface === "canvas" ? this.#wsMedia.counters : undefined);
    // Mouse and touch read only these three members of the element (geometry.ts).
    return {
      get videoWidth() {
        const counters = ws();
        return counters ? counters.width : video.videoWidth;
      },
      get videoHeight() {
        const counters = ws();
        return counters ? counters.height : video.videoHeight;
      },
      getBoundingClientRect: () => (ws() ? canvas : video).getBoundingClientRect(),
      // (On the WebSocket transport with a track generator, the <video> shows the frames itself.)
    } as unknown as HTMLVideoElement;
  }

  #onPeerConnection(pc: RTCPeerConnection | undefined): void {
    this.#input.detach();
    this.#sampler.reset();
    this.#stalled = 0;
    if (pc) {
      // A fresh stream per peer connection: the old tracks ended with it.
      this.#media = new MediaStream();
      this.video.srcObject = this.#media;
    } else if (this.#connection?.transport === "websocket") {
      this.#input.attachSocket(this.#connection.socket);
    }
    // With Janus the peer connection carries only the picture: input stays on the socket.
    if (this.#connection?.transport === "janus") this.#input.attachSocket(this.#connection.socket);
  }

  #onTrack(event: RTCTrackEvent): void {
    const receiver = event.receiver as RTCRtpReceiver & { playoutDelayHint?: number; jitterBufferTarget?: number | null };
    try {
      receiver.jitterBufferTarget = 0;
    } catch {
      // Older browsers: playoutDelayHint below is what they have.
    }
    receiver.playoutDelayHint = 0;
    for (const old of this.#media.getTracks().filter((t) => t.kind === event.track.kind)) this.#media.removeTrack(old);
    this.#media.addTrack(event.track);
    void this.video.play().catch(() => {});
  }

  /** Capture runs while this viewer may send input: not view-only, and the stream says so. */
  #updateInput(): void {
    const allowed = !this.#options.viewOnly && this.#role === "viewer" && this.#info?.input !== false;
    if (allowed && !this.#captures) this.#startCapture();
    if (!allowed && this.#captures) this.#releaseInput();
    this.#bar.dataset.viewOnly = allowed ? "" : "1";
    this.#mouseButton.hidden = !allowed;
  }

  #startCapture(): void {
    const send = (packet: InputPacket) => this.#send(packet);
    const abort = new AbortController();
    const picture = this.#picture();
    const mouse = new MouseCapture({ surface: this.element, video: picture, send, onModeChange: (mode) => this.setMouseMode(mode) });
    mouse.setMode(this.#mouseMode);
    this.#captures = {
      abort,
      mouse,
      keyboard: new KeyboardCapture({
        send,
        shortcuts: {
          KeyS: () => this.toggleStats(),
          KeyX: () => void this.toggleFullscreen(),
          KeyZ: () => this.setMouseMode(this.#mouseMode === "absolute" ? "relative" : "absolute"),
        },
      }),
      touch: new TouchCapture({
        surface: this.element,
        video: picture,
        send,
        capabilities: () => ({ touch: this.#info?.capabilities.touch ?? false, pen: this.#info?.capabilities.pen ?? false }),
      }),
      gamepads: new GamepadCapture({ send, maxControllers: () => this.#info?.capabilities.controllers ?? 0 }),
    };
    document.addEventListener(
      "paste",
      (event) => {
        const text = event.clipboardData?.getData("text/plain");
        if (!text) return;
        event.preventDefault();
        this.sendText(text);
      },
      { signal: abort.signal },
    );
  }

  #releaseInput(): void {
    const captures = this.#captures;
    if (!captures) return;
    this.#captures = undefined;
    captures.keyboard.close();
    captures.mouse.close();
    captures.touch.close();
    captures.gamepads.close();
    captures.abort.abort();
  }

  /** The server's rumble message: plays it on the pad of that controller slot. */
  handleRumble(controllerNumber: number, lowFrequency: number, highFrequency: number): void {
    this.#captures?.gamepads.rumble(controllerNumber, lowFrequency, highFrequency);
  }

  async #onFullscreenChange(): Promise<void> {
    const keyboard = (navigator as Navigator & { keyboard?: { lock?(codes?: string[]): Promise<void>; unlock?(): void } }).keyboard;
    if (document.fullscreenElement === this.element) {
      // Keyboard Lock (Chromium): Esc, Alt+Tab, Ctrl+W … go to the host; holding Esc leaves.
      await keyboard?.lock?.().catch(() => {});
    } else {
      keyboard?.unlock?.();
    }
  }

  async #sampleStats(): Promise<void> {
    if (this.#connection.transport === "websocket" && this.#wsMedia) {
      this.#sampleWsStats(this.#wsMedia);
      return;
    }
    const pc = this.#connection.peerConnection;
    if (!pc) return;
    let stats: PlayerStats;
    try {
      stats = await this.#sampler.sample(pc);
    } catch {
      return;
    }
    // The same WebRTC statistics, from the SFU's connection.
    if (this.#connection.transport === "janus") stats.transport = "Janus";
    const previous = this.#lastStats;
    this.#lastStats = stats;
    // Frames decode: the connecting stages are over.
    if (stats.framesDecoded > 0 && /^(signaling|ICE|DTLS|media|Janus)/.test(this.#stage)) this.#setStage("");
    if (stats.framesDecoded > 0) this.#connection.markHealthy();
    // Connected but no new frame for a while: the decoder waits for a reference it never got.
    // (Not when this browser cannot decode the codec at all: a keyframe would not help, and every
    // request costs the host — and every other viewer — a keyframe.)
    if (pc.connectionState === "connected" && previous && stats.framesDecoded === previous.framesDecoded && !this.#codecUnplayable) {
      if (++this.#stalled % STALL_SAMPLES === 0) this.#connection.requestKeyframe();
    } else {
      this.#stalled = 0;
    }
    const status = this.#status && this.#status !== "live" ? ` (streamer ${this.#status})` : "";
    const role = this.#captures ? "input on" : "view only";
    this.#statsBox.textContent = formatStats(stats, `${pc.connectionState}${status}, ${role}`);
  }

  #sampleWsStats(media: WsMedia): void {
    const stats = this.#wsSampler.sample(media.counters);
    const previous = this.#lastStats?.transport === "WebSocket" ? this.#lastStats : undefined;
    this.#lastStats = stats;
    if (stats.framesDecoded > 0) this.#connection.markHealthy();
    // Media flows but nothing decodes for a while: ask for a keyframe (the server coalesces).
    if (previous && stats.framesDecoded === previous.framesDecoded && media.counters.framesReceived > 0 && !this.#codecUnplayable) {
      if (++this.#stalled % STALL_SAMPLES === 0) this.#connection.requestKeyframe();
    } else {
      this.#stalled = 0;
    }
    const status = this.#status && this.#status !== "live" ? ` (streamer ${this.#status})` : "";
    const role = this.#captures ? "input on" : "view only";
    const audio = media.audio.playing ? "audio on" : "audio muted";
    this.#statsBox.textContent = formatStats(stats, `WebSocket${status}, ${role}, ${audio}`);
  }
}
