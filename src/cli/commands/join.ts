/**
 * `mlstream join <streamer-id|viewer-url>`: a WebRTC viewer in the terminal, for diagnosis. Shows
 * a live status line, can record the video (Annex-B) and audio (Ogg/Opus), send a key or text to
 * test the input path, and prints one JSON summary with --json. A join that does not reach a first
 * frame exits 1 naming the stage that failed (signaling, ice, dtls, media, keyframe).
 */
import { isLoopbackHost } from "../../core/config.ts";
import { UsageError } from "../../core/errors.ts";
import { KeyModifier, type InputPacket } from "../../moonlight/input/input.ts";
import { formatStatusLine, JoinError, shutdownWebRtc, TerminalViewer, type JoinMilestones, type JoinSummary } from "../../peer/terminal-viewer.ts";
import { parseJoinTarget } from "../api-client.ts";
import type { Register } from "../command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.ts";
import { printJson } from "../output.ts";
import { Progress } from "../progress.ts";
import { apiClient, SERVER_OPTION } from "./streamers.ts";

const MILESTONE_TEXT: Record<keyof JoinMilestones, string> = {
  ws_open: "signaling: waiting for hello",
  hello: "signaling: waiting for the offer",
  offer: "signaling: answering the offer",
  answer: "ICE: checking connectivity",
  ice_connected: "DTLS: handshake",
  dtls_connected: "media: waiting for video",
  first_rtp: "keyframe: waiting for a decodable frame",
  first_frame: "playing",
  input_ready: "input channel open",
};

/** Windows virtual-key codes (what GameStream hosts take) for the names `--key` accepts. */
const NAMED_KEYS: Record<string, number> = {
  backspace: 0x08, tab: 0x09, enter: 0x0d, return: 0x0d, escape: 0x1b, esc: 0x1b, space: 0x20,
  pageup: 0x21, pagedown: 0x22, end: 0x23, home: 0x24, left: 0x25, up: 0x26, right: 0x27, down: 0x28,
  insert: 0x2d, delete: 0x2e, del: 0x2e,
};
const MODIFIER_KEYS: Record<string, { vk: number; flag: number }> = {
  shift: { vk: 0x10, flag: KeyModifier.shift },
  ctrl: { vk: 0x11, flag: KeyModifier.ctrl },
  control: { vk: 0x11, flag: KeyModifier.ctrl },
  alt: { vk: 0x12, flag: KeyModifier.alt },
  meta: { vk: 0x5b, flag: KeyModifier.meta },
  win: { vk: 0x5b, flag: KeyModifier.meta },
};

/**
 * `A`, `enter`, `F5`, `ctrl+alt+delete`, `0x41` or `65` → the key presses to send (modifiers down,
 * key down, key up, modifiers up).
 */
export function keyPresses(spec: string): InputPacket[] {
  const parts = spec.split("+").map((p) => p.trim()).filter((p) => p.length > 0);
  const keyName = parts.pop();
  if (keyName === undefined) throw new UsageError(`--key '${spec}': no key`);
  const modifiers = parts.map((p) => {
    const m = MODIFIER_KEYS[p.toLowerCase()];
    if (!m) throw new UsageError(`--key '${spec}': unknown modifier '${p}' (shift, ctrl, alt, meta)`);
    return m;
  });
  const lower = keyName.toLowerCase();
  let vk: number | undefined;
  if (/^0x[0-9a-f]{1,2}$/i.test(keyName) || /^\d{2,3}$/.test(keyName)) vk = Number(keyName);
  else if (/^[a-z0-9]$/i.test(keyName)) vk = keyName.toUpperCase().charCodeAt(0);
  else if (/^f([1-9]|1\d|2[0-4])$/.test(lower)) vk = 0x6f + Number(lower.slice(1));
  else vk = NAMED_KEYS[lower] ?? MODIFIER_KEYS[lower]?.vk;
  if (vk === undefined || vk <= 0 || vk > 0xfe) throw new UsageError(`--key '${spec}': unknown key (a letter, digit, F1–F24, enter, escape, tab, space, arrows, home/end, pageup/pagedown, insert/delete, or a virtual-key code like 0x41)`);
  const flags = modifiers.reduce((f, m) => f | m.flag, 0);
  const key = (action: "down" | "up", keyCode: number, mods: number): InputPacket => ({ kind: "keyboard", action, keyCode, modifiers: mods, flags: 0 });
  return [
    ...modifiers.map((m) => key("down", m.vk, flags)),
    key("down", vk, flags),
    key("up", vk, flags),
    ...modifiers.reverse().map((m) => key("up", m.vk, 0)),
  ];
}

