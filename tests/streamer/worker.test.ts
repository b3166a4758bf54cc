/**
 * The streamer child process survives garbage on its IPC channel (the system we replace lost its
 * streamers to one stray line), stops when told, and leaves when its server goes away.
 */
import { describe, expect, test } from "bun:test";
import { isFromStreamer, isToStreamer } from "../../src/streamer/ipc.ts";
import { cleanEnv, cliCommand, REPO_ROOT } from "../support/cli.ts";

describe("IPC message validation", () => {
  test("well-formed messages pass, malformed ones are recognised", () => {
    expect(isToStreamer({ t: "stop", quitApp: false })).toBe(true);
    expect(isToStreamer({ t: "signal", peerId: "p", message: { type: "answer", sdp: "v=0" } })).toBe(true);
    expect(isToStreamer({ t: "input", peerId: "p", packet: new Uint8Array(4) })).toBe(true);
    for (const bad of [null, "stop", 42, {}, { t: "explode" }, { t: "signal", peerId: 1 }, { t: "input", peerId: "p", packet: "x" }]) expect(isToStreamer(bad)).toBe(false);
    expect(isFromStreamer({ t: "viewerLeft", peerId: "p", reason: "x" })).toBe(true);
    expect(isFromStreamer({ t: "video", data: "nope" })).toBe(false);
  });
});

describe("streamer child process", () => {
  test("garbage on IPC is logged and ignored; a stop is still obeyed, with a clean exit", async () => {
    const received: unknown[] = [];
    const child = Bun.spawn({
      cmd: cliCommand(["__streamer"]),
      cwd: REPO_ROOT,
      env: cleanEnv(),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      serialization: "advanced",
      ipc: (message) => received.push(message),
    });
    child.send("a stray line of text");
    child.send({ t: "no-such-message" });
    child.send({ t: "signal", peerId: 7 });
    child.send(12345);
    await Bun.sleep(300);
    child.send({ t: "stop", quitApp: false });
    const code = await Promise.race([child.exited, Bun.sleep(10_000).then(() => "hung")]);
    expect(code).toBe(0);
    expect(received).toContainEqual({ t: "stopped", reason: "stopped by the server" });
    const stderr = await new Response(child.stderr).text();
    expect(stderr).toContain("ignoring a malformed IPC message");
  });

  test("run by hand (no IPC channel), it refuses with a usage error", async () => {
    const child = Bun.spawn({ cmd: cliCommand(["__streamer"]), cwd: REPO_ROOT, env: cleanEnv(), stdout: "ignore", stderr: "pipe" });
    expect(await child.exited).toBe(2);
  });
});
