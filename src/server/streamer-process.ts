/**
 * One streamer's child process, seen from the server: spawns `mlstream __streamer`, hands it its
 * init over IPC, relays signaling, caches the status snapshots it pushes, and restarts it with
 * backoff when it crashes (not when it was told to stop, and not after a permanent failure).
 */
import type { Subprocess } from "bun";
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import { selfCommand } from "../core/self-command.ts";
import type { ServerSignal, StreamerStatus, ViewerSignal } from "../peer/signaling.ts";
import { Backoff } from "../streamer/backoff.ts";
import { isFromStreamer, type FromStreamer, type StreamerInit, type ToStreamer } from "../streamer/ipc.ts";
import type { StreamerSnapshot } from "../streamer/streamer.ts";
import { EXIT_PERMANENT_FAILURE } from "../streamer/worker.ts";

const log = logger("supervisor");

export interface StreamerProcessEvents {
  signal: [peerId: string, message: ServerSignal];
  viewerLeft: [peerId: string, reason: string];
  viewerOpen: [peerId: string];
  /** Raw media for WebSocket viewers (only while the tap is on). */
  video: [message: Extract<FromStreamer, { t: "video" }>];
  audio: [message: Extract<FromStreamer, { t: "audio" }>];
  status: [status: StreamerStatus, detail?: string];
  /** The stream's description changed (size, codec, profile): viewers the server feeds need it. */
  streamChanged: [];
  /** A new child is up after a crash: viewers must be added to it again. */
  restarted: [];
  /** The streamer is over for good (stopped, idle, or failed permanently). */
  ended: [reason: string, failed: boolean];
}

export class StreamerProcess extends EventEmitter<StreamerProcessEvents> {
  readonly id: string;
  readonly #init: () => StreamerInit;
  readonly #backoff: Backoff;
  #child: Subprocess | undefined;
  #status: StreamerStatus = "starting";
  #detail: string | undefined;
  #snapshot: StreamerSnapshot | undefined;
  #stopping: Promise<void> | undefined;
  #ended = false;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  restarts = 0;
  malformedMessages = 0;
  #mediaTap = false;

  /** `init` is called for every (re)start, so a restart picks up current keys and settings. */
  constructor(id: string, init: () => StreamerInit, options: { backoff?: Backoff } = {}) {
    super();
    this.id = id;
    this.#init = init;
    this.#backoff = options.backoff ?? new Backoff({ initialMs: 500, maxMs: 30_000 });
  }

  get status(): StreamerStatus {
    return this.#status;
  }

  get detail(): string | undefined {
    return this.#detail;
  }

  get snapshot(): StreamerSnapshot | undefined {
    return this.#snapshot;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get ended(): boolean {
    return this.#ended;
  }