interface JoinOptions {
  server?: string;
  record?: string;
  recordAudio?: string;
  duration?: string | number;
  timeout?: string | number;
  key?: string | number | (string | number)[];
  hold?: string | number;
  type?: string | number;
  viewOnly?: boolean;
  bind?: string;
  transport?: string;
}

function seconds(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a number of seconds > 0`);
  return n;
}

function summaryLine(s: JoinSummary): string {
  return [
    `frames ${s.frames} (key ${s.keyframes})`,
    `${s.fps} fps`,
    `${s.mbps} Mbps`,
    `first frame ${s.first_frame_ms ?? "-"} ms`,
    `lost ${s.packets_lost}`,
    `jitter ${s.jitter_ms} ms`,
    `rtt ${s.rtt_ms ?? "-"} ms`,
    `audio ${s.audio_packets}`,
    ...(s.input_sent ? [`input sent ${s.input_sent}`] : []),
  ].join(" · ");
}

export const registerJoin: Register = (cli, bind) => {
  cli
    .command("join <target>", "Watch a streamer in the terminal (WebRTC): live stats, recording, input test; names the stage that fails")
    .option("--record <file>", "Write the video (Annex-B .h264/.h265, AV1 as an OBU stream .obu; from the first keyframe)")
    .option("--record-audio <file>", "Write the audio as Ogg/Opus (.ogg)")
    .option("--duration <s>", "Leave this many seconds after the first frame (default: until Ctrl-C)")
    .option("--timeout <s>", "Give up when no frame arrived within this many seconds (default 15)")
    .option("--key <key>", "Press a key once connected: A, enter, F5, ctrl+c, 0x41 (repeatable)")
    .option("--hold <key>", "Press a key once connected and hold it until leaving (e.g. to try what a frozen viewer leaves behind)")
    .option("--type <text>", "Type this text once connected")
    .option("--view-only", "Join without input")
    .option("--transport <t>", "webrtc (default) or websocket (media over the signaling socket, docs/ws-media.md)")
    .option("--bind <address>", "Local address for ICE (default: 127.0.0.1 when the server is on loopback, else every interface)")
    .option(...SERVER_OPTION)
    .example("mlstream join demo --duration 5 --json")
    .example("mlstream join http://127.0.0.1:8080/view/demo --record out.h264")
    .action(
      bind(async (ctx, target: string, options: JoinOptions) => {
        const durationS = seconds(options.duration, "--duration");
        const timeoutS = seconds(options.timeout, "--timeout") ?? 15;
        const keys = options.key === undefined ? [] : [options.key].flat().map(String);
        const presses = keys.flatMap(keyPresses);
        // --hold: the downs now, the ups when leaving.
        const held = options.hold === undefined ? [] : keyPresses(String(options.hold));
        const holdUps = held.splice(held.findIndex((p) => p.kind === "keyboard" && p.action === "up"));
        presses.push(...held);
        const text = options.type === undefined ? undefined : String(options.type);
        const transport = options.transport === undefined ? "webrtc" : String(options.transport);
        if (transport !== "webrtc" && transport !== "websocket") throw new UsageError("--transport must be webrtc or websocket");
        if (options.viewOnly && (presses.length > 0 || text !== undefined)) throw new UsageError("--view-only cannot send --key, --hold or --type");
        let parsed: ReturnType<typeof parseJoinTarget>;
        try {
          parsed = parseJoinTarget(String(target));
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        const client = apiClient(ctx, options.server ?? parsed.server);
        // A server on this machine: keep ICE on loopback too (the default gathers every interface).
        const bindAddress = options.bind !== undefined ? String(options.bind) : isLoopbackHost(new URL(client.server).hostname) ? "127.0.0.1" : undefined;
        const headers = parsed.token ? { authorization: `Bearer ${parsed.token}` } : client.authHeaders;
        const viewer = new TerminalViewer({
          url: client.peerSocketUrl(parsed.streamerId, { viewOnly: options.viewOnly === true }),
          headers,
          timeoutMs: timeoutS * 1000,
          transport,
          ...(options.record ? { recordVideo: String(options.record) } : {}),
          ...(options.recordAudio ? { recordAudio: String(options.recordAudio) } : {}),
          ...(bindAddress ? { bindAddress } : {}),
        });
        const tty = process.stderr.isTTY === true && !ctx.json;
        const progress = new Progress({ quiet: ctx.json });
        progress.update(`signaling: connecting to ${client.server} (streamer ${parsed.streamerId})`);
        let playing = false;
        viewer.on("milestone", (name) => {
          if (name === "first_frame") playing = true;
          if (!playing && name !== "input_ready") progress.update(MILESTONE_TEXT[name]);
        });
        let lastStatus = "";
        viewer.on("status", (status, detail) => {
          const line = `streamer ${status}${detail ? `: ${detail}` : ""}`;
          if (status !== "live" && line !== lastStatus) {
            if (playing && tty) process.stderr.write("\r\x1b[2K");
            if (playing && !ctx.json) process.stderr.write(`${line}\n`);
            else progress.note(line);
          }
          lastStatus = line;
        });

        let interrupted = false;
        let wake: () => void = () => {};
        const onSignal = () => {
          interrupted = true;
          wake();
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        try {
          try {
            await viewer.connect();
          } catch (error) {
            progress.stop();
            if (!(error instanceof JoinError)) throw error;
            if (ctx.json) printJson(viewer.summary(parsed.streamerId));
            process.stderr.write(`mlstream: join ${parsed.streamerId} failed at stage '${error.stage}': ${error.message.slice(error.stage.length + 2)}\n`);
            return EXIT_FAILURE;
          }
          const first = viewer.stats();
          progress.done(`first frame after ${first.first_frame_ms} ms${first.stream ? ` (${first.stream.width}x${first.stream.height} ${first.stream.codec})` : ""}${transport === "websocket" ? " over the WebSocket" : ""}`);

          let inputProblem: string | undefined;
          if (presses.length > 0 || text !== undefined) {
            const until = Date.now() + 5000;
            while (!viewer.inputReady && Date.now() < until && !viewer.ended) await Bun.sleep(20);
            if (!viewer.inputReady) inputProblem = "the input channel did not open within 5 s";
            else {
              for (const packet of presses) if (!viewer.sendInput(packet)) inputProblem = "the input channel refused a key";
              if (text !== undefined && !viewer.sendInput({ kind: "utf8Text", text })) inputProblem = "the input channel refused the text";
            }
          }

          // The duration is measured from the first frame (connect() resolves there).
          const endAt = durationS !== undefined ? performance.now() + durationS * 1000 : Infinity;
          let lastLine = 0;
          viewer.on("end", () => wake());
          while (!interrupted && !viewer.ended && performance.now() < endAt) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, Math.min(250, Math.max(0, endAt - performance.now())));
            });
            const now = performance.now();
            if (tty) process.stderr.write(`\r\x1b[2K${formatStatusLine(viewer.stats())}`);
            else if (!ctx.json && now - lastLine >= 5000) {
              lastLine = now;
              process.stderr.write(`${formatStatusLine(viewer.stats())}\n`);
            }
          }
          if (tty) process.stderr.write("\r\x1b[2K");
          const ended = viewer.ended;
          for (const packet of holdUps) viewer.sendInput(packet);
          const summary = viewer.summary(parsed.streamerId);
          viewer.close();
          if (ctx.json) printJson(summary);
          else process.stdout.write(`${summaryLine(summary)}\n`);
          if (ended && !interrupted) {
            process.stderr.write(`mlstream: the session ended: ${ended}\n`);
            return EXIT_FAILURE;
          }
          if (inputProblem) {
            process.stderr.write(`mlstream: input: ${inputProblem}\n`);
            return EXIT_FAILURE;
          }
          return summary.frames > 0 ? EXIT_OK : EXIT_FAILURE;
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          viewer.close();
          progress.stop();
          shutdownWebRtc();
        }
      }),
    );
};
