/** close() leaves nothing behind: a child process that streamed from the sim exits on its own. */
import { describe, expect, test } from "bun:test";
import { ffmpegAvailable } from "../../src/sim-host/media-source.ts";

async function runChild(args: string[]): Promise<{ exitCode: number | null; stdout: string; timedOut: boolean }> {
  const child = Bun.spawn([process.execPath, new URL("./close-script.ts", import.meta.url).pathname, ...args], { stdout: "pipe", stderr: "inherit" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, 20_000);
  const exitCode = await child.exited;
  clearTimeout(timer);
  return { exitCode, stdout: await new Response(child.stdout).text(), timedOut };
}

describe("SimHost close()", () => {
  test("after a full streaming session, close() leaves no open handles: the process exits by itself", async () => {
    const result = await runChild([]);
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/streamed [1-9]\d*/);
  });

  test.skipIf(!ffmpegAvailable())("the same holds with the live ffmpeg pattern (the encoder process is ended too)", async () => {
    const result = await runChild(["--live"]);
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
  });
});