  start(): void {
    if (this.#child || this.#ended) return;
    let init: StreamerInit;
    try {
      init = this.#init();
    } catch (error) {
      // The host was removed or unpaired since the streamer was made: nothing to restart.
      this.#setStatus("failed", (error as Error).message);
      return this.#end((error as Error).message, true);
    }
    const child: Subprocess = Bun.spawn({
      cmd: selfCommand(["__streamer"]),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "inherit",
      serialization: "advanced",
      ipc: (message) => this.#onMessage(message),
      onExit: (_proc, code, signal): void => this.#onExit(child, code, signal),
    });
    this.#child = child;
    this.#send({ t: "init", init });
    if (this.#mediaTap) this.#send({ t: "mediaTap", enabled: true });
    log.debug(`${this.id}: child ${child.pid} started`);
  }

  addViewer(peerId: string, viewOnly: boolean, iceServers?: string[]): void {
    this.#send({ t: "addViewer", peerId, viewOnly, ...(iceServers ? { iceServers } : {}) });
  }

  signal(peerId: string, message: ViewerSignal): void {
    this.#send({ t: "signal", peerId, message });
  }

  removeViewer(peerId: string, reason: string): void {
    this.#send({ t: "removeViewer", peerId, reason });
  }

  addExternalViewer(peerId: string, viewOnly: boolean): void {
    this.#send({ t: "addExternalViewer", peerId, viewOnly });
  }

  input(peerId: string, packet: Uint8Array): void {
    this.#send({ t: "input", peerId, packet });
  }

  heartbeat(peerId: string): void {
    this.#send({ t: "heartbeat", peerId });
  }

  setMediaTap(enabled: boolean): void {
    this.#mediaTap = enabled;
    this.#send({ t: "mediaTap", enabled });
  }

  /** Asks for a keyframe; for WebSocket viewer `peerId`'s own need when given. */
  requestKeyframe(waiting: boolean, viewer?: { peerId: string; need: "join" | "loss" }): void {
    this.#send({ t: "requestKeyframe", waiting, ...viewer });
  }

  /** Stops the child (graceful, then SIGKILL after `graceMs`); no restart follows. Idempotent. */
  stop(options: { quitApp?: boolean; graceMs?: number } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#restartTimer) clearTimeout(this.#restartTimer);
      const child = this.#child;
      if (child) {
        this.#send({ t: "stop", quitApp: options.quitApp ?? false });
        // A timer cleared on exit, not Bun.sleep: a pending sleep would hold `serve` open for the
        // whole grace period after the child is long gone.
        let grace: ReturnType<typeof setTimeout> | undefined;
        const exited = await Promise.race([
          child.exited.then(() => true),
          new Promise<boolean>((resolve) => (grace = setTimeout(() => resolve(false), options.graceMs ?? 10_000))),
        ]);
        clearTimeout(grace);
        if (!exited) {
          log.warn(`${this.id}: child did not stop in time; killing it`);
          child.kill("SIGKILL");
          await child.exited;
        }
      }
      this.#end("stopped", false);
    })();
    return this.#stopping;
  }

  /** For tests and operators: what a crash looks like. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.#child?.kill(signal);
  }

  #send(message: ToStreamer): void {
    try {
      this.#child?.send(message);
    } catch (error) {
      log.debug(`${this.id}: IPC send failed: ${(error as Error).message}`);
    }
  }

  #onMessage(message: unknown): void {
    if (!isFromStreamer(message)) {
      this.malformedMessages++;
      log.warn(`${this.id}: ignoring a malformed IPC message`);
      return;
    }
    this.#handle(message);
  }

  #handle(message: FromStreamer): void {
    switch (message.t) {
      case "status":
        this.#setStatus(message.status, message.detail);
        if (message.status === "live") this.#backoff.reset();
        return;
      case "snapshot": {
        const before = JSON.stringify(this.#snapshot?.stream ?? null);
        this.#snapshot = message.snapshot;
        if (JSON.stringify(message.snapshot.stream ?? null) !== before) this.emit("streamChanged");
        return;
      }
      case "signal":
        this.emit("signal", message.peerId, message.message);
        return;
      case "viewerLeft":
        this.emit("viewerLeft", message.peerId, message.reason);
        return;
      case "viewerOpen":
        this.emit("viewerOpen", message.peerId);
        return;
      case "video":
        this.emit("video", message);
        return;
      case "audio":
        this.emit("audio", message);
        return;
      case "stopped":
        this.#detail = message.reason;
        return;
    }
  }

  #onExit(child: Subprocess, code: number | null, signal: number | string | null): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    if (this.#stopping || this.#ended) return;
    if (code === 0) return this.#end(this.#detail ?? "stopped", false);
    if (code === EXIT_PERMANENT_FAILURE) {
      // The child's reason reads "failed: why"; the status already says failed.
      this.#setStatus("failed", this.#detail?.replace(/^failed: /, ""));
      return this.#end(this.#detail ?? "failed", true);
    }
    const delay = this.#backoff.next();
    log.warn(`${this.id}: child exited (${signal !== null ? `signal ${signal}` : `code ${code}`}); restarting in ${delay} ms`);
    this.#setStatus("reconnecting", "streamer process crashed");
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping || this.#ended) return;
      this.restarts++;
      this.start();
      this.emit("restarted");
    }, delay);
  }

  #setStatus(status: StreamerStatus, detail?: string): void {
    this.#status = status;
    this.#detail = detail;
    if (this.#snapshot) this.#snapshot = { ...this.#snapshot, status };
    this.emit("status", status, detail);
  }

  #end(reason: string, failed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!failed) this.#setStatus("stopped", reason);
    this.emit("ended", reason, failed);
  }
}
