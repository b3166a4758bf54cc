/**
 * The streamer child process (`mlstream __streamer`, started by `serve`): runs one Streamer and
 * talks to the server over Bun IPC. It exits when told to stop, when its streamer fails for good
 * (exit code 3: the supervisor does not restart it), and when the server goes away (no orphans).
 */
import { logger, setLogLevel, LOG_LEVELS, type LogLevelName } from "../core/log.ts";
import { InputPacketFormatError, parseInputPacket } from "../moonlight/input/input.ts";
import { NvHttpClient } from "../moonlight/http/nvhttp.ts";
import { MoonlightWebInput } from "../compat/moonlight-web/input-channels.ts";
import { MoonlightSession } from "../moonlight/session.ts";
import { isToStreamer, type FromStreamer, type StreamerInit, type ToStreamer } from "./ipc.ts";
import { selfCommand } from "../core/self-command.ts";
import { FanoutShards } from "./fanout-shards.ts";
import { Streamer } from "./streamer.ts";

const log = logger("worker");

export const EXIT_PERMANENT_FAILURE = 3;
const SNAPSHOT_INTERVAL_MS = 1000;
/** A stop that has not finished by then (a host that does not answer /cancel) ends the process anyway. */
const STOP_DEADLINE_MS = 8000;

export async function runStreamerWorker(): Promise<number> {
  if (typeof process.send !== "function") {
    log.error("__streamer is started by 'mlstream serve', not by hand");
    return 2;
  }
  const send = (message: FromStreamer) => {
    try {
      process.send!(message);
    } catch {
      // the server is gone; the disconnect handler ends us
    }
  };
  let streamer: Streamer | undefined;
  const viewers = new Map<string, ReturnType<Streamer["addViewer"]>>();
  const external = new Map<string, ReturnType<Streamer["addExternalViewer"]>>();
  let malformedInput = 0;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let snapshotTimer: ReturnType<typeof setInterval> | undefined;

  let stopping = false;
  const stop = async (quitApp: boolean, reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    if (snapshotTimer) clearInterval(snapshotTimer);
    const deadline = setTimeout(() => finish(code), STOP_DEADLINE_MS);
    await streamer?.stop({ quitApp, reason }).catch(() => undefined);
    clearTimeout(deadline);
    send({ t: "stopped", reason });
    finish(code);
  };

  /**
   * Set while the fan-out processes start (streamer.fanout_processes): messages that come
   * meanwhile (a viewer joining) wait for the streamer, in their order.
   */
  let starting: Promise<void> | undefined;
  let waitingMessages = 0;

  const start = (init: StreamerInit) => {
    if (streamer || starting) return;
    if ((LOG_LEVELS as readonly string[]).includes(init.logLevel)) setLogLevel(init.logLevel as LogLevelName);
    if (!init.fanoutProcesses) return run(init);
    starting = FanoutShards.start({ processes: init.fanoutProcesses, command: selfCommand(["__fanout-shard"]) }).then(
      (shards) => {
        log.info(`${init.id}: ${shards.processes} fan-out process(es) for its WebRTC viewers`);
        if (stopping) void shards.close();
        else run(init, shards);
      },
      (error: Error) => {
        log.error(`${init.id}: fan-out processes: ${error.message}`);
        void stop(false, `failed: fan-out processes: ${error.message}`, EXIT_PERMANENT_FAILURE);
      },
    ).then(() => {
      if (waitingMessages === 0) starting = undefined;
    });
  };

  const run = (init: StreamerInit, fanoutShards?: FanoutShards) => {
    const client = new NvHttpClient({
      address: init.host.address,
      httpPort: init.host.httpPort,
      identity: init.identity,
      serverCertPem: init.serverCertPem,
    });
    const current = new Streamer({
      id: init.id,
      idleTimeoutMs: init.idleTimeoutMs,
      ice: init.ice,
      ...(init.janusUrl ? { janusUrl: init.janusUrl } : {}),
      // A Helix browser's own input channels (docs/helix.md §1.2) on any WebRTC viewer.
      viewerChannels: () => new MoonlightWebInput(),
      ...(init.viewerKeyframeIntervalMs !== undefined ? { viewerKeyframeIntervalMs: init.viewerKeyframeIntervalMs } : {}),
      ...(fanoutShards ? { fanoutShards } : {}),
      createSession: () =>
        new MoonlightSession({ client, appId: init.appId, settings: init.settings, ...(init.mediaReceive ? { mediaReceiveMode: init.mediaReceive } : {}) }),
    });
    streamer = current;
    current.on("status", (status, detail) => {
      send({ t: "status", status, ...(detail ? { detail } : {}) });
      send({ t: "snapshot", snapshot: current.snapshot() });
    });
    current.on("viewerLeft", (peerId, reason) => {
      viewers.delete(peerId);
      if (external.delete(peerId)) return; // the server closed it: nothing to report back
      send({ t: "viewerLeft", peerId, reason });
    });
    current.on("viewerOpen", (peerId) => send({ t: "viewerOpen", peerId }));
    // The viewer list shows who is stale: tell the server now rather than at the next snapshot.
    current.on("viewerStale", () => send({ t: "snapshot", snapshot: current.snapshot() }));
    current.on("streamChanged", () => send({ t: "snapshot", snapshot: current.snapshot() }));
    current.on("stopped", (reason) => {
      // The idle policy (or a stop from elsewhere) ended the streamer: the process ends with it.
      void stop(false, reason);
    });
    snapshotTimer = setInterval(() => send({ t: "snapshot", snapshot: current.snapshot() }), SNAPSHOT_INTERVAL_MS);
    current.start().catch((error: Error) => {
      log.error(`${init.id}: ${error.message}`);
      void stop(false, `failed: ${error.message}`, EXIT_PERMANENT_FAILURE);
    });
  };

  const handle = (message: ToStreamer) => {
    switch (message.t) {
      case "init":
        return start(message.init);
      case "addViewer": {
        if (!streamer) return;
        const peerId = message.peerId;
        viewers.set(
          peerId,
          streamer.addViewer({
            id: peerId,
            viewOnly: message.viewOnly,
            ...(message.iceServers ? { iceServers: message.iceServers } : {}),
            signal: (m) => send({ t: "signal", peerId, message: m }),
          }),
        );
        return;
      }
      case "signal":
        return viewers.get(message.peerId)?.handleSignal(message.message);
      case "removeViewer":
        viewers.get(message.peerId)?.close(message.reason);
        external.get(message.peerId)?.close(message.reason);
        return;
      case "addExternalViewer":
        if (streamer) {
          const peerId = message.peerId;
          external.set(peerId, streamer.addExternalViewer({ id: peerId, viewOnly: message.viewOnly, signal: (m) => send({ t: "signal", peerId, message: m }) }));
        }
        return;
      case "input": {
        const viewer = external.get(message.peerId);
        if (!viewer) return;
        try {
          viewer.input(parseInputPacket(message.packet));
        } catch (error) {
          if (!(error instanceof InputPacketFormatError)) throw error;
          malformedInput++;
        }
        return;
      }
      case "heartbeat":
        return external.get(message.peerId)?.heartbeat();
      case "mediaTap":
        streamer?.setMediaTap(
          message.enabled
            ? {
                video: (frame, codec) =>
                  send({ t: "video", data: frame.data, keyframe: frame.isIdr, codec, frameNumber: frame.frameNumber, captureTimeMs: performance.timeOrigin + frame.arrivalUs / 1000 }),
                audio: (packet, channels) => {
                  if (packet.data) send({ t: "audio", data: packet.data, sequence: packet.sequenceNumber, timestampMs: packet.timestamp, channels });
                },
              }
            : undefined,
        );
        return;
      case "requestKeyframe":
        return streamer?.requestKeyframe(message.waiting, message.peerId !== undefined ? { id: message.peerId, need: message.need ?? "loss" } : undefined);
      case "stop":
        return void stop(message.quitApp, "stopped by the server");
    }
  };

  process.on("message", (message: unknown) => {
    if (!isToStreamer(message)) {
      log.warn(`ignoring a malformed IPC message: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    const dispatch = () => {
      try {
        handle(message);
      } catch (error) {
        log.error(`IPC ${message.t}: ${(error as Error).message}`);
      }
    };
    if (!starting) return dispatch();
    waitingMessages++;
    starting = starting.then(() => {
      dispatch();
      if (--waitingMessages === 0) starting = undefined;
    });
  });
  // The server died or closed the channel: stop rather than linger as an orphan.
  process.on("disconnect", () => void stop(false, "server went away"));
  // Belt and braces: the IPC channel's disconnect is not always reported when the server is
  // SIGKILLed, so also watch whether the parent process still exists.
  const parent = process.ppid;
  const orphanCheck = setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      void stop(false, "server went away");
    }
  }, 1000);
  process.once("SIGTERM", () => void stop(false, "SIGTERM"));
  process.once("SIGINT", () => void stop(false, "SIGINT"));

  const code = await finished;
  clearInterval(orphanCheck);
  return code;
}
